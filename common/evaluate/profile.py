"""Profile a model variant the way an edge deployment sees it.

* ``params``: trainable + frozen parameters of the PyTorch model;
* ``gflops``: floating-point operations of one forward pass at the given input size, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (convention: 1 multiply-add = 2 FLOPs, i.e. GFLOPs =
  2 × GMACs, the convention of ultralytics' ``get_flops``);
* ``onnx_bytes``: size of the ONNX file;
* ``latency_ms``: onnxruntime CPU latency, batch 1, p50/p90 over ``runs`` timed runs after ``warmup``
  runs, for each thread count (intra-op threads, sequential execution);
* ``peak_mem_mb``: peak resident memory added by loading and running the ONNX session, measured in a
  fresh process so one variant's allocations do not hide another's (:mod:`common.evaluate.measure`).
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: the latency worker process imports this module too
    import torch
    from torch import nn


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_gflops(model: nn.Module, sample: torch.Tensor) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample)
    return counter.get_total_flops() / 1e9


def _latency(onnx_path: str, shape: list[int], threads: list[int], warmup: int, runs: int) -> dict:
    """Runs in the measuring process (:func:`common.evaluate.measure.run_measured`)."""
    import onnxruntime as ort

    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = {}
    for n in threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        for _ in range(warmup):
            sess.run(None, {name: x})
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, {name: x})
            times.append((time.perf_counter() - t0) * 1e3)
        out[str(n)] = {"p50": float(np.percentile(times, 50)), "p90": float(np.percentile(times, 90)),
                       "mean": float(np.mean(times)), "runs": runs}
        del sess
    return out


def onnx_latency(onnx_path: str | Path, input_shape: list[int], threads: tuple[int, ...] = (1, 2),
                 warmup: int = 10, runs: int = 50) -> dict:
    """``{"latency_ms": {threads: {p50, p90, mean, runs}}, "peak_mem_mb"}`` of an ONNX model, measured in a fresh
    process (``peak_mem_mb``: what loading and running the sessions added to it, onnxruntime's import aside)."""
    from common.evaluate.measure import run_measured

    try:
        m = run_measured(_latency, str(onnx_path), list(input_shape), list(threads), warmup, runs,
                         imports=("onnxruntime",))
    except Exception as e:  # noqa: BLE001 - the file and the cause
        raise RuntimeError(f"{onnx_path}: latency measurement failed: {type(e).__name__}: {e}") from e
    return {"latency_ms": m.result, "peak_mem_mb": m.added_mb}


def hardware() -> dict:
    import onnxruntime as ort
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {"cpu": cpu, "logical_cores": os.cpu_count(), "onnxruntime": ort.__version__, "torch": torch.__version__,
            "python": platform.python_version()}


def profile_variant(model: nn.Module, onnx_path: str | Path, input_shape: list[int], *, threads=(1, 2),
                    warmup: int = 10, runs: int = 50) -> dict:
    """One JSON-able record for a model variant."""
    import torch

    sample = torch.zeros(input_shape)
    rec = {
        "params": count_params(model),
        "gflops": count_gflops(model, sample),
        "flops_convention": f"2*MACs, torch.utils.flop_counter, input {list(input_shape)}",
        "onnx_bytes": Path(onnx_path).stat().st_size,
        "input_shape": list(input_shape),
    }
    rec.update(onnx_latency(onnx_path, input_shape, threads, warmup, runs))
    return rec
