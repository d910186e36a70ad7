"""Stage ``prune``: structured channel pruning of the sparsity-trained model by BatchNorm |γ|
(``common.compress.prune``; Torch-Pruning dependency graph; C2f blocks split first so the graph can
follow them; Detect's output convs and DFL kept). Default = the paper's rule: the ``ratio`` (50 %)
smallest-|γ| channels of every layer; ``mode: global`` = one threshold over the network.

Writes ``data/detection/prune/{model.pt, prune.json}``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common.io import atomic_dir, atomic_write_json, stage_params


def prune_model(model, imgsz: int, ratio: float, mode: str, round_to: int | None):
    """Split C2f, prune in place; return the report (params/GFLOPs before/after at ``imgsz``)."""
    from common.compress.prune import prune_channels
    from tasks.detection.yolo import prune_ignored_layers, split_c2f

    split_c2f(model)
    return prune_channels(model, torch.zeros(1, 3, imgsz, imgsz), ratio, mode=mode,
                          ignored_layers=prune_ignored_layers(model), round_to=round_to)


def run(params: dict, out_dir: str | Path, model_path: str | Path) -> dict:
    from tasks.detection.yolo import load_model, save_model

    model = load_model(model_path)
    report = prune_model(model, params["imgsz"], params["ratio"], params["mode"], params.get("round_to"))
    with atomic_dir(out_dir) as tmp:
        save_model(tmp / "model.pt", model, stage="prune", pruned_from=str(model_path), **report.to_dict())
        doc = {"input": str(model_path), **report.to_dict()}
        atomic_write_json(tmp / "prune.json", doc)
    print(f"pruned ({params['mode']}, ratio {params['ratio']}): params {report.params_before / 1e6:.3f}M → "
          f"{report.params_after / 1e6:.3f}M ({report.params_ratio:.3f}×), GFLOPs {report.gflops_before:.3f} → "
          f"{report.gflops_after:.3f} ({report.gflops_ratio:.3f}×) at {params['imgsz']} px")
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.prune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="data/detection/sparse_train/model.pt")
    ap.add_argument("--out", default="data/detection/prune")
    args = ap.parse_args(argv)
    run(stage_params("detection", "prune"), args.out, args.model)


if __name__ == "__main__":
    main()
