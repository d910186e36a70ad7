"""Stage ``prune``: structured channel pruning of the sparsity-trained model by BatchNorm |γ|
(``common.compress.prune``; Torch-Pruning dependency graph; C2f blocks split first so the graph can
follow them; Detect's output convs and DFL kept). Default = the paper's rule: the ``ratio`` (50 %)
smallest-|γ| channels of every layer; ``mode: global`` = one threshold over the network.

Reads ``data/detection/sparse_train/model.pt``; writes ``data/detection/prune/{model.pt, prune.json}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

INPUT = "data/detection/sparse_train/model.pt"


class Params(StageParams):
    ratio: float = Field(0.5, gt=0, lt=1, description="share of channels removed (per layer, or overall in global mode)")
    mode: Literal["uniform", "global"] = Field("uniform", description="uniform: the paper's per-layer ratio; "
                                               "global: one |γ| threshold over the network (network slimming)")
    round_to: int | None = Field(8, ge=1, description="keep channel counts multiples of this")


def prune_model(model, imgsz: int, ratio: float, mode: str, round_to: int | None):
    """Split C2f, prune in place; return the report (params/GFLOPs before/after at ``imgsz``)."""
    import torch

    from common.adapters.ultralytics import prune_ignored_layers, split_c2f
    from common.compress.prune import prune_channels

    split_c2f(model)
    return prune_channels(model, torch.zeros(1, 3, imgsz, imgsz), ratio, mode=mode,
                          ignored_layers=prune_ignored_layers(model), round_to=round_to)


def run(params: Params, out_dir: Path, model_path: str | Path = INPUT) -> dict:
    from common.adapters.ultralytics import load_model, model_meta, save_model
    from common.io import atomic_dir, atomic_write_json

    model = load_model(model_path)
    imgsz = int(model_meta(model_path)["imgsz"])
    report = prune_model(model, imgsz, params.ratio, params.mode, params.round_to)
    with atomic_dir(out_dir) as tmp:
        save_model(tmp / "model.pt", model, stage="prune", imgsz=imgsz, pruned_from=str(model_path),
                   **report.to_dict())
        doc = {"input": str(model_path), **report.to_dict()}
        atomic_write_json(tmp / "prune.json", doc)
    print(f"pruned ({params.mode}, ratio {params.ratio}): params {report.params_before / 1e6:.3f}M → "
          f"{report.params_after / 1e6:.3f}M ({report.params_ratio:.3f}×), GFLOPs {report.gflops_before:.3f} → "
          f"{report.gflops_after:.3f} ({report.gflops_ratio:.3f}×) at {imgsz} px")
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
