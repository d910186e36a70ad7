"""The training recipe shared by every task.

:class:`TaskModule` is a LightningModule that owns the *recipe*; the architecture is a plain
``nn.Module`` in ``self.model`` (lightning-hydra-template's split). A subclass implements
:meth:`TaskModule.task_loss` (and its own validation). The recipe gives every task:

* total loss = task loss + Σ_i w_i · distill_i(student_tap_i, teacher_tap_i), with an optional frozen
  teacher and feature taps by module name (``common.distill``) — the same code for every task;
* parameter groups (weights with decay; biases and norm-layer weights without), the optimizer injected
  by LightningCLI;
* a linear learning-rate decay to ``lr_final_factor`` over the epochs, linear warm-up of lr and
  momentum, accumulation of gradients up to a nominal batch (ramped during warm-up), and gradient
  clipping by norm. These are the schedule details of ultralytics' trainer, which a port must keep to
  reach the same accuracy (ultralytics' ``BaseTrainer._do_train``). They are written here, not imported, because
  Lightning has no per-iteration accumulation ramp and ``common`` must not depend on a task's library.

Manual optimisation is used so that ``trainer.global_step`` counts real optimizer steps (weight
averaging and ``max_steps`` depend on it) while the accumulation length changes during warm-up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

NORM_TYPES = tuple(v for k, v in nn.__dict__.items() if isinstance(v, type) and "Norm" in k)


def default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999))


class _SharedCallable:
    """An injected factory shared, not copied, by ``deepcopy``: weight averaging deep-copies the module,
    and a jsonargparse-built ``partial`` can hold unpicklable state (it does under DDP)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __deepcopy__(self, memo):
        return self


@dataclass
class DistillTerm:
    """One distillation term: ``weight · loss(student[student_tap], teacher[teacher_tap])``."""

    student_tap: str
    teacher_tap: str
    loss: nn.Module
    weight: float = 1.0


