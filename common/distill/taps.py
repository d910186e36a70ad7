"""Feature taps: capture the outputs of named sub-modules through forward hooks, so that a model never
knows it is being distilled (torchdistill's forward-hook idea, written small)."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class FeatureTaps:
    """Register forward hooks on ``names`` of ``model``; ``taps[name]`` is the latest output of that module.

    Use as a context manager or call :meth:`remove`. Names are ``model.named_modules()`` paths; a wrong
    name fails at once with the list of close matches.
    """

    def __init__(self, model: nn.Module, names: Iterable[str]):
        self.names = list(dict.fromkeys(names))
        modules = dict(model.named_modules())
        missing = [n for n in self.names if n not in modules]
        if missing:
            hint = sorted(modules)[:40]
            raise KeyError(f"no module named {missing} in {type(model).__name__}; module names start: {hint}")
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.names]

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            self.outputs[name] = output

        return hook

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.outputs:
            raise KeyError(f"tap {name!r} has not fired: run a forward pass first")
        return self.outputs[name]

    def clear(self) -> None:
        self.outputs.clear()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self.outputs.clear()

    def __enter__(self) -> FeatureTaps:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def tap_channels(model: nn.Module, names: Iterable[str], sample: torch.Tensor) -> dict[str, int]:
    """Channel count (dim 1) of each tapped output, from one forward pass on ``sample`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FeatureTaps(model, names) as taps:
            model(sample)
            return {n: int(taps[n].shape[1]) for n in taps.names}
    finally:
        model.train(was_training)
