"""The super-resolution stages' parameters and model files: a misspelt key in ``tasks/superres/params.yaml``
stops a stage before any work with the file, line, section, key and the closest valid name; a damaged model file
is named; loaders build networks from plain config values only."""
import pytest

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, run_with_params

TINY_UNET = {"block_out_channels": [16, 32], "layers_per_block": 1, "attention_levels": [False, True],
             "norm_num_groups": 8, "attention_head_dim": 8}


@pytest.mark.parametrize("old, new, args, where, hint", [
    ("comparison_images: [0, 1], comparison_crop: 32}", "comparison_images: [0, 1], comparison_corp: 32}",
     ["tasks.superres.evaluate"], "`tiny.evaluate.comparison_corp`", "did you mean `comparison_crop`?"),
    ("    one_step: {config: *train_tiny, variants: *one_step_variants}",
     "    one_step: {config: *train_tiny, variant: *one_step_variants}", ["tasks.superres.train", "one_step"],
     "`tiny.train.one_step.variant`", "did you mean `variants`?"),
    ("texture_frac: 0.3}", "texture_fraction: 0.3}", ["tasks.superres.prepare"], "`tiny.prepare.texture_fraction`",
     "did you mean `texture_frac`?"),
    # a variant's key: refused before any variant trains
    ("{edge_weight: 0.0}", "{edge_weigth: 0.0}", ["tasks.superres.train", "one_step"],
     "`tiny.train.one_step.variants.dists_only.model.init_args.edge_weigth`", "did you mean `edge_weight`?"),
])
def test_misspelt_key_is_refused_with_file_section_key_and_suggestion(tiny_repo, old, new, args, where, hint):
    assert_misspelt_key_refused(tiny_repo, "superres", old, new, args, where, hint)


def test_variants_must_include_the_deployed_model(tiny_repo):
    out = run_with_params(tiny_repo, "superres", "  d3sr: {}\n", "  d3_sr: {}\n", "tasks.superres.train", "one_step")
    assert out.returncode == 2 and "must include 'd3sr'" in out.stderr, out.stderr


def test_truncated_or_empty_model_file_is_named(tmp_path):
    from common.modelfile import ModelFileError
    from tasks.superres import models as M
    from tasks.superres.module import load_features, load_unet, save_sr_model

    net = M.FeatureNet([4, 8], 3)
    good = tmp_path / "model.pt"
    save_sr_model(good, "features", net.state_dict(), {"channels": [4, 8], "n_classes": 3, "sources": ["a"]})
    assert load_features(good).stage_channels == net.stage_channels
    assert_damaged_model_files_named(load_features, good, tmp_path)
    with pytest.raises(ModelFileError, match="kind 'features'; expected 'unet'"):
        load_unet(good)


def test_unet_loader_builds_only_from_plain_config_values(tmp_path):
    """diffusers' UNet is built from checked plain values: a stored class name or a wrong type is refused."""
    import torch

    from common.modelfile import ModelFileError
    from tasks.superres import models as M
    from tasks.superres.module import FORMAT, load_unet, save_sr_model

    torch.manual_seed(0)
    unet = M.build_unet(4, TINY_UNET)
    path = tmp_path / "unet.pt"
    cfg = {"latent_channels": 4, "unet": {**TINY_UNET, "_class_name": "UNet2DConditionModel"}}
    save_sr_model(path, "unet", unet.state_dict(), cfg)
    loaded, ck = load_unet(path)  # the stored class name is ignored: the builder picks the blocks
    assert type(loaded).__name__ == "UNet2DModel" and ck["format"] == FORMAT
    x, t = torch.randn(1, 8, 8, 8), torch.tensor([10])
    assert torch.equal(loaded(x, t).sample, unet.eval()(x, t).sample)
    save_sr_model(path, "unet", unet.state_dict(), {"latent_channels": 4, "unet": {**TINY_UNET,
                                                                                   "attention_levels": "AttnDownBlock2D"}})
    with pytest.raises(ModelFileError, match=r"config\.unet\.attention_levels: expected bools"):
        load_unet(path)
