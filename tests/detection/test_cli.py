"""``python -m tasks.detection`` (LightningCLI): help, a real tiny fit, resume, bad data, and DDP on CPU."""
import shutil
import subprocess
import sys

import pytest

from common.data.errors import DataError
from tasks.detection.__main__ import main
from tests.conftest import ROOT, venv_env

CONFIG = str(ROOT / "tasks/detection/configs/teacher.yaml")


def tiny_args(data, tmp_path, epochs=1):
    return ["-c", CONFIG, f"--trainer.max_epochs={epochs}", f"--data.data_dir={data}", "--data.imgsz=128",
            "--data.batch_size=8", "--data.workers=0", "--data.close_mosaic=0",
            "--model.init_args.warmup_epochs=0", f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false", "--trainer.logger=false"]


def test_help_documents_options():
    out = subprocess.run([sys.executable, "-m", "tasks.detection", "fit", "--help"], cwd=ROOT, env=venv_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for opt in ("--trainer.max_epochs", "--data.imgsz", "--data.batch_size", "--ckpt_path", "--model"):
        assert opt in out.stdout
    model_help = subprocess.run([sys.executable, "-m", "tasks.detection", "fit", "--model.help",
                                 "tasks.detection.module.DetectionModule"], cwd=ROOT, env=venv_env(),
                                capture_output=True, text=True, timeout=120)
    assert "--model.model_cfg" in model_help.stdout and "nominal_batch_size" in model_help.stdout


def test_fit_then_resume(tiny_dataset, tmp_path):
    cli = main(["fit", *tiny_args(tiny_dataset, tmp_path)])
    assert cli.trainer.current_epoch == 1 and cli.trainer.global_step >= 1
    assert "val/map50" in cli.trainer.callback_metrics
    ckpt = next(tmp_path.rglob("last.ckpt"))
    cli2 = main(["fit", *tiny_args(tiny_dataset, tmp_path / "r", epochs=2), f"--ckpt_path={ckpt}"])
    assert cli2.trainer.current_epoch == 2  # resumed at epoch 1, ran one more


def test_corrupt_image_fails_with_its_name(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    victim = sorted((data / "images" / "train").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(DataError, match=victim.name):
        main(["fit", *tiny_args(data, tmp_path)])


def test_bad_label_fails_with_file_and_line(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    lab = sorted((data / "labels" / "val").iterdir())[0]
    lab.write_text(lab.read_text() + "3 0.5 0.5\n")
    with pytest.raises(DataError, match=rf"{lab.name}:\d+: 3 fields"):
        main(["fit", *tiny_args(data, tmp_path)])


def test_ddp_two_processes_on_cpu(tiny_dataset, tmp_path):
    """Scale-out is Lightning's DDP: two gloo processes train one tiny epoch together."""
    args = [sys.executable, "-m", "tasks.detection", "fit", *tiny_args(tiny_dataset, tmp_path),
            "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
    out = subprocess.run(args, cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "distributed_backend=gloo" in out.stderr + out.stdout
    assert "All distributed processes registered" in out.stderr + out.stdout
