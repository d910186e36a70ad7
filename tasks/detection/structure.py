"""Stage ``structure``: the paper-scale structural check. Build the paper's model (YOLOv8m, 640×640,
random init — no training, no sparsity), prune it with the pipeline's rule and ratio (section ``prune``), and
record params and GFLOPs before/after, to compare with the paper's 25.85M → 6.85M and 49.6 → 13.3 GFLOPs.
Cheap on a CPU, so it runs in every profile.

GFLOPs here = 2 × multiply-accumulates counted by ``torch.utils.flop_counter`` (ultralytics' convention);
GMACs = GFLOPs / 2. Writes ``data/detection/structure/structure.json``.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageId, StageParams, load_params, main


class Params(StageParams):
    model_cfg: str = Field("yolov8m.yaml", description="the paper's architecture (a YAML ultralytics ships)")
    imgsz: int = Field(640, ge=32, description="input size of the count")
    nc: int = Field(10, ge=1, description="classes (VisDrone: 10)")


def run(params: Params, out_dir: Path) -> dict:
    import torch
    import torch_pruning as tp

    from common.adapters.ultralytics import build_model
    from common.io import atomic_dir, atomic_write_json
    from tasks.detection.prune import Params as PruneParams
    from tasks.detection.prune import prune_model

    rule = load_params(PruneParams, StageId("detection", "prune"))  # the pipeline's pruning rule
    torch.manual_seed(params.seed)
    model = build_model(params.model_cfg, params.nc)
    x = torch.zeros(1, 3, params.imgsz, params.imgsz)
    # a second, independent counter (Torch-Pruning's MAC count, thop's convention) beside torch's flop_counter
    tp_before, _ = tp.utils.count_ops_and_params(model.eval(), x)
    report = prune_model(model, params.imgsz, rule.ratio, rule.mode, rule.round_to)
    tp_after, _ = tp.utils.count_ops_and_params(model.eval(), x)
    doc = {"model_cfg": params.model_cfg, "imgsz": params.imgsz, **report.to_dict(),
           "gmacs_before": report.gflops_before / 2, "gmacs_after": report.gflops_after / 2,
           "tp_gmacs_before": tp_before / 1e9, "tp_gmacs_after": tp_after / 1e9,
           "flops_convention": "GFLOPs = 2 x GMACs, torch.utils.flop_counter, batch 1"}
    doc.pop("channels")
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "structure.json", doc)
    print(f"{params.model_cfg} @ {params.imgsz}: params {report.params_before / 1e6:.2f}M → "
          f"{report.params_after / 1e6:.2f}M, GFLOPs {report.gflops_before:.1f} → {report.gflops_after:.1f}")
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
