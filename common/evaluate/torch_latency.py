"""PyTorch-side latency: the median wall time of a call, after warm-up, under a fixed thread count (the ONNX
side is :func:`common.evaluate.profile.onnx_latency`, which runs in its own process)."""
from __future__ import annotations

import time

import numpy as np
import torch


def median_latency_ms(fn, warmup: int = 3, runs: int = 10, threads: int | None = None) -> float:
    """Median milliseconds of ``fn()`` under ``torch.no_grad``; ``threads`` sets torch's intra-op threads for
    the measurement and restores them after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.no_grad():
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(max(runs, 1)):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(before)
    return float(np.median(times))
