"""Stage ``prune``: structured channel pruning of the sparsity-trained model by BatchNorm |γ|
(``common.compress.prune``; Torch-Pruning dependency graph; C2f blocks split first so the graph can
follow them; Detect's output convs and DFL kept). Default = the paper's rule: the ``ratio`` (50 %)
smallest-|γ| channels of every layer; ``mode: global`` = one threshold over the network.

Two facts for the next stages and the report:

* ``kept_channels``: for each neck output that feeds Detect (the CWD taps), which of the parent's channels the
  pruned model kept, so ``distill`` compares each student channel with the teacher channel it came from (no
  randomly initialised adapter);
* the **random-prune control**: the same model pruned to the same structure with channels chosen at random
  (``control_seeds`` draws), and the validation mAP of both *before* fine-tuning: what the |γ| criterion, and so
  sparsity training, is worth. Each pruned model is scored as cut and again after re-estimating its BatchNorm
  statistics on ``recalibrate_images`` training images (adaptive BN, Li et al., EagleEye, ECCV 2020; no weight
  changes): removing half of a layer's channels shifts the next layers' activation statistics, and a YOLOv8n
  cut by 50 % per layer scores mAP50 ≈ 0 as cut whatever the channel choice (measured), so the raw numbers cannot
  tell the criteria apart. Both arms get the same recalibration; the saved model is the model as cut.

Reads ``data/detection/sparse_train/model.pt``; writes ``data/detection/prune/{model.pt, prune.json}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

INPUT = "data/detection/sparse_train/model.pt"
DATA_DIR = "data/detection/prepare/dataset"


class Params(StageParams):
    ratio: float = Field(0.5, gt=0, lt=1, description="share of channels removed (per layer, or overall in global mode)")
    mode: Literal["uniform", "global"] = Field("uniform", description="uniform: the paper's per-layer ratio; "
                                               "global: one |γ| threshold over the network (network slimming)")
    round_to: int | None = Field(8, ge=1, description="keep channel counts multiples of this")
    control_seeds: int = Field(3, ge=0, description="random-prune control: draws of random channel choice "
                                                    "(0 = no control)")
    recalibrate_images: int = Field(128, ge=0, description="training images (letterboxed, no augmentation) that "
                                    "re-estimate BatchNorm statistics of each pruned model before it is scored a "
                                    "second time (adaptive BN); 0 = score as cut only")


def prune_model(model, imgsz: int, ratio: float, mode: str, round_to: int | None, importance: str = "bn_scale",
                seed: int = 0):
    """Split C2f, prune in place; return the report (params/GFLOPs before/after at ``imgsz``)."""
    import torch

    from common.adapters.ultralytics import prune_ignored_layers, split_c2f
    from common.compress.prune import prune_channels

    split_c2f(model)
    return prune_channels(model, torch.zeros(1, 3, imgsz, imgsz), ratio, mode=mode,
                          ignored_layers=prune_ignored_layers(model), round_to=round_to, importance=importance,
                          seed=seed)


def recalibrate_bn(model, images, batch: int = 16):
    """Re-estimate every BatchNorm's running statistics of ``model`` on ``images`` (N, 3, H, W) in [0, 1]: a
    cumulative average over the batches (``torch.optim.swa_utils.update_bn``); weights are not touched."""
    import torch
    from torch.optim.swa_utils import update_bn

    with torch.no_grad():
        update_bn(list(images.split(batch)), model)
    return model.eval()


def detect_taps(model) -> list[str]:
    """The module names of the neck outputs that feed Detect (P3/P4/P5): the CWD taps."""
    return [f"model.{i}" for i in model.model[-1].f]


def run(params: Params, out_dir: Path, model_path: str | Path = INPUT, data_dir: str | Path = DATA_DIR) -> dict:
    import copy

    from common.adapters.ultralytics import load_model, model_meta, save_model
    from common.compress.prune import kept_channels
    from common.io import atomic_dir, atomic_write_json
    from tasks.detection.evaluate import torch_map

    parent = load_model(model_path)
    imgsz = int(model_meta(model_path)["imgsz"])
    model = copy.deepcopy(parent)
    report = prune_model(model, imgsz, params.ratio, params.mode, params.round_to)
    # a tap's output is its C2f block's output conv (cv2): match channels by that conv's BatchNorm
    kept = {t: kept_channels(parent.get_submodule(f"{t}.cv2.bn"), model.get_submodule(f"{t}.cv2.bn"))
            for t in detect_taps(parent)}
    calib = None
    if params.recalibrate_images:
        from tasks.detection.data import letterboxed_images

        calib = letterboxed_images(data_dir, "train", imgsz, params.recalibrate_images)

    def score(m, desc: str) -> dict:
        out = torch_map(m, data_dir, imgsz, desc=desc)
        if calib is not None:
            out["recalibrated"] = torch_map(recalibrate_bn(copy.deepcopy(m), calib), data_dir, imgsz,
                                            desc=f"{desc}, BN recalibrated")
        return out

    before = {"parent": torch_map(parent, data_dir, imgsz, desc="mAP parent"),
              "bn_scale": score(model, "mAP |γ|-pruned")}
    control = []
    for k in range(params.control_seeds):
        rnd = copy.deepcopy(parent)
        rep = prune_model(rnd, imgsz, params.ratio, params.mode, params.round_to, importance="random",
                          seed=params.seed + k)
        if rep.params_after != report.params_after:  # same structure, or the control compares other things
            raise RuntimeError(f"random pruning gave {rep.params_after} params, |γ| pruning {report.params_after}")
        control.append({"seed": params.seed + k, **score(rnd, f"mAP random-pruned {k}")})
    with atomic_dir(out_dir) as tmp:
        save_model(tmp / "model.pt", model, stage="prune", imgsz=imgsz, pruned_from=str(model_path),
                   **report.to_dict())
        doc = {"input": str(model_path), **report.to_dict(), "kept_channels": kept,
               "before_finetune": {**before, "random": control,
                                   "recalibrate_images": int(calib.shape[0]) if calib is not None else 0}}
        atomic_write_json(tmp / "prune.json", doc)
    print(f"pruned ({params.mode}, ratio {params.ratio}): params {report.params_before / 1e6:.3f}M → "
          f"{report.params_after / 1e6:.3f}M ({report.params_ratio:.3f}×), GFLOPs {report.gflops_before:.3f} → "
          f"{report.gflops_after:.3f} ({report.gflops_ratio:.3f}×) at {imgsz} px; mAP50 before fine-tuning: "
          f"parent {before['parent']['map50']:.3f}, |γ| {before['bn_scale']['map50']:.3f}, random "
          f"{[round(c['map50'], 3) for c in control]}"
          + (f"; after BN recalibration: |γ| {before['bn_scale']['recalibrated']['map50']:.3f}, random "
             f"{[round(c['recalibrated']['map50'], 3) for c in control]}" if calib is not None else ""))
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
