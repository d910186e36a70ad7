"""Stage ``structure``: the paper-scale structural check. Build the paper's model (YOLOv8m, 640×640,
random init — no training, no sparsity), prune it with the configured rule and ratio, and record params
and GFLOPs before/after, to compare with the paper's 25.85M → 6.85M and 49.6 → 13.3 GFLOPs. Cheap on a
CPU, so it runs in every profile.

GFLOPs here = 2 × multiply-accumulates counted by ``torch.utils.flop_counter`` (ultralytics' convention);
GMACs = GFLOPs / 2. Writes ``data/detection/structure/structure.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common.io import atomic_dir, atomic_write_json, stage_params


def run(params: dict, out_dir: str | Path) -> dict:
    from tasks.detection.prune import prune_model
    from tasks.detection.yolo import build_model

    import torch_pruning as tp

    torch.manual_seed(params.get("seed", 0))
    model = build_model(params["model_cfg"], params.get("nc", 10))
    x = torch.zeros(1, 3, params["imgsz"], params["imgsz"])
    # a second, independent counter (Torch-Pruning's MAC count, thop's convention) beside torch's flop_counter
    tp_before, _ = tp.utils.count_ops_and_params(model.eval(), x)
    report = prune_model(model, params["imgsz"], params["ratio"], params["mode"], params.get("round_to"))
    tp_after, _ = tp.utils.count_ops_and_params(model.eval(), x)
    doc = {"model_cfg": params["model_cfg"], "imgsz": params["imgsz"], **report.to_dict(),
           "gmacs_before": report.gflops_before / 2, "gmacs_after": report.gflops_after / 2,
           "tp_gmacs_before": tp_before / 1e9, "tp_gmacs_after": tp_after / 1e9,
           "flops_convention": "GFLOPs = 2 x GMACs, torch.utils.flop_counter, batch 1"}
    doc.pop("channels")
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "structure.json", doc)
    print(f"{params['model_cfg']} @ {params['imgsz']}: params {report.params_before / 1e6:.2f}M → "
          f"{report.params_after / 1e6:.2f}M, GFLOPs {report.gflops_before:.1f} → {report.gflops_after:.1f}")
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.structure", description=__doc__)
    ap.add_argument("--out", default="data/detection/structure")
    args = ap.parse_args(argv)
    # the pruning rule and ratio of the pipeline, applied to the paper-scale model of `structure`
    run({**stage_params("detection", "prune"), **stage_params("detection", "structure")}, args.out)


if __name__ == "__main__":
    main()
