"""The edge stages' parameters and model files: a misspelt key in ``tasks/edges/params.yaml`` stops a stage
before any work with the file, line, section, key and the closest valid name; a damaged model file is named."""
import pytest

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, run_with_params


@pytest.mark.parametrize("old, new, args, where, hint", [
    ("main_steps: 1, batch_size: 8}", "main_steps: 1, batch_sise: 8}", ["tasks.edges.sample"],
     "`tiny.sample.batch_sise`", "did you mean `batch_size`?"),
    ("      variants: *diffusion_variants", "      variant: *diffusion_variants", ["tasks.edges.train", "diffusion"],
     "`tiny.train.diffusion.variant`", "did you mean `variants`?"),
    ("image_size: 32,", "image_sise: 32,", ["tasks.edges.prepare"], "`tiny.prepare.image_sise`",
     "did you mean `image_size`?"),
    # a variant's key: refused before any variant trains
    ("no_ud: {model: {init_args: {ud: false}}}", "no_ud: {model: {init_args: {uud: false}}}",
     ["tasks.edges.train", "diffusion"], "`tiny.train.diffusion.variants.no_ud.model.init_args.uud`",
     "did you mean `ud`?"),
])
def test_misspelt_key_is_refused_with_file_section_key_and_suggestion(tiny_repo, old, new, args, where, hint):
    assert_misspelt_key_refused(tiny_repo, "edges", old, new, args, where, hint)


def test_variants_must_include_the_main_model(tiny_repo):
    out = run_with_params(tiny_repo, "edges", "  diffusionedge: {}\n", "  diffusion_edge: {}\n", "tasks.edges.train",
                          "diffusion")
    assert out.returncode == 2 and "must include 'diffusionedge'" in out.stderr, out.stderr


def test_truncated_or_empty_model_file_is_named(tmp_path):
    from common.modelfile import ModelFileError
    from tasks.edges.models import RCFNet
    from tasks.edges.module import load_rcf, load_unet, save_edge_model

    net = RCFNet([4, 8])
    good = tmp_path / "model.pt"
    save_edge_model(good, "rcf", net.state_dict(), net.config, name="baseline")
    assert load_rcf(good).config == {"channels": [4, 8]}
    assert_damaged_model_files_named(load_rcf, good, tmp_path)
    with pytest.raises(ModelFileError, match="kind 'rcf'; expected 'unet'"):
        load_unet(good)


def test_loader_builds_only_from_plain_config_values(tmp_path):
    """A config value that is not plain data of the expected kind never reaches a constructor."""
    from common.modelfile import ModelFileError, save_model_file
    from tasks.edges.models import RCFNet
    from tasks.edges.module import FORMAT, load_rcf

    net = RCFNet([4, 8])
    bad = tmp_path / "bad.pt"
    save_model_file(bad, FORMAT, "rcf", config={"channels": "torch.nn.Identity"}, state_dict=net.state_dict())
    with pytest.raises(ModelFileError, match=r"config\.channels: expected ints"):
        load_rcf(bad)
