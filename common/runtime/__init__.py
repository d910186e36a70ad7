"""Edge runtimes behind one interface: load an exported model, run a batch, time it, measure its memory.

An :class:`Artifact` is one deployable file (or file set) for one backend at one requested precision; every
task's ``export`` stage writes artifacts, its ``evaluate`` stage scores each one on the validation split (through
:func:`open_session`, the same code path a user's deployment takes) and times it (:func:`measure`, a fresh
process per artifact so one model's allocations never hide another's, peak memory from the process's own
high-water mark).

Backends (each in its own module, imported only when used):

============== ============================================ ===============================================
backend        files                                        precisions
============== ============================================ ===============================================
onnxruntime    ``.onnx`` (any input size if exported so)    fp32; int8 (static QDQ, ``common.compress``)
openvino       IR ``.xml`` + ``.bin`` (from the ONNX file)  fp32 file (OpenVINO's default inference precision:
                                                            bf16 on CPUs with AMX, recorded); int8 (NNCF PTQ)
ncnn           ``.ncnn.param`` + ``.ncnn.bin`` (pnnx),       fp32; fp16 storage (recorded as what ran)
               one static file pair per input size
litert         ``.tflite`` (litert-torch)                   fp32 (where the converter installs offline)
tensorrt       serialized engine (from the ONNX file)       fp32 / fp16; needs an NVIDIA GPU
============== ============================================ ===============================================

A backend that cannot run here raises :class:`Unavailable` with the reason (package missing, no GPU, a
converter that fails on the model); callers record that reason beside the artifact instead of skipping it.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

BACKENDS = ("onnxruntime", "openvino", "ncnn", "litert", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
ANY_SIZE = "any"


class Unavailable(RuntimeError):
    """This backend (or this precision of it) cannot run here; the message is the reason, for the report."""


@dataclass
class Artifact:
    """One exported model for one backend.

    ``files`` maps an input size (``"256"``) or ``"any"`` (a file that takes every size) to the main file;
    companion files (``.bin``) lie beside it. ``precision`` is what was *requested*; what the runtime actually
    computed in is :attr:`Session.precision_used`. ``producer``: ``edgerepro`` or the peer that exported it."""

    name: str
    backend: str
    precision: str
    files: dict[str, str]
    producer: str = "edgerepro"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"{self.name}: unknown backend {self.backend!r}; expected one of {BACKENDS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"{self.name}: unknown precision {self.precision!r}; expected one of {PRECISIONS}")
        self.files = {str(k): str(v) for k, v in self.files.items()}

    @property
    def key(self) -> str:
        """``<name>/<backend>/<precision>``: unique within a stage's manifest."""
        return f"{self.name}/{self.backend}/{self.precision}"

    def sizes(self) -> list[str]:
        return list(self.files)

    def file_for(self, size) -> Path:
        """The file for input ``size`` (S or (H, W)), or the one that takes any size."""
        f = self.files.get(size_key(size)) or self.files.get(ANY_SIZE)
        if f is None:
            raise KeyError(f"{self.key}: no file for input size {size} (has {sorted(self.files)})")
        return Path(f)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Artifact:
        return cls(**d)

    def bytes(self) -> int:
        """Size on disk of the file for the first size, with its companions (``.bin`` beside ``.xml`` / ``.param``)."""
        main = Path(next(iter(self.files.values())))
        return sum(p.stat().st_size for p in _companions(main))


def _companions(main: Path) -> list[Path]:
    out = [main]
    if main.suffix == ".xml":
        out.append(main.with_suffix(".bin"))
    elif main.name.endswith(".ncnn.param"):
        out.append(main.with_name(main.name[: -len(".param")] + ".bin"))
    return [p for p in out if p.exists()]


class Session(Protocol):
    """A loaded model: ``run`` takes a float32 batch (N, C, H, W) and returns the first output (N, …);
    ``run_all`` returns every output, in the exported model's order (multi-output models: pose heatmaps at two
    resolutions …). ONNX Runtime and OpenVINO sessions have ``run_all``."""

    backend: str
    precision_used: str

    def run(self, x: np.ndarray) -> np.ndarray: ...


def size_hw(size) -> tuple[int, int]:
    """(H, W) of an input size given as S (square) or (H, W)."""
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"an input size is S or (H, W), got {size!r}")
        return int(size[0]), int(size[1])
    return int(size), int(size)


