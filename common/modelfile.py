"""The one model-file format of the project: a versioned dict of plain data and tensors.

Every task saves its networks with :func:`save_model_file` and reads them with :func:`load_model_file`:
``{"format": "edgerepro.<task>.v<N>", "kind": ..., **payload}`` written atomically with ``torch.save`` and read
with ``torch.load(weights_only=True)``, which unpickles only tensors, containers and primitive values: loading
never imports or calls code. What rebuilds the network from the payload (a config dict, an architecture name)
must do the same: build only from a whitelist of known architectures and plain numbers, never from a class
path or an expression stored in the file (see ``common.adapters.ultralytics.build_known``).

A missing file, an empty or truncated file, something that is not a model file, and a model file of another
format or kind all stop with the path and what was expected.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["ModelFileError", "ModelFormat", "save_model_file", "load_model_file", "read_meta", "plain_config", "plain_value"]


class ModelFileError(ValueError):
    """A model file that cannot be used: truncated, not a model file, or of another format / kind."""


def save_model_file(path: str | Path, fmt: str, kind: str | None = None, **payload: Any) -> Path:
    """Write ``{"format": fmt, "kind": kind, **payload}`` atomically. Tensors are moved to the CPU and detached;
    ``payload`` must hold only tensors, numbers, strings, lists/tuples and dicts of them."""
    import torch

    from common.io import atomic_write_bytes

    def plain(x):
        if isinstance(x, torch.Tensor):
            return x.detach().cpu()
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(plain(v) for v in x)
        if isinstance(x, Path):
            return str(x)
        return x

    buf = io.BytesIO()
    torch.save({"format": fmt, "kind": kind, **plain(payload)}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _as_tuple(x: str | Iterable[str] | None) -> tuple | None:
    if x is None:
        return None
    return (x,) if isinstance(x, str) else tuple(x)


def load_model_file(path: str | Path, fmt: str | Iterable[str], kind: str | Iterable[str] | None = None) -> dict:
    """The payload of a model file written by :func:`save_model_file` with format ``fmt`` (one or several
    accepted versions) and, if given, one of the kinds ``kind``."""
    import torch

    path = Path(path)
    fmts, kinds = _as_tuple(fmt), _as_tuple(kind)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found (run the stage that writes it)")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: truncated or not a model file (the file is empty)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        globals_ = [ln.strip() for ln in str(e).splitlines() if "Unsupported global" in ln]
        if not globals_:
            raise ModelFileError(f"{path}: truncated or not a model file (unreadable pickle data)") from None
        # weights_only refused a global: the file holds pickled code or objects, which we never load
        raise ModelFileError(f"{path}: not an edgerepro model file; refused to unpickle it (it holds objects other "
                             f"than tensors and plain data: {globals_[0].split(':', 1)[-1].strip()[:200]})") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: truncated or not a model file ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    got = ck.get("format") if isinstance(ck, dict) else None
    if got not in fmts:
        raise ModelFileError(f"{path}: not a {' / '.join(fmts)} model file (its format is {got!r})")
    if kinds is not None and ck.get("kind") not in kinds:
        raise ModelFileError(f"{path}: a {got} file of kind {ck.get('kind')!r}; expected {' or '.join(map(repr, kinds))}")
    return ck


class ModelFormat:
    """One task's format, for networks stored as a state dict + the plain config that rebuilds them:
    ``FILES = ModelFormat("edgerepro.edges.v1")``, ``FILES.save(path, kind, state_dict, config, **extra)``,
    ``FILES.load(path, kind)`` (the payload dict)."""

    def __init__(self, name: str):
        self.name = name

    def save(self, path: str | Path, kind: str, state_dict: dict, config: dict, **extra: Any) -> Path:
        return save_model_file(path, self.name, kind, config=config, state_dict=state_dict, **extra)

    def load(self, path: str | Path, kind: str | Iterable[str] | None = None) -> dict:
        return load_model_file(path, self.name, kind)


def read_meta(path: str | Path, fmt: str | Iterable[str], key: str = "meta") -> dict:
    """The ``meta`` dict stored beside the weights (imgsz, stage, thresholds …)."""
    return dict(load_model_file(path, fmt).get(key) or {})


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_KINDS = {
    "int": _is_int,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "ints": lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v),
    "bools": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, bool) for x in v),
}


def plain_value(value: Any, kind: str, where: str) -> Any:
    """``value`` if it is plain data of ``kind`` (int, float, bool, ints, bools), else a :class:`ModelFileError`
    naming ``where``: what reaches a network's constructor from a file is numbers and flags, never an object."""
    if not _KINDS[kind](value):
        raise ModelFileError(f"{where}: expected {kind}, got {value!r}")
    return list(value) if kind in ("ints", "bools") else value


def plain_config(cfg: Any, keys: dict[str, str], path: str | Path, where: str = "config") -> dict:
    """The entries ``keys`` (name → kind) of a config dict stored in a model file, each checked by
    :func:`plain_value`; other entries are ignored, so a file cannot pass anything else to a constructor."""
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: model file without a {where} dict")
    return {k: plain_value(cfg[k], kind, f"{path}: {where}.{k}") for k, kind in keys.items() if k in cfg}
