import json
import os
import subprocess
import sys

import pytest

from common.io import atomic_dir, atomic_write_json, remove_stale_temps


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_atomic_write_json_replaces(tmp_path):
    p = tmp_path / "a" / "m.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]  # no temp file left
    assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()  # 0644 under the usual umask, like DVC's files


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "stage"
    with atomic_dir(out) as tmp:
        (tmp / "ok.txt").write_text("first")
    assert out.stat().st_mode & 0o777 == 0o777 & ~_umask()  # 0755, not mkdtemp's 0700
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]  # old output intact, no temp dirs
    assert (out / "ok.txt").read_text() == "first"


def test_failed_commit_keeps_the_old_output_and_leaves_no_orphan(tmp_path, monkeypatch):
    out = tmp_path / "stage"
    with atomic_dir(out) as tmp:
        (tmp / "ok.txt").write_text("first")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the rename of the new directory into place
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        with atomic_dir(out) as tmp:
            (tmp / "new.txt").write_text("second")
    monkeypatch.setattr(os, "replace", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]
    assert (out / "ok.txt").read_text() == "first"


def test_temp_dirs_of_a_killed_run_are_removed_at_the_next(tmp_path):
    out = tmp_path / "stage"
    # a run killed with SIGKILL leaves its temp dir; its pid is gone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".stage.{dead.stdout.strip()}.abc.tmp"
    stale.mkdir()
    live = tmp_path / f".stage.{os.getpid()}.xyz.tmp"  # a run still going on is left alone
    live.mkdir()
    (tmp_path / ".stage.old").mkdir()
    other = tmp_path / f".other.{dead.stdout.strip()}.abc.tmp"
    other.mkdir()
    with atomic_dir(out) as tmp:
        (tmp / "x").write_text("1")
    assert not stale.exists() and not (tmp_path / ".stage.old").exists()
    assert live.exists() and other.exists()
    assert remove_stale_temps(out) == []