def size_key(size) -> str:
    """The key of an input size in :attr:`Artifact.files`: ``"256"`` (square) or ``"64x32"`` (H × W)."""
    h, w = size_hw(size)
    return str(h) if h == w else f"{h}x{w}"


def _backend(name: str):
    return importlib.import_module(f"common.runtime._{name}")


def open_session(art: Artifact, size, threads: int = 1) -> Session:
    """Load ``art`` for inputs of ``size`` × ``size`` pixels (or ``size`` = (H, W)) on ``threads`` CPU threads (GPU
    for TensorRT). The static-size backends (ncnn, LiteRT, TensorRT) take square sizes only."""
    path = art.file_for(size)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {art.key} file not found — rerun the export stage")
    h, w = size_hw(size)
    if h != w and art.backend not in ("onnxruntime", "openvino"):
        raise Unavailable(f"{art.key}: {art.backend} files here are exported at square sizes; {h}×{w} is not one")
    return _backend(art.backend).open(path, h if h == w else (h, w), int(threads),
                                      {**art.options, "precision": art.precision})


def available(backend: str) -> str | None:
    """``None`` if ``backend`` can run here, else the reason it cannot."""
    return _backend(backend).unavailable()


def version(backend: str) -> str | None:
    try:
        return _backend(backend).version()
    except Exception:  # noqa: BLE001 - not installed: no version
        return None


def run_batched(session: Session, x: np.ndarray, batch: int | None) -> np.ndarray:
    """``session.run`` over ``x`` in slices of ``batch`` (``None``: all at once), outputs concatenated."""
    if batch is None or len(x) <= batch:
        return session.run(x)
    return np.concatenate([session.run(x[i:i + batch]) for i in range(0, len(x), batch)])


def _time(art_dict: dict, shape: list[int], threads: list[int], warmup: int, runs: int) -> dict:
    """Runs in the measuring process (:func:`common.evaluate.measure.run_measured`)."""
    art = Artifact.from_dict(art_dict)
    size = (int(shape[-2]), int(shape[-1]))
    x = np.random.default_rng(0).random(tuple(shape), dtype=np.float32)
    out: dict[str, Any] = {"latency_ms": {}}
    for n in threads:
        sess = open_session(art, size, n)
        for _ in range(warmup):
            sess.run(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(x)
            times.append((time.perf_counter() - t0) * 1e3)
        out["latency_ms"][str(n)] = {"p50": float(np.percentile(times, 50)), "p90": float(np.percentile(times, 90)),
                                     "mean": float(np.mean(times)), "runs": runs,
                                     "times": [round(t, 4) for t in times]}  # for bootstrap intervals
        out["precision_used"] = sess.precision_used
        del sess
    return out


def measure(art: Artifact, size: int, *, threads: tuple[int, ...] = (1, 2), warmup: int = 10, runs: int = 50,
            channels: int = 3) -> dict:
    """Latency (p50/p90/mean and every run's time per thread count, batch 1, ``size`` × ``size``) and peak memory of
    ``art`` in a fresh process: ``{"latency_ms": {threads: {...}}, "peak_mem_mb", "precision_used", "size"}``.
    ``peak_mem_mb`` is what loading and running the model added to that process's own high-water mark (the
    runtime's import aside)."""
    return measure_shape(art, [1, int(channels), int(size), int(size)], threads=threads, warmup=warmup, runs=runs)


def measure_shape(art: Artifact, shape: list[int], *, threads: tuple[int, ...] = (1, 2), warmup: int = 10,
                  runs: int = 50) -> dict:
    """:func:`measure` for any input shape (N, C, H, W); the file is opened for size ``shape[-1]``."""
    from common.evaluate.measure import run_measured

    try:
        m = run_measured(_time, art.to_dict(), [int(d) for d in shape], list(threads), int(warmup), int(runs),
                         imports=(f"common.runtime._{art.backend}", *_backend(art.backend).IMPORTS))
    except Unavailable:
        raise
    except Exception as e:  # noqa: BLE001 - the artifact and the cause
        raise RuntimeError(f"{art.key} at {size_key(tuple(shape[-2:]))} px ({art.file_for(tuple(shape[-2:]))}): "
                           f"latency measurement failed: "
                           f"{type(e).__name__}: {e}") from e
    h, w = int(shape[-2]), int(shape[-1])
    return {**m.result, "peak_mem_mb": m.added_mb, "size": h if h == w else [h, w]}
