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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _readable(path: Path, mode: int) -> None:
    """``mkstemp``/``mkdtemp`` create 0600 / 0700; give outputs the modes DVC gives restored files (0644 / 0755
    under the usual umask)."""
    os.chmod(path, mode & ~_umask())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        _readable(Path(tmp), 0o666)
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Temporary siblings of ``path`` (``.<name>.<pid>.*.tmp``, ``.<name>.old``) left by a run that was killed
    (SIGKILL, power loss) before it could clean up; those of a process still alive are kept."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for cand in path.parent.glob(f".{glob_escape(path.name)}.*"):
        rest = cand.name[len(path.name) + 2:]
        if rest == "old":
            stale = True
        elif rest.endswith(".tmp") and rest.split(".", 1)[0].isdigit():
            stale = not _pid_alive(int(rest.split(".", 1)[0]))
        else:
            continue
        if stale:
            shutil.rmtree(cand, ignore_errors=True) if cand.is_dir() else cand.unlink(missing_ok=True)
            removed.append(cand)
    return removed


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name; on success replace ``path`` with it, on error remove it.

    All or nothing: an exception, Ctrl-C or SIGTERM (see :mod:`common.signals`) inside the block, or a failure
    of the final renames, leaves ``path`` as it was (the previous output, or nothing) and no temporary
    directory behind. Temporary directories of an earlier run of the same output that was killed outright are
    removed first. The new directory gets the modes DVC gives restored outputs (0755, files 0644).
    """
    from common import signals

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
    _readable(tmp, 0o777)
    try:
        yield tmp
        signals.check()  # a library may have swallowed the interrupt: never publish a half-done output
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.with_name(f".{path.name}.old")
    try:
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the previous output back
                raise
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


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
    """The root ``params.yaml``: ``profile`` and ``seed``, validated (``common.stage.project_context``)."""
    from common.stage import project_context

    return project_context(root)
