"""Callbacks shared by tasks."""
from __future__ import annotations

import math
import time

import torch
from lightning.pytorch.callbacks import Callback, WeightAveraging


class RampedEMA(WeightAveraging):
    """Exponential moving average of weights and buffers with a warm-up ramp on the decay,
    d(n) = decay · (1 − exp(−n / tau)) after n optimizer steps (the EMA of ultralytics/YOLOv5, which
    follows the weights closely early in training and averages over ~1/(1−decay) steps later).

    Built on Lightning's :class:`WeightAveraging`: validation and checkpoints use the averaged weights,
    and at the end of ``fit`` they are copied into the model.
    """

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.tau = tau

        def avg_fn(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
            if not averaged.is_floating_point():
                return current  # integer buffers (BatchNorm's num_batches_tracked) follow the model
            d = decay * (1.0 - math.exp(-float(num_averaged) / tau))
            return averaged * d + current * (1.0 - d)

        super().__init__(avg_fn=avg_fn, use_buffers=True)


class BatchTimer(Callback):
    """Images per second of the training loop, data loading included: the time between consecutive
    training-batch ends, after ``skip`` warm-up batches (used by benchmarks)."""

    def __init__(self, skip: int = 3):
        self.skip = skip
        self.stamps: list[float] = []
        self.sizes: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.stamps.append(time.perf_counter())
        self.sizes.append(pl_module.batch_size_of(batch))

    @property
    def images_per_second(self) -> float:
        s = self.skip
        if len(self.stamps) <= s + 1:
            return float("nan")
        return sum(self.sizes[s + 1:]) / (self.stamps[-1] - self.stamps[s])


class EpochSummary(Callback):
    """One line per epoch on stdout (epoch, seconds, the logged metrics) when stdout is not a terminal,
    so that logs of non-interactive runs (``dvc repro``, CI, ``nohup``) show progress without the
    carriage-return noise of a progress bar."""

    def __init__(self, only_when_not_tty: bool = True):
        self.only_when_not_tty = only_when_not_tty
        self._t0 = 0.0

    def _active(self) -> bool:
        import sys

        return not (self.only_when_not_tty and sys.stdout.isatty())

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        # after this epoch's validation (callbacks' validation hooks run before the module logs its metrics)
        if not trainer.is_global_zero or not self._active():
            return
        import os

        label = os.environ.get("EDGEREPRO_RUN_LABEL")  # runs trained side by side (common.training.parallel)
        parts = [*([label] if label else []), f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}",
                 f"{time.perf_counter() - self._t0:.0f}s"]
        for key, value in sorted(trainer.callback_metrics.items()):
            try:
                parts.append(f"{key}={float(value):.4g}")
            except (TypeError, ValueError):
                continue
        print(" | ".join(parts), flush=True)
