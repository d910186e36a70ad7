"""The ReID stages' skeleton: parameters refused before any work, the student variants (their configuration and
seed reach the run), the parameter choices that mirror the code, and ReID model files."""
import typing

import pytest
import torch

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, copy_repo


@pytest.mark.parametrize("stage, section, right, wrong, where", [
    (["tasks.reid.prepare"], "tiny.prepare", "captions_per_id", "caption_per_id", "{source: synthetic"),
    (["tasks.reid.train", "teacher"], "tiny.train.teacher", "config", "confg", "    teacher:\n      "),
    (["tasks.reid.train", "student"], "tiny.train.student", "variants", "variant", "student: {config: *train_tiny, "),
    (["tasks.reid.evaluate"], "tiny.evaluate", "calibration_images", "calibration_imgs", "{threads: 1"),
])
def test_a_misspelt_key_is_refused_with_file_section_key_and_suggestion(
        module_repo, stage, section, right, wrong, where):
    # `where` opens the first such section: the tiny profile's
    assert_misspelt_key_refused(module_repo, "reid", f"{right}:", f"{wrong}:", stage, f"`{section}.{wrong}`",
                                f"did you mean `{right}`?", after=where)


def test_a_misspelt_key_in_a_variant_is_refused_with_the_section_path(module_repo):
    # the variants are written once, at the top (an anchor): the key path is the section's, the line the anchor's
    assert_misspelt_key_refused(module_repo, "reid", "alone_s1: {seed: 1}", "alone_s1: {sed: 1}",
                                ["tasks.reid.train", "student"], "`tiny.train.student.variants.alone_s1.sed`",
                                "did you mean `seed`?")


def test_parameter_choices_are_the_codes():
    """prepare names the modalities and sources without importing the data module that defines them."""
    from tasks.reid.data import LOADERS, MODALITIES
    from tasks.reid.prepare import Modality, Source

    assert typing.get_args(Modality) == MODALITIES
    assert typing.get_args(Source) == ("synthetic", *LOADERS)


def test_each_variant_trains_its_configuration_with_its_seed(monkeypatch, tmp_path):
    """Every student variant gets the stage's configuration with its own merged over it, the teacher's file and the
    prepared data, and the global seed unless it sets one (``alone_s1``: seed 1)."""
    import common.training.stage as training_stage
    from common.stage import StageId, load_params
    from tasks.reid import train

    class Stop(Exception):
        pass

    seen = {}

    def fake_fit(cli_main, configs, config, log_dir, scratch=None, seed=None, **kw):
        seen[current] = (config.as_dict(), seed, scratch)
        raise Stop  # no training: what the run would be given is all this test needs

    monkeypatch.setattr(training_stage, "fit_and_validate", fake_fit)
    monkeypatch.chdir(copy_repo(tmp_path / "repo"))
    params = load_params(train.StudentParams, StageId("reid", "train.student"))
    assert list(params.variants) == ["alone", "kd", "pcm", "fr", "pcm_fr", "alone_s1"]
    for current, variant in params.variants.items():
        with pytest.raises(Stop):
            train.train_one("student", params, tmp_path / "out" / current, current, variant)
    args = {n: c["model"]["init_args"] for n, (c, _, _) in seen.items()}
    assert args["kd"]["kd_weight"] == 1.0 and args["pcm_fr"]["pcm_weight"] == args["pcm_fr"]["fr_weight"] == 1.0
    assert "kd_weight" not in args["alone"] and "seed" not in seen["alone_s1"][0]
    assert all(a["teacher"] == train.TEACHER for a in args.values())
    assert all(c["data"]["data_dir"] == train.DATA and c["trainer"]["max_epochs"] == 1 for c, _, _ in seen.values())
    assert {n: s for n, (_, s, _) in seen.items()} == {"alone": 0, "kd": 0, "pcm": 0, "fr": 0, "pcm_fr": 0, "alone_s1": 1}
    scratch = {n: str(d) for n, (_, _, d) in seen.items()}
    assert scratch["alone_s1"].startswith("data/reid/.resume/train/student/alone_s1/")  # resumes on its own
    assert len(set(scratch.values())) == len(scratch)


@pytest.fixture(scope="module")
def student_file(tmp_path_factory):
    from tasks.reid.module import StudentModule

    torch.manual_seed(0)
    student = StudentModule(num_classes=5, dim=16, width=0.5)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    student.save(path, name="alone")
    return path, student


def test_a_student_file_round_trips(student_file):
    from common.modelfile import load_model_file
    from tasks.reid.module import FORMAT, load_model

    path, student = student_file
    back = load_model(path)
    x = torch.rand(2, 3, 64, 32)
    student.model.eval()
    assert not back.training and torch.allclose(back(x), student.model(x), atol=1e-6)
    ck = load_model_file(path, FORMAT)
    assert ck["kind"] == "student" and ck["name"] == "alone"
    assert ck["config"] == {"num_classes": 5, "dim": 16, "backbone": "mobilenet_v3_small", "width": 0.5}


def test_a_damaged_model_file_is_named(student_file, tmp_path):
    from tasks.reid.module import load_model

    assert_damaged_model_files_named(load_model, student_file[0], tmp_path)


@pytest.mark.parametrize("kind, config", [
    ("student", {"num_classes": 5, "dim": 16, "backbone": "os.system", "width": 1.0}),       # not a known backbone
    ("student", {"num_classes": "__import__('os')", "dim": 16, "backbone": "mobilenet_v3_small", "width": 1.0}),
    ("student", {"num_classes": 5, "dim": 16, "backbone": "mobilenet_v3_small", "width": 1.0, "act": 3}),
    ("teacher", {"num_classes": 5, "dim": 16, "backbone": "resnet18", "lora_layers": ["x"], "lora_ranks": [2],
                 "lora_alpha_ratio": 2.0, "lora_dropout": 0.0}),
])
def test_a_model_file_builds_only_known_networks_from_plain_values(tmp_path, kind, config):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.reid.module import FORMAT, load_model

    path = tmp_path / "crafted.pt"
    save_model_file(path, FORMAT, kind, config=config, state_dict={})
    with pytest.raises(ModelFileError, match=f"not a known ReID {kind} network"):
        load_model(path)
