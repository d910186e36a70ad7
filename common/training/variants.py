"""Stages that train several variants of one recipe (ablations, distillation settings) into one DVC output.

``train_variants`` writes ``<root>/<variant>/`` for every variant, all or none: a half-trained set never reaches
evaluation. Each variant resumes on its own after an interruption (``common.training.stage``: give each variant
its own resume folder, ``StageId(task, f"{section}.{variant}")``, and clear the stage's folder only once every
variant is done), so a rerun continues with the variant that was cut off, and the finished ones reload their
final checkpoint instead of training again.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from common.io import atomic_dir

V = TypeVar("V")


def train_variants(root: str | Path, variants: Mapping[str, V], train_one: Callable[[str, V, Path], dict]
                   ) -> dict[str, dict]:
    """``train_one(name, settings, out_dir)`` for each variant, into ``<root>/<name>``; returns their metrics."""
    results: dict[str, Any] = {}
    with atomic_dir(root) as tmp:
        for name, settings in variants.items():
            results[name] = train_one(name, settings, tmp / name)
    return results


def train_stage(stage, params, out_dir: str | Path, train_one: Callable[..., dict], variants: Mapping | None = None,
                classes: tuple = ()) -> dict:
    """A training stage: one network (``train_one(out_dir)``) or, when ``variants`` is given, each variant into
    ``<out_dir>/<name>`` (``train_one(dir, name, settings)``, all or nothing, every variant's LightningCLI keys
    checked against ``classes`` before the first trains); then the stage's resume folder is removed.
    ``stage``: its ``common.stage.StageId``."""
    from common.training.stage import check_variants, clear_scratch

    if variants:
        if classes:
            check_variants(variants, classes, (stage.params_file, [params.profile, *stage.section.split(".")]))
        result = train_variants(out_dir, variants, lambda name, settings, d: train_one(d, name, settings))
    else:
        result = train_one(out_dir)
    clear_scratch(stage)
    return result
