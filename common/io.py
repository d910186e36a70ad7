"""Atomic file output and project-level parameter loading.

Every stage writes through these helpers so that an interrupted run never leaves a half-written
file or directory behind: content goes to a temporary sibling first and is renamed into place.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("tiny", "smoke", "full")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name; on success replace ``path`` with it, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {e}") from e


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (did its pipeline stage run?)")
    return json.loads(path.read_text(encoding="utf-8"))


def project_params(root: str | Path = ".") -> dict:
    """The root ``params.yaml``: ``profile`` and ``seed``."""
    params = read_yaml(Path(root) / "params.yaml") or {}
    profile = params.get("profile", "smoke")
    if profile not in PROFILES:
        raise ValueError(f"{Path(root) / 'params.yaml'}: profile must be one of {PROFILES}, got {profile!r}")
    params.setdefault("seed", 0)
    return params


def stage_params(task: str, stage: str, root: str | Path = ".") -> dict:
    """Parameters of one stage under the active profile: ``tasks/<task>/params.yaml`` → ``<profile>.<stage>``.

    Keys of ``<profile>.common`` are merged under the stage's own keys, and ``profile``/``seed`` are added.
    """
    proj = project_params(root)
    path = Path(root) / "tasks" / task / "params.yaml"
    all_params = read_yaml(path) or {}
    prof = all_params.get(proj["profile"])
    if not isinstance(prof, dict):
        raise KeyError(f"{path}: no section for profile {proj['profile']!r}")
    if stage not in prof:
        raise KeyError(f"{path}: profile {proj['profile']!r} has no section {stage!r}")
    out = dict(prof.get("common") or {})
    out.update(prof[stage] or {})
    out["profile"] = proj["profile"]
    out["seed"] = proj["seed"]
    return out
