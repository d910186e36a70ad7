import json

import pytest

from common.io import atomic_dir, atomic_write_json, project_params, stage_params


def test_atomic_write_json_replaces(tmp_path):
    p = tmp_path / "a" / "m.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]  # no temp file left


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "stage"
    with atomic_dir(out) as tmp:
        (tmp / "ok.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]  # old output intact, no temp dirs
    assert (out / "ok.txt").read_text() == "first"


def test_stage_params_profile_and_common(tmp_path):
    (tmp_path / "tasks" / "t").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text("profile: tiny\nseed: 3\n")
    (tmp_path / "tasks" / "t" / "params.yaml").write_text(
        "tiny:\n  common: {a: 1, b: 1}\n  s: {b: 2}\nsmoke:\n  s: {b: 9}\n")
    assert stage_params("t", "s", tmp_path) == {"a": 1, "b": 2, "profile": "tiny", "seed": 3}
    with pytest.raises(KeyError, match="no section 'x'"):
        stage_params("t", "x", tmp_path)


def test_bad_profile_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: huge\n")
    with pytest.raises(ValueError, match="profile must be one of"):
        project_params(tmp_path)
