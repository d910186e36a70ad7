"""The pose stages' skeleton: parameters refused before any work, and LitePose model files."""
import pytest
import torch

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, run_stage


@pytest.mark.parametrize("stage, section, right, wrong", [
    (["tasks.pose.peer"], "tiny.peer", "model_cfg", "model_cgf"),
    (["tasks.pose.train", "litepose-xs"], "tiny.train", "threshold_images", "threshold_image"),
    (["tasks.pose.evaluate"], "tiny.evaluate", "calibration_images", "calibration_image"),
])
def test_a_misspelt_key_is_refused_with_file_section_key_and_suggestion(
        module_repo, stage, section, right, wrong):
    # the first such key: the tiny profile's sections come first
    assert_misspelt_key_refused(module_repo, "pose", f"{right}:", f"{wrong}:", stage, f"`{section}.{wrong}`",
                                f"did you mean `{right}`?")


def test_an_unknown_variant_is_refused(module_repo):
    out = run_stage(module_repo, "tasks.pose.train", "litepose-xxs")
    assert out.returncode == 2 and "litepose-xs" in out.stderr


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tasks.pose.model import LitePose, save_pose_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    model = LitePose("XS", 14, kernel=3, fusion=False)
    save_pose_model(path, model, variant="v", imgsz=64, tag_threshold=0.5)
    return path, model


def test_a_model_file_round_trips(model_file):
    from tasks.pose.model import load_pose_meta, load_pose_model

    path, model = model_file
    loaded = load_pose_model(path)
    assert (loaded.config, loaded.num_joints, loaded.kernel, loaded.fusion) == ("XS", 14, 3, False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert load_pose_meta(path) == {"variant": "v", "imgsz": 64, "tag_threshold": 0.5}


def test_a_damaged_model_file_is_named(model_file, tmp_path):
    from tasks.pose.model import load_pose_model

    assert_damaged_model_files_named(load_pose_model, model_file[0], tmp_path)


def test_a_model_file_builds_only_known_architectures(model_file, tmp_path):
    from common.modelfile import ModelFileError, load_model_file, save_model_file
    from tasks.pose.model import FORMAT, load_pose_model

    ck = load_model_file(model_file[0], FORMAT)
    path = tmp_path / "crafted.pt"
    save_model_file(path, FORMAT, ck["kind"], arch={**ck["arch"], "config": "__import__('os')"},
                    state_dict=ck["state_dict"], meta={})
    with pytest.raises(ModelFileError, match="not a LitePose configuration"):
        load_pose_model(path)


def test_the_peer_trains_with_litepose_budget(monkeypatch):
    """The peer's epochs, image size and batch are LitePose's (read from its training section, written once)."""
    from common.stage import ParamsError
    from tasks.pose.train import Params, budget
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    variants = {"v": {"model": {"init_args": {"config": "XS"}}}}
    params = Params(config={"trainer": {"max_epochs": 3}, "data": {"imgsz": 96, "batch_size": 4}}, variants=variants)
    assert budget(params) == {"epochs": 3, "imgsz": 96, "batch_size": 4}
    with pytest.raises(ParamsError, match="data.imgsz"):
        budget(Params(config={"trainer": {"max_epochs": 3}, "data": {"batch_size": 4}}, variants=variants))
