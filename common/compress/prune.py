"""Structured channel pruning through Torch-Pruning's dependency graph.

Channels are removed whole (conv out-channels together with every layer coupled to them: the
following BatchNorm, the next convs' in-channels, residual adds, concatenations), ranked by |γ| of
their BatchNorm (``tp.importance.BNScaleImportance``, network slimming's criterion). Two ways to pick
how many:

* ``mode="uniform"`` — the same ratio in every prunable layer (the detection paper's rule: the 50 %
  smallest-|γ| channels of *each* layer);
* ``mode="global"`` — one |γ| threshold over the whole network chosen so that ``ratio`` of all prunable
  channels go (network slimming's rule); ``max_layer_ratio`` keeps any layer from being emptied.

The caller names the layers whose output channels are part of the interface (classifier or detection
outputs) in ``ignored_layers``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from common.evaluate.profile import count_gflops, count_params

MODES = ("uniform", "global")


@dataclass
class PruneReport:
    mode: str
    ratio: float
    params_before: int
    params_after: int
    gflops_before: float
    gflops_after: float
    input_shape: list[int]
    channels: dict[str, list[int]] = field(default_factory=dict)  # conv name → [before, after] out-channels

    @property
    def params_ratio(self) -> float:
        return self.params_after / self.params_before

    @property
    def gflops_ratio(self) -> float:
        return self.gflops_after / self.gflops_before

    def to_dict(self) -> dict:
        return {**asdict(self), "params_ratio": self.params_ratio, "gflops_ratio": self.gflops_ratio}


IMPORTANCES = ("bn_scale", "random")


def kept_channels(before: nn.Module, after: nn.Module) -> list[int]:
    """Which output channels of ``before`` survive in ``after`` (the same block, pruned), in ``after``'s order.

    ``before`` / ``after``: the BatchNorm that normalises the block's output (or a module whose last BatchNorm, in
    registration order, is that one). Pruning copies the kept channels' (γ, β, running mean, running var)
    unchanged, so each pruned channel is found in the original by an exact match of those four values. Call it
    right after pruning (training changes them)."""
    import torch

    def last_bn(m: nn.Module):
        bns = [x for x in m.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)]
        if not bns:
            raise ValueError(f"{type(m).__name__} has no BatchNorm layer to match channels by")
        return bns[-1]

    b, a = last_bn(before), last_bn(after)
    key_b = torch.stack([b.weight, b.bias, b.running_mean, b.running_var], 1).detach()
    key_a = torch.stack([a.weight, a.bias, a.running_mean, a.running_var], 1).detach()
    out: list[int] = []
    for j, row in enumerate(key_a):
        hits = torch.nonzero((key_b == row).all(1)).flatten().tolist()
        free = [h for h in hits if h not in out]
        if not free:
            raise ValueError(f"pruned channel {j} matches no channel of the original block (was it trained after "
                             f"pruning?)")
        out.append(free[0])
    return out


def _out_channels(model: nn.Module) -> dict[str, int]:
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def prune_channels(model: nn.Module, example_inputs: torch.Tensor, ratio: float, *, mode: str = "uniform",
                   ignored_layers: Iterable[nn.Module] = (), round_to: int | None = 8,
                   max_layer_ratio: float = 0.9, forward_fn=None, importance: str = "bn_scale",
                   seed: int = 0) -> PruneReport:
    """Prune ``model`` in place; return params/GFLOPs before and after and the channels per conv.

    ``example_inputs`` trace the dependency graph (and count FLOPs); ``forward_fn(model, inputs)`` may
    adapt the call for models whose output is not a tensor (Torch-Pruning walks any nested output).
    ``importance``: ``bn_scale`` (|γ|, the method) or ``random`` (Torch-Pruning's ``RandomImportance`` seeded with
    ``seed``: the control that shows what the |γ| criterion is worth: same structure, channels chosen at random).
    """
    import torch_pruning as tp

    if mode not in MODES:
        raise ValueError(f"unknown pruning mode {mode!r}; expected one of {MODES}")
    if importance not in IMPORTANCES:
        raise ValueError(f"unknown channel importance {importance!r}; expected one of {IMPORTANCES}")
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    was_training = model.training
    model.eval()
    before_ch = _out_channels(model)
    params0, gflops0 = count_params(model), count_gflops(model, example_inputs)
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer: |γ| importance does not apply")
    # A parameter that no forward op touches (e.g. a frozen constant projection) would not be in the
    # graph; requires_grad does not matter to Torch-Pruning, but every prunable conv must be reachable.
    # raw |γ| (no per-group normalisation): a global threshold must compare γ across layers as they are
    if importance == "random":
        torch.manual_seed(seed)  # RandomImportance draws from torch's global generator
        imp = tp.importance.RandomImportance()
    else:
        imp = tp.importance.BNScaleImportance(normalizer=None)
    pruner = tp.pruner.MetaPruner(
        model, example_inputs, importance=imp,
        global_pruning=(mode == "global"), pruning_ratio=ratio,
        max_pruning_ratio=max_layer_ratio if mode == "global" else 1.0,
        ignored_layers=list(ignored_layers), round_to=round_to, forward_fn=forward_fn)
    pruner.step()
    after_ch = _out_channels(model)
    report = PruneReport(mode=mode, ratio=ratio, params_before=params0, params_after=count_params(model),
                         gflops_before=gflops0, gflops_after=count_gflops(model, example_inputs),
                         input_shape=list(example_inputs.shape),
                         channels={n: [before_ch[n], after_ch[n]] for n in after_ch if n in before_ch})
    model.train(was_training)
    return report
