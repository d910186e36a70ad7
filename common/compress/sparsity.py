"""Network slimming (Liu et al., ICCV 2017): an L1 penalty λ·Σ|γ| on BatchNorm scale factors pushes the
γ of unimportant channels towards zero, so that pruning them by |γ| later costs little accuracy.

* :func:`bn_l1` — the penalty as a differentiable term, for modules that add it to their loss;
* :class:`BNSparsity` — a Lightning callback that adds the penalty's sub-gradient λ·sign(γ) to γ.grad
  after every backward pass (what the slimming reference code does), so *any* LightningModule gets sparsity
  training without changing its loss. Gradient clipping (if the recipe clips) then scales the penalty and the task
  gradient together, so their ratio, which decides which channels shrink, is λ's: added after clipping instead,
  the same λ shrank every |γ| alike and the detector collapsed (measured). λ follows a schedule over epochs; ``"paper"`` is the
  detection paper's (arXiv 2509.12918) s(e) = s0·(1 − 0.9·e/E).
* :func:`gamma_values` / :func:`gamma_stats` — the |γ| distribution (histograms in reports).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

BN_TYPES = (nn.modules.batchnorm._BatchNorm,)
SCHEDULES = ("constant", "paper")


def bn_layers(model: nn.Module, ignore: Iterable[nn.Module] = ()) -> list[tuple[str, nn.Module]]:
    """The affine BatchNorm layers of ``model`` (name, module), minus ``ignore``."""
    skip = {id(m) for m in ignore}
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, BN_TYPES) and m.affine and id(m) not in skip]


def bn_l1(model: nn.Module, ignore: Iterable[nn.Module] = ()) -> torch.Tensor:
    """Σ|γ| over the BatchNorm layers of ``model`` (a differentiable scalar)."""
    layers = bn_layers(model, ignore)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no affine BatchNorm layer: γ sparsity does not apply")
    return torch.stack([m.weight.abs().sum() for _, m in layers]).sum()


def sparsity_weight(s0: float, epoch: int, epochs: int, schedule: str = "paper") -> float:
    """λ at ``epoch`` (0-based) of ``epochs``: constant s0, or the paper's s0·(1 − 0.9·e/E)."""
    if schedule == "constant":
        return s0
    if schedule == "paper":
        return s0 * (1.0 - 0.9 * epoch / max(epochs, 1))
    raise ValueError(f"unknown sparsity schedule {schedule!r}; expected one of {SCHEDULES}")


@torch.no_grad()
def add_l1_subgradient(model: nn.Module, lam: float, ignore: Iterable[nn.Module] = ()) -> None:
    """γ.grad += λ·sign(γ): the sub-gradient of λ·Σ|γ|, added after ``backward``."""
    for _, m in bn_layers(model, ignore):
        if m.weight.requires_grad:
            if m.weight.grad is None:
                m.weight.grad = torch.zeros_like(m.weight)
            m.weight.grad.add_(torch.sign(m.weight), alpha=lam)


def gamma_values(model: nn.Module, ignore: Iterable[nn.Module] = ()) -> torch.Tensor:
    """All |γ| of ``model``'s BatchNorm layers as one flat tensor."""
    return torch.cat([m.weight.detach().abs().flatten().cpu() for _, m in bn_layers(model, ignore)])


def gamma_stats(model: nn.Module, ignore: Iterable[nn.Module] = (), thresholds=(1e-3, 1e-2, 1e-1)) -> dict:
    g = gamma_values(model, ignore)
    out = {"count": int(g.numel()), "mean": float(g.mean()), "median": float(g.median()), "l1": float(g.sum())}
    for t in thresholds:
        out[f"frac_below_{t:g}"] = float((g < t).float().mean())
    # relative to each layer's largest |γ|: a layer followed by another normalisation is free to shrink all its γ
    # together (the next BatchNorm undoes the scale), so absolute |γ| < t can mean "the whole layer is small";
    # per-layer pruning ranks channels within their layer, and this share is what it sees
    layers = [m.weight.detach().abs().flatten().cpu() for _, m in bn_layers(model, ignore)]
    rel = torch.cat([w / w.max().clamp_min(1e-12) for w in layers])
    out["frac_below_0.1_of_layer_max"] = float((rel < 0.1).float().mean())
    return out


class BNSparsity(Callback):
    """Sparsity training for any LightningModule: after each backward, γ.grad += λ(e)·sign(γ) on every
    BatchNorm of ``pl_module.<attr>`` (default: the module itself).

    Args:
        s0: initial sparsity rate λ (scale it to the loss: a loss summed over the batch, as ultralytics',
            needs a larger λ than a mean loss).
        schedule: ``"paper"`` (s0·(1 − 0.9·e/E), arXiv 2509.12918) or ``"constant"``.
        attr: attribute of the LightningModule holding the network to sparsify (e.g. ``model``), so that a
            frozen teacher or distillation adapters are left alone.
    """

    def __init__(self, s0: float = 5e-3, schedule: str = "paper", attr: str | None = "model"):
        if s0 < 0:
            raise ValueError(f"sparsity rate must be >= 0, got {s0}")
        sparsity_weight(s0, 0, 1, schedule)  # validates the schedule name
        self.s0, self.schedule, self.attr = s0, schedule, attr
        self.current = s0

    def _net(self, pl_module) -> nn.Module:
        return getattr(pl_module, self.attr) if self.attr else pl_module

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.current = sparsity_weight(self.s0, trainer.current_epoch, int(trainer.max_epochs or 1), self.schedule)

    def on_after_backward(self, trainer, pl_module) -> None:
        add_l1_subgradient(self._net(pl_module), self.current)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx % max(trainer.log_every_n_steps, 1) == 0:
            net = self._net(pl_module)
            pl_module.log("sparsity/lambda", self.current)
            pl_module.log("sparsity/gamma_l1", bn_l1(net).detach())
