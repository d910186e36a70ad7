"""The joint count comes from the data: ``python -m tasks.pose fit`` sizes LitePose's heads from the prepared
dataset's joints (``data.num_joints`` → ``model.init_args.num_joints``), and refuses a joint count set by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.pose.data import CROWDPOSE_JOINTS
from tests.pose.test_pose_own_data import COCO_JOINTS, COCO_SKELETON, keypoints_release, prepare

CONFIG = "tasks/pose/configs/litepose.yaml"


def prepared(tmp_path: Path, joints: list[str], skeleton) -> Path:
    """A tiny COCO-keypoints release (3 + 3 images of 48 × 40) through ``prepare``: the dataset folder."""
    raw = tmp_path / "raw"
    prepare(tmp_path / "out", source="coco", raw_dir=str(raw),
            splits=keypoints_release(raw, joints, skeleton, crowdpose=False))
    return tmp_path / "out" / "dataset"


@pytest.fixture(autouse=True)
def no_command_line(monkeypatch):
    monkeypatch.setattr("sys.argv", ["python -m tasks.pose"])  # LightningCLI warns when it sees pytest's options


def cli_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    """The CLI built without running (``main(args, run=False)``, as the pipeline builds it): no subcommand."""
    return ["-c", CONFIG, f"--data.data_dir={data_dir}", "--data.imgsz=64", "--data.batch_size=2",
            "--data.workers=0", "--trainer.accelerator=cpu", "--trainer.devices=1", f"--trainer.default_root_dir={root}",
            "--trainer.enable_progress_bar=false", "--model.init_args.kernel=3", "--model.init_args.fusion=false",
            *extra]


def test_a_17_joint_dataset_trains_with_17_joint_heads(tmp_path):
    from tasks.pose.__main__ import main

    data_dir = prepared(tmp_path, COCO_JOINTS, COCO_SKELETON)
    cli = main(cli_args(data_dir, tmp_path / "run", "--trainer.fast_dev_run=1"), run=False)
    assert cli.datamodule.num_joints == 17 and cli.model.hparams.num_joints == 17
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)  # one training + one validation step: targets fit heads
    assert cli.trainer.state.finished and cli.trainer.global_step == 1
    quarter, half = cli.model.model(cli.datamodule.train_set[0]["img"][None])
    assert quarter.shape[1] == 2 * 17 and half.shape[1] == 17  # heatmaps + tags at 1/4, heatmaps at 1/2


def test_a_joint_count_set_by_hand_is_refused(tmp_path):
    """A count other than the data's is refused (the data's would silently replace it)."""
    from tasks.pose.__main__ import main

    data_dir = prepared(tmp_path, CROWDPOSE_JOINTS, COCO_SKELETON[:12])
    with pytest.raises(ValueError, match=r"num_joints = 5\b.*it comes from the data"):
        main(cli_args(data_dir, tmp_path / "run", "--model.init_args.num_joints=5"), run=False)


def test_a_dataset_not_prepared_is_named(tmp_path):
    from common.data.errors import DataError
    from tasks.pose.__main__ import main

    with pytest.raises(DataError, match=r"train\.json.*prepared training annotations not found"):
        main(cli_args(tmp_path / "nowhere", tmp_path / "run"), run=False)


def test_the_module_refuses_data_with_other_joints(tmp_path):
    """Outside the CLI (no link), a datamodule whose joints are not the model's stops before any step."""
    import lightning as L

    from tasks.pose.module import PoseDataModule, PoseModule

    with pytest.raises(ValueError, match="num_joints"):
        PoseModule()  # no default: the count is the data's
    data_dir = prepared(tmp_path, COCO_JOINTS, COCO_SKELETON)
    trainer = L.Trainer(fast_dev_run=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="the model has 14 joints but the data in .* has 17"):
        trainer.fit(PoseModule(num_joints=14, kernel=3, fusion=False),
                    datamodule=PoseDataModule(str(data_dir), imgsz=64, batch_size=2, workers=0))


def test_oks_sigmas_are_chosen_by_joint_names_not_count():
    from tasks.pose.data import COCO_SIGMAS, CROWDPOSE_SIGMAS, categories, oks_sigmas

    synthetic = categories()[0]["keypoints"]  # what `source: synthetic` writes: CrowdPose's 14 joints
    assert oks_sigmas(synthetic) == oks_sigmas(14) == [s / 10 for s in CROWDPOSE_SIGMAS]  # unchanged
    assert oks_sigmas(COCO_JOINTS) == [s / 10 for s in COCO_SIGMAS]
    # a user's 14 or 17 joints are not CrowdPose's or COCO's: ultralytics' 1/K for custom keypoints
    assert oks_sigmas([f"j{i}" for i in range(14)]) == [1 / 14] * 14
    assert oks_sigmas([f"j{i}" for i in range(17)]) == [1 / 17] * 17
    # COCO's joints in another order: each joint keeps its own constant
    shuffled = COCO_JOINTS[::-1]
    assert oks_sigmas(shuffled) == [s / 10 for s in COCO_SIGMAS[::-1]]
    assert oks_sigmas(CROWDPOSE_JOINTS[1:] + CROWDPOSE_JOINTS[:1])[-1] == CROWDPOSE_SIGMAS[0] / 10
