"""Stages that train several variants of one recipe (ablations, distillation settings) into one DVC output.

``train_variants`` writes ``<root>/<variant>/`` for every variant, all or none (a half-trained set never
reaches evaluation), and ``stage_main`` is the argparse entry of a ``python -m tasks.<task>.train <name>`` stage.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from common.io import atomic_dir


def train_variants(root: str | Path, variants: dict[str, dict | None], base: dict,
                   train_one: Callable[[dict, Path, str], dict]) -> dict[str, dict]:
    """``train_one(settings, out_dir, label)`` for each variant, its settings merged over ``base``."""
    results = {}
    with atomic_dir(root) as tmp:
        for variant, settings in variants.items():
            results[variant] = train_one({**base, **(settings or {})}, tmp / variant, variant)
    return results


def stage_main(task: str, doc: str, names: list[str], run: Callable[[str, dict, str, str | None], dict],
               argv=None) -> None:
    """``python -m tasks.<task>.train <name> [--out DIR] [--data DIR]`` with the profile's ``train`` params."""
    from common.io import stage_params

    ap = argparse.ArgumentParser(prog=f"python -m tasks.{task}.train", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(names))
    ap.add_argument("--out", help=f"output directory (default: data/{task}/train/<name>)")
    ap.add_argument("--data", default=f"data/{task}/prepare/dataset")
    args = ap.parse_args(argv)
    run(args.name, stage_params(task, "train"), args.data, args.out)
