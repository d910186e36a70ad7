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


def onnx_latency(onnx_path: str | Path, input_shape: list[int], threads: tuple[int, ...] = (1, 2),
                 warmup: int = 10, runs: int = 50) -> dict:
    """``{"latency_ms": {threads: {p50, p90, mean, runs}}, "peak_mem_mb"}`` of an ONNX model on ONNX Runtime, measured
    in a fresh process by :func:`common.runtime.measure` (the one timing loop of every runtime); ``input_shape`` may be
    any (N, C, H, W)."""
    from common.runtime import Artifact, measure_shape

    art = Artifact(Path(onnx_path).stem, "onnxruntime", "fp32", {"any": str(onnx_path)})
    m = measure_shape(art, list(input_shape), threads=tuple(threads), warmup=warmup, runs=runs)
    lat = {t: {k: v for k, v in rec.items() if k != "times"} for t, rec in m["latency_ms"].items()}
    return {"latency_ms": lat, "peak_mem_mb": m["peak_mem_mb"]}


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
