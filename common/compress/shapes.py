"""Save and load pruned models. A pruned model's layer widths no longer match the architecture it was
built from, so a checkpoint carries a *shape plan*: for every conv / linear / norm layer whose width
changed, its new width attributes. Loading rebuilds the architecture, applies the plan (re-allocating
the affected parameters and buffers) and then loads the state dict strictly.

Everything stored is plain ints, strings and tensors, so ``torch.load(..., weights_only=True)`` reads it.
(Torch-Pruning's own ``tp.state_dict`` pickles each module's ``__dict__``, which ``weights_only`` rejects.)
"""
from __future__ import annotations

import torch
from torch import nn

# width attributes a layer's forward or repr depends on
_WIDTH_ATTRS = {
    nn.modules.conv._ConvNd: ("in_channels", "out_channels", "groups"),
    nn.Linear: ("in_features", "out_features"),
    nn.modules.batchnorm._BatchNorm: ("num_features",),
    nn.GroupNorm: ("num_channels", "num_groups"),
    nn.LayerNorm: ("normalized_shape",),
}


def _attrs_of(module: nn.Module) -> tuple[str, ...]:
    for cls, attrs in _WIDTH_ATTRS.items():
        if isinstance(module, cls):
            return attrs
    return ()


def shape_plan(model: nn.Module) -> dict[str, dict]:
    """{module name: {attr: value}} for every layer with width attributes (JSON-able)."""
    plan = {}
    for name, m in model.named_modules():
        attrs = _attrs_of(m)
        if attrs:
            plan[name] = {a: (list(v) if isinstance(v, tuple) else v) for a in attrs for v in [getattr(m, a)]}
    return plan


def apply_shape_plan(model: nn.Module, plan: dict[str, dict], state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Resize ``model``'s layers to ``plan`` and the tensor shapes of ``state_dict``, then load it (strict)."""
    modules = dict(model.named_modules())
    unknown = sorted(set(plan) - set(modules))
    if unknown:
        raise KeyError(f"shape plan names modules the model does not have: {unknown[:10]} — was it built from "
                       "the same architecture (and the same block rewrites) as the saved model?")
    for name, attrs in plan.items():
        m = modules[name]
        for a, v in attrs.items():
            setattr(m, a, tuple(v) if isinstance(v, list) else v)
    for key, tensor in state_dict.items():
        mod_name, _, leaf = key.rpartition(".")
        m = modules.get(mod_name)
        if m is None:
            continue  # load_state_dict reports it
        current = getattr(m, leaf, None)
        if isinstance(current, torch.Tensor) and current.shape != tensor.shape:
            new = torch.empty(tensor.shape, dtype=current.dtype, device=current.device)
            if isinstance(current, nn.Parameter):
                setattr(m, leaf, nn.Parameter(new, requires_grad=current.requires_grad))
            else:
                m.register_buffer(leaf, new, persistent=leaf not in m._non_persistent_buffers_set)
    model.load_state_dict(state_dict, strict=True)
    return model