class TaskModule(L.LightningModule):
    """Base of every task's LightningModule (see the module docstring).

    Args:
        optimizer: optimizer class and its arguments (``class_path`` + ``init_args`` in a config); it
            receives the parameter groups of :meth:`param_groups`.
        weight_decay: weight decay of conv/linear weights (biases and norm weights get none).
        lr_final_factor: the learning rate decays linearly from lr to lr × this factor at the last epoch.
        warmup_epochs: epochs of linear lr/momentum warm-up (capped to leave one regular epoch).
        warmup_momentum: momentum (Adam's beta1) at the start of warm-up.
        warmup_bias_lr: learning rate of biases at the start of warm-up (others start at 0).
        nominal_batch_size: accumulate gradients until this many samples per optimizer step (ramped
            from one batch during warm-up); null = step every batch.
        grad_clip_norm: clip the gradient norm before each optimizer step; null = no clipping.
        norm_lr_factor: learning rate of norm-layer weights (BatchNorm γ) = lr × this factor. Sparsity training
            uses it: γ starts at 1 and must travel to ≈ 0 within a short schedule while the rest of the network
            keeps the recipe's learning rate.
        channels_last: train convolutional models in the channels-last (NHWC) memory layout: the same
            computation, faster oneDNN kernels on CPU (YOLOv8n at 256 px, batch 16, 2 cores: a training step
            0.45 → 0.34 s pruned, 0.82 → 0.70 s unpruned, measured). A task applies it to its model with
            :meth:`use_memory_format` once the model exists; the teacher follows; the weights return to the
            standard layout at the end of ``fit`` (model files are saved contiguous).
    """

    def __init__(
        self,
        optimizer: OptimizerCallable = default_optimizer,
        weight_decay: float = 5e-4,
        lr_final_factor: float = 0.01,
        warmup_epochs: float = 3.0,
        warmup_momentum: float = 0.8,
        warmup_bias_lr: float = 0.0,
        nominal_batch_size: int | None = None,
        grad_clip_norm: float | None = 10.0,
        norm_lr_factor: float = 1.0,
        channels_last: bool = False,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.optimizer_factory = _SharedCallable(optimizer)
        self.weight_decay = weight_decay
        self.lr_final_factor = lr_final_factor
        self.warmup_epochs = warmup_epochs
        self.warmup_momentum = warmup_momentum
        self.warmup_bias_lr = warmup_bias_lr
        self.nominal_batch_size = nominal_batch_size
        self.grad_clip_norm = grad_clip_norm
        if norm_lr_factor <= 0:
            raise ValueError(f"norm_lr_factor must be > 0, got {norm_lr_factor}")
        self.norm_lr_factor = norm_lr_factor
        self.channels_last = channels_last
        self.teacher: nn.Module | None = None
        self.distill_terms = nn.ModuleList()  # holds the losses (their adapters are trainable)
        self._distill_specs: list[DistillTerm] = []
        self._last_opt_step = -1

    # ----------------------------------------------------------------- to implement in a task
    def task_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return (loss to back-propagate, detached items to log). Must run ``self.model`` forward."""
        raise NotImplementedError

    def model_inputs(self, batch: Any) -> Any:
        """What the teacher is called with (default: the batch itself)."""
        return batch

    def batch_size_of(self, batch: Any) -> int:
        if isinstance(batch, dict):
            batch = next(v for v in batch.values() if isinstance(v, torch.Tensor))
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        return int(batch.shape[0])

    def distill_scale(self, batch: Any) -> float:
        """Factor on Σ w·distill, to match how the task loss is reduced (ultralytics sums over the batch)."""
        return 1.0

    # ----------------------------------------------------------------- memory layout
    def use_memory_format(self, *modules: nn.Module) -> None:
        """Put ``modules`` (the task's model, at the end of its ``__init__``: before callbacks copy it, e.g. for
        weight averaging) in the channels-last layout when the recipe asks for it."""
        if self.channels_last:
            for m in modules:
                m.to(memory_format=torch.channels_last)

    def on_fit_end(self) -> None:
        if self.channels_last:  # model files and exports get the standard layout
            for m in self.modules():
                for p in [*m.parameters(recurse=False), *m.buffers(recurse=False)]:
                    if p.dim() == 4:
                        p.data = p.data.contiguous()

    # ----------------------------------------------------------------- distillation
    def set_teacher(self, teacher: nn.Module, terms: list[DistillTerm]) -> None:
        """Attach a frozen teacher and the distillation terms computed on named feature taps."""
        self.use_memory_format(teacher)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher
        self._distill_specs = list(terms)
        self.distill_terms = nn.ModuleList(t.loss for t in terms)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # a frozen teacher keeps its BatchNorm statistics
        return self

    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.teacher is None or not self._distill_specs:
            return self.task_loss(batch)
        from common.distill.taps import FeatureTaps

        with FeatureTaps(self.model, [t.student_tap for t in self._distill_specs]) as s_taps, \
                FeatureTaps(self.teacher, [t.teacher_tap for t in self._distill_specs]) as t_taps:
            loss, items = self.task_loss(batch)
            with torch.no_grad():
                self.teacher(self.model_inputs(batch))
            items = dict(items)
            total_distill = loss.new_zeros(())
            for i, term in enumerate(self._distill_specs):
                d = term.weight * term.loss(s_taps[term.student_tap], t_taps[term.teacher_tap])
                items[f"distill_{i}"] = d.detach()
                total_distill = total_distill + d
            loss = loss + total_distill * self.distill_scale(batch)
        return loss, items

    # ----------------------------------------------------------------- optimisation recipe
    def param_groups(self) -> list[dict]:
        """Weights with decay; biases and norm-layer weights without (teacher excluded)."""
        decay, no_decay_norm, bias = [], [], []
        teacher_ids = {id(p) for p in self.teacher.parameters()} if self.teacher is not None else set()
        for _, module in self.named_modules():
            for pname, p in module.named_parameters(recurse=False):
                if not p.requires_grad or id(p) in teacher_ids:
                    continue
                if pname == "bias":
                    bias.append(p)
                elif isinstance(module, NORM_TYPES):
                    no_decay_norm.append(p)
                else:
                    decay.append(p)
        return [
            {"params": decay, "weight_decay": self.weight_decay, "param_group": "weight"},
            {"params": no_decay_norm, "weight_decay": 0.0, "param_group": "norm"},
            {"params": bias, "weight_decay": 0.0, "param_group": "bias"},
        ]

    def configure_optimizers(self):
        groups = [g for g in self.param_groups() if g["params"]]
        opt = self.optimizer_factory(groups)
        for g in opt.param_groups:
            if g.get("param_group") == "norm" and "initial_lr" not in g:
                g["lr"] *= self.norm_lr_factor
            g.setdefault("initial_lr", g["lr"])
            if "betas" in g:
                g.setdefault("initial_momentum", g["betas"][0])
            elif "momentum" in g:
                g.setdefault("initial_momentum", g["momentum"])
        return opt

    def lr_factor(self, epoch: int) -> float:
        epochs = max(int(self.trainer.max_epochs or 1), 1)
        return max(1 - epoch / epochs, 0) * (1.0 - self.lr_final_factor) + self.lr_final_factor

    def accumulate_target(self, batch_size: int) -> int:
        if not self.nominal_batch_size:
            return 1
        acc = max(round(self.nominal_batch_size / (batch_size * max(self.trainer.world_size, 1))), 1)
        # never accumulate past the whole run (tiny runs would otherwise take no step at all)
        return min(acc, max(self.trainer.num_training_batches * int(self.trainer.max_epochs or 1), 1))

    def warmup_iterations(self) -> int:
        epochs = int(self.trainer.max_epochs or 1)
        warm = min(self.warmup_epochs, max(epochs - 1, 0))
        return round(warm * self.trainer.num_training_batches) if warm > 0 else 0

    @staticmethod
    def _set_momentum(group: dict, value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = value

    def on_train_epoch_start(self) -> None:
        factor = self.lr_factor(self.current_epoch)
        opt = self.optimizers()
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * factor

    def on_fit_start(self) -> None:
        self._last_opt_step = getattr(self, "_restored_opt_step", -1)

    # Resume (common.training.stage): the accumulation counter and the gradients accumulated since the last
    # optimizer step travel with the checkpoint, so a run resumed at an epoch boundary steps exactly where an
    # uninterrupted one would (accumulation windows span epochs).
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["edgerepro_last_opt_step"] = self._last_opt_step
        checkpoint["edgerepro_grads"] = {n: q.grad.detach().cpu() for n, q in self.named_parameters()
                                         if q.grad is not None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._restored_opt_step = int(checkpoint.get("edgerepro_last_opt_step", -1))
        self._restored_grads = checkpoint.get("edgerepro_grads") or {}

    def on_train_start(self) -> None:
        grads = getattr(self, "_restored_grads", None)
        if grads:
            params = dict(self.named_parameters())
            for n, g in grads.items():
                if n in params:
                    params[n].grad = g.to(params[n].device, params[n].dtype)
            self._restored_grads = {}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        nb = self.trainer.num_training_batches
        ni = batch_idx + nb * self.current_epoch
        acc0 = self.accumulate_target(self.batch_size_of(batch))
        accumulate = acc0
        nw = self.warmup_iterations()
        if nw and ni <= nw:
            accumulate = max(1, int(np.interp(ni, [0, nw], [1, acc0]).round()))
            factor = self.lr_factor(self.current_epoch)
            for g in opt.param_groups:
                start = self.warmup_bias_lr if g.get("param_group") == "bias" else 0.0
                g["lr"] = float(np.interp(ni, [0, nw], [start, g["initial_lr"] * factor]))
                if "initial_momentum" in g:
                    self._set_momentum(g, float(np.interp(ni, [0, nw], [self.warmup_momentum, g["initial_momentum"]])))

        loss, items = self.compute_loss(batch)
        if self.trainer.world_size > 1:
            loss = loss * self.trainer.world_size  # DDP averages gradients; keep the single-process scale
        self.manual_backward(loss)
        if ni - self._last_opt_step >= accumulate:
            if self.grad_clip_norm:
                self.clip_gradients(opt, gradient_clip_val=self.grad_clip_norm, gradient_clip_algorithm="norm")
            opt.step()
            opt.zero_grad(set_to_none=True)
            self._last_opt_step = ni

        bs = self.batch_size_of(batch)
        self.log("train/loss", loss.detach() / max(bs, 1), prog_bar=True, batch_size=bs)
        for k, v in items.items():
            self.log(f"train/{k}", v, batch_size=bs)
        self.log("train/lr", opt.param_groups[0]["lr"], batch_size=bs)
        return loss.detach()
