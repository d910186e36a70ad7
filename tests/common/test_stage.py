"""The stage skeleton (common/stage.py): parameters validated before any work, with the file, line, section,
key and the closest valid name; --help and --check; profile/seed from the root params.yaml only."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest

from common.stage import Field, ParamsError, StageId, StageParams, load_params, params_help
from common.training.config import LightningConfig
from tests.conftest import ROOT, copy_repo, needs, venv_env


class Inner(StageParams):
    rate: float = Field(0.1, gt=0)


class P(StageParams):
    epochs: int = Field(3, ge=1)
    p_drop: float = Field(0.5, ge=0, le=1)
    mode: Literal["uniform", "global"] = "uniform"
    config: LightningConfig = Field(default_factory=LightningConfig)
    variants: dict[str, LightningConfig] = Field(default_factory=dict)


def repo(tmp_path: Path, section: str, profile: str = "tiny") -> Path:
    (tmp_path / "tasks" / "t").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text(f"profile: {profile}\nseed: 3\n")
    (tmp_path / "tasks" / "t" / "params.yaml").write_text(section)
    return tmp_path


def load(tmp_path, text, stage="s"):
    return load_params(P, StageId("t", stage), repo(tmp_path, text))


def test_valid_section_with_profile_and_seed_from_the_root(tmp_path):
    p = load(tmp_path, "tiny:\n  s: {epochs: 2, mode: global, config: {trainer: {max_epochs: 4}}}\nsmoke:\n  s: {}\n")
    assert (p.epochs, p.mode, p.profile, p.seed) == (2, "global", "tiny", 3)
    assert p.config.trainer.max_epochs == 4 and p.p_drop == 0.5


def test_unknown_key_names_file_line_section_key_and_suggestion(tmp_path):
    with pytest.raises(ParamsError) as e:
        load(tmp_path, "tiny:\n  s:\n    epoch: 2\n")
    msg = str(e.value)
    assert msg == "tasks/t/params.yaml:3: `tiny.s.epoch`: unknown key; did you mean `epochs`?"


def test_unknown_nested_key_inside_a_variant(tmp_path):
    text = "tiny:\n  s:\n    variants:\n      a: {trainer: {max_epochs: 1}}\n      b: {traner: {max_epochs: 1}}\n"
    with pytest.raises(ParamsError, match=r"params.yaml:5: `tiny.s.variants.b.traner`: unknown key; did you mean `trainer`"):
        load(tmp_path, text)


@pytest.mark.parametrize("body, match", [
    ("epochs: -1", r":3: `tiny.s.epochs`: Input should be greater than or equal to 1 \(got -1\)"),
    ("epochs: many", r"`tiny.s.epochs`: Input should be a valid integer"),
    ("p_drop: 1.5", r"`tiny.s.p_drop`: Input should be less than or equal to 1"),
    ("mode: glob", r"`tiny.s.mode`: Input should be 'uniform' or 'global'"),
    ("config: {trainer: {max_epochs: -1}}", r"`tiny.s.config.trainer.max_epochs`: Input should be greater than or equal to 1"),
    ("config: {trainr: {}}", r"`tiny.s.config.trainr`: unknown key; did you mean `trainer`"),
])
def test_bad_type_or_range_is_refused_with_its_place(tmp_path, body, match):
    with pytest.raises(ParamsError, match=match):
        load(tmp_path, f"tiny:\n  s:\n    {body}\n")


def test_missing_section_and_context_keys(tmp_path):
    with pytest.raises(ParamsError, match=r"`tiny` has no section `prepar`; did you mean `prepare`"):
        load(tmp_path / "a", "tiny:\n  prepare: {}\n", stage="prepar")
    with pytest.raises(ParamsError, match=r"`tiny.s.seed`: set `seed` once, in params.yaml at the repository root"):
        load(tmp_path / "b", "tiny:\n  s: {seed: 1}\n")


def test_bad_root_params(tmp_path):
    with pytest.raises(ParamsError, match=r"params.yaml:1: `profile`: must be one of tiny, smoke, full, got 'huge'"):
        load_params(P, StageId("t", "s"), repo(tmp_path, "tiny: {s: {}}\n", profile="huge"))


def test_help_lists_every_parameter_with_type_default_and_range():
    text = params_help(P)
    assert "epochs: int (≥ 1), default 3" in text
    assert "p_drop: float (≥ 0, ≤ 1), default 0.5" in text
    assert "mode: 'uniform' | 'global', default 'uniform'" in text
    assert "max_epochs: int | null (≥ 1)" in text  # the typed part of the LightningCLI config


def _run(args, cwd, **kw):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=venv_env(), capture_output=True, text=True,
                          timeout=120, **kw)


@needs("tasks", "ultralytics")
def test_stage_help_is_fast_and_lists_the_parameters():
    t0 = time.perf_counter()
    out = _run(["-m", "tasks.detection.train", "--help"], ROOT)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert "parameters of `sparse_train`" in out.stdout and "s0: float (≥ 0), default 0.01" in out.stdout
    assert "max_epochs: int | null (≥ 1)" in out.stdout
    # nothing heavy is imported before parsing: compare with an interpreter that imports torch
    t0 = time.perf_counter()
    _run(["-c", "import torch"], ROOT)
    assert elapsed < (time.perf_counter() - t0), "--help should not import torch"


@needs("tasks", "ultralytics")
def test_typo_in_a_real_params_file_stops_before_any_work(tmp_path):
    repo_dir = copy_repo(tmp_path)
    p = repo_dir / "tasks/detection/params.yaml"
    text = p.read_text()
    p.write_text(text.replace("prune: {ratio: 0.5, mode: uniform", "prune: {ratio: 0.5, mdoe: uniform", 1))
    line = next(i for i, l in enumerate(p.read_text().splitlines(), 1) if "mdoe" in l)
    out = _run(["-m", "tasks.detection.prune"], repo_dir)
    assert out.returncode == 2
    assert f"tasks/detection/params.yaml:{line}: `tiny.prune.mdoe`: unknown key; did you mean `mode`?" in out.stderr
    assert sorted(p.name for p in (repo_dir / "data/detection").iterdir()) == ["raw"]  # nothing was started
    check = _run(["-m", "tasks.detection.prune", "--check", "tiny"], repo_dir)
    assert check.returncode == 2 and "mdoe" in check.stderr


@needs("tasks", "ultralytics")
def test_lightning_config_typo_is_reported_against_params_yaml(tmp_path):
    """A key LightningCLI rejects (the `config:` part) is reported with its place in params.yaml, before any
    data is read (there is no prepared dataset in this copy)."""
    repo_dir = copy_repo(tmp_path)
    p = repo_dir / "tasks/detection/params.yaml"
    p.write_text(p.read_text().replace("warmup_epochs: 0.0}}", "warmup_epoch: 0.0}}", 1))
    out = _run(["-m", "tasks.detection.train", "train_teacher"], repo_dir)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "`tiny.train_teacher.config.model.init_args.warmup_epoch`: unknown key; did you mean `warmup_epochs`?" \
        in out.stderr
    assert not list((repo_dir / "data").glob("detection/.train_teacher*"))  # no temp output left
