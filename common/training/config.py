"""The training part of a stage's parameters: a LightningCLI configuration, written once in ``params.yaml``.

A training stage's section holds ``config:``, a piece of LightningCLI configuration (``trainer`` / ``model`` /
``data``, the same keys as ``configs/*.yaml`` and the ``--trainer.max_epochs``-style options) that is layered
over the stage's ``configs/*.yaml``. No table maps parameter names to option strings: the value in
``params.yaml`` *is* the option. The configs hold the recipe every profile shares; ``params.yaml`` holds what a
profile changes (epochs, batch size, image size, devices …); a key is set in one of the two, never both
(``tests/test_params.py``). Variants (ablations) are more configuration merged over the stage's.

Validation happens twice, both before any data is read: the keys below with pydantic when the parameters are
loaded (before torch is imported), then the whole configuration by LightningCLI's own parser, which knows every
class signature (an unknown or mistyped key, a wrong type, an out-of-range value declared by the module) —
its errors are reported with the file, line and key path in ``params.yaml`` (``common.training.stage``).
"""
from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LightningConfig", "TrainerConfig", "deep_merge", "check_variant_names"]


class TrainerConfig(BaseModel):
    """``trainer:`` options a profile sets. Others (``precision``, ``strategy`` …) pass to LightningCLI, which
    checks them against ``lightning.Trainer``'s signature."""

    model_config = ConfigDict(extra="allow", frozen=True)

    max_epochs: int | None = Field(None, ge=1, description="training epochs (≥ 1; Lightning reads -1 as 'forever')")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (instead of epochs)")
    limit_train_batches: int | float | None = Field(None, gt=0, description="batches per epoch (int) or share (float)")
    check_val_every_n_epoch: int | None = Field(None, ge=1)
    accelerator: str | None = Field(None, description="cpu | gpu | auto …")
    devices: int | str | list[int] | None = Field(None, description="device count or ids")
    num_nodes: int | None = Field(None, ge=1)


class LightningConfig(BaseModel):
    """A LightningCLI configuration fragment: ``trainer``, ``model`` (``init_args`` of the stage's module),
    ``data`` (the datamodule's arguments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: TrainerConfig = TrainerConfig()
    model: dict[str, Any] = Field(default_factory=dict, description="{init_args: {...}} of the LightningModule")
    data: dict[str, Any] = Field(default_factory=dict, description="the LightningDataModule's arguments")

    def as_dict(self) -> dict:
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if v}

    def merged(self, *others: LightningConfig | dict | None) -> LightningConfig:
        out = self.as_dict()
        for o in others:
            if o is not None:
                out = deep_merge(out, o.as_dict() if isinstance(o, LightningConfig) else o)
        return LightningConfig.model_validate(out)


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` layered on ``base``: nested mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def check_variant_names(variants: dict, what: str = "variant", required: str | None = None,
                        reserved: dict[str, str] | None = None) -> dict:
    """Variant (run) names become folder names: letters, digits and ``_`` only. ``required``: a name downstream
    stages read; ``reserved``: names taken by something else, with the reason. For pydantic field validators."""
    import re

    bad = [n for n in variants if not re.fullmatch(r"[A-Za-z0-9_]+", str(n))]
    if bad:
        raise ValueError(f"{what} names are folder names (letters, digits, _), got {bad}")
    if required is not None and required not in variants:
        raise ValueError(f"the {what}s must include {required!r}")
    for name, why in (reserved or {}).items():
        if name in variants:
            raise ValueError(f"`{name}` {why}; call the {what} otherwise")
    return variants
