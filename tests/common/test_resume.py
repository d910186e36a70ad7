"""SIGINT / SIGTERM end a stage with 130 / 143 and no output, and a rerun resumes from the last epoch's
checkpoint and ends with exactly the weights and metrics of an uninterrupted run (tiny detection training:
ultralytics' augmentation with mosaic, EMA, gradient accumulation across epoch boundaries)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import copy_repo, needs, venv_env

pytestmark = needs("tasks", "ultralytics")  # runs the detection stages


def _run(repo: Path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=repo, env={**venv_env(), **(env or {})},
                          capture_output=True, text=True, timeout=600)


def test_sigterm_exits_143_leaves_nothing_and_resume_equals_uninterrupted(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    p = repo / "tasks/detection/params.yaml"
    # 3 epochs of 3 batches; nominal batch 16 = 2 batches, so an accumulation window spans each epoch boundary
    text = p.read_text().replace("trainer: {max_epochs: 1, accelerator: cpu", "trainer: {max_epochs: 3, accelerator: cpu", 1)
    p.write_text(text.replace("warmup_epochs: 0.0}}", "warmup_epochs: 0.0, nominal_batch_size: 16}}", 1))
    assert _run(repo, "tasks.detection.prepare").returncode == 0

    full = _run(repo, "tasks.detection.train", "train_teacher", "--out", "data/full")
    assert full.returncode == 0, full.stderr[-3000:]
    assert not (repo / "data/detection/.resume/train_teacher").exists()  # removed once the stage completed

    cut = _run(repo, "tasks.detection.train", "train_teacher", env={"EDGEREPRO_TEST_SIGTERM_AFTER_EPOCHS": "1"})
    assert cut.returncode == 143, cut.stderr[-3000:]
    assert "stopped by SIGTERM" in cut.stderr
    out = repo / "data/detection/train_teacher"
    assert not out.exists() and not list(out.parent.glob(".train_teacher*"))  # no output, no temp dir
    assert list((repo / "data/detection/.resume/train_teacher").glob("*/resume.ckpt"))  # the checkpoint survived

    again = _run(repo, "tasks.detection.train", "train_teacher")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stdout + again.stderr
    m_full = json.loads((repo / "data/full/metrics.json").read_text())
    m_res = json.loads((out / "metrics.json").read_text())
    assert m_res["resumed_at_epoch"] == 1 and m_full["resumed_at_epoch"] is None
    assert m_res["optimizer_steps"] == m_full["optimizer_steps"] and m_res["epochs"] == m_full["epochs"]
    assert m_res["val/map50_95"] == m_full["val/map50_95"]
    a = torch.load(repo / "data/full/model.pt", weights_only=True)["state_dict"]
    b = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"


def test_sigint_exits_130_without_output(tmp_path):
    """Ctrl-C during a stage (here: prepare, interrupted as soon as it starts writing)."""
    repo = copy_repo(tmp_path / "repo")
    code = ("import os, signal, sys; sys.argv = ['prepare']\n"
            "import tasks.detection.data as d\n"
            "orig = d.generate_synthetic\n"
            "def gen(*a, **k):\n    os.kill(os.getpid(), signal.SIGINT)\n    return orig(*a, **k)\n"
            "d.generate_synthetic = gen\n"
            "from tasks.detection.prepare import Params, run\n"
            "from common.stage import main\n"
            "main('tasks.detection.prepare', Params, run)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=venv_env(), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 130, out.stderr[-2000:]
    assert "stopped by SIGINT" in out.stderr
    assert sorted(p.name for p in (repo / "data/detection").iterdir()) == ["raw"]  # no output, no temp dir
