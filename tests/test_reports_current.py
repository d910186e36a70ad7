"""The committed reports are what the pipeline produced: every committed ``reports/*.json``, ``.md``, ``.png`` and
``reports/README.md`` matches what the root ``dvc.lock`` records for it, and each report stage's recorded code
dependencies are the code in the tree — as far as that can be checked without ``data/`` (which is not committed).

A task whose report is known to be behind its code (a change under ``common/`` landed, the task's own issue reruns
it) is listed in ``BEHIND`` with that issue: its check is a strict xfail, so rerunning the task without removing it
from the list fails too.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, venv_env

LOCK = ROOT / "dvc.lock"
TASKS = ("detection", "edges", "linkpred", "ocr", "pose", "reid", "superres")
# task → the issue that reruns its pipeline (its committed report predates common/ changes of issues 20-21)
BEHIND = {"pose": 24, "reid": 24, "ocr": 25, "superres": 26, "edges": 26}


def md5(path: Path) -> str:
    """What dvc.lock records for an output: a file's md5, or for a folder DVC's ``.dir`` hash (the md5 of the JSON
    list of its files' {md5, relpath}, sorted by path)."""
    if path.is_dir():
        entries = [{"md5": md5(p), "relpath": p.relative_to(path).as_posix()}
                   for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"
    return hashlib.md5(path.read_bytes()).hexdigest()


def lock_stages() -> dict:
    return yaml.safe_load(LOCK.read_text())["stages"]


def committed_outs(stage: dict) -> list[dict]:
    return [o for o in stage.get("outs", []) if o["path"].startswith("reports/")]


@pytest.mark.parametrize("name", ["tables", *(f"tasks/{t}" for t in TASKS)])
def test_committed_report_files_are_what_dvc_lock_records(name):
    stage = lock_stages().get(name)
    assert stage is not None, f"dvc.lock has no stage {name!r}: run `dvc repro {name}` on the smoke profile"
    outs = committed_outs(stage)
    assert outs, f"dvc.lock: stage {name} records no output under reports/"
    stale = [o["path"] for o in outs if not (ROOT / o["path"]).exists() or md5(ROOT / o["path"]) != o["md5"]]
    assert not stale, (f"{stale} differ from what dvc.lock records for stage {name}: a report was edited or "
                       f"rendered outside the pipeline; run `dvc repro {name}` (smoke profile) and commit dvc.lock")


@pytest.mark.parametrize("task", TASKS)
def test_report_stage_code_is_the_code_in_the_tree(task, request):
    if task in BEHIND:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"rerun by issue {BEHIND[task]}"))
    stage = lock_stages()[f"tasks/{task}"]
    changed = [d["path"] for d in stage["deps"] if not d["path"].startswith("data/")
               and (not (ROOT / d["path"]).is_file() or md5(ROOT / d["path"]) != d["md5"])]
    assert not changed, (f"reports/{task}.* were rendered by other code than the tree's ({changed} changed): "
                         f"run `dvc repro tasks/{task}` (smoke profile) and commit the reports and dvc.lock")


def test_index_is_rendered_from_the_committed_reports():
    from common.reports.tables import render_index

    assert render_index(ROOT / "reports") == (ROOT / "reports" / "README.md").read_text(), (
        "reports/README.md is not what `python -m common.reports.tables` renders from the committed "
        "reports/*.json: run `dvc repro -s tables` and commit")


def test_dvc_sees_the_tables_stage_up_to_date():
    """``tables`` depends on committed files only, so DVC itself can check it (code, task JSONs, command)."""
    out = subprocess.run([str(Path(sys.executable).parent / "dvc"), "status", "tables"], cwd=ROOT, env=venv_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout, f"`dvc status tables` reports a change; run `dvc repro -s tables`:\n{out.stdout}"
