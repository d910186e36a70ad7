"""Stage ``peer``: what a user would ship instead — ultralytics' own deployment of the *unpruned* baseline — and an
independent check of our mAP.

* The baseline (``train_teacher/model.pt``) is written as an ultralytics checkpoint (a scratch file of our own
  model, never a downloaded one) and exported by ultralytics' exporter, as its docs recommend: ``format="openvino"``
  (fp32 IR; OpenVINO picks its default inference precision at run time), ``format="openvino", int8=True`` (NNCF,
  calibrated on ``calibration_images`` training images: ``split="train"``, so the validation images stay unseen)
  and ``format="ncnn"``, each at the trained size and at every latency size (their graphs are static).
* Each export at the trained size is scored by ultralytics' own ``val`` on our validation split (conf 0.001, IoU
  0.7, batch 1), and so is our fp32 ONNX export of the baseline (``data/detection/export/baseline.onnx``): the
  independent check that our evaluation agrees with ultralytics' (within 1 mAP50 point).
* The exports are listed as ``common.runtime`` artifacts, so ``evaluate`` scores and times them with the same code
  as ours.

Writes ``data/detection/peer/{ultralytics/…, manifest.json}``; needs ``YOLO_OFFLINE=1`` / ``YOLO_AUTOINSTALL=0``
(set by ``common.adapters.ultralytics``): every package is installed, nothing downloads.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

BASELINE = "data/detection/train_teacher/model.pt"
OUR_ONNX = "data/detection/export/baseline.onnx"
DATA_DIR = "data/detection/prepare/dataset"


class Params(StageParams):
    calibration_images: int = Field(64, ge=1, description="training images ultralytics' INT8 export calibrates on "
                                                          "(the same count as ours)")
    latency_sizes: list[int] = Field([640], description="input sizes, besides the trained one, the exports are "
                                                        "timed at")
    formats: list[Literal["openvino", "openvino_int8", "ncnn"]] = Field(
        ["openvino", "openvino_int8", "ncnn"], min_length=1, description="ultralytics exports of the baseline")


def run(params: Params, out_dir: Path, baseline: str = BASELINE, our_onnx: str = OUR_ONNX,
        data_dir: str = DATA_DIR) -> dict:
    import json
    import shutil
    import tempfile

    import yaml

    from common.adapters.ultralytics import (export_with_ultralytics, load_model, make_view, model_meta,
                                             validate_with_ultralytics, write_checkpoint)
    from common.adapters.ultralytics import version as ultralytics_version
    from common.io import atomic_dir, atomic_write_json
    from common.runtime import Artifact

    imgsz = int(model_meta(baseline)["imgsz"])
    sizes = [imgsz, *[s for s in params.latency_sizes if s != imgsz]]
    spec = yaml.safe_load((Path(data_dir) / "data.yaml").read_text())
    n_train = len(list((Path(data_dir) / "images" / "train").iterdir()))
    fraction = min(1.0, params.calibration_images / max(n_train, 1))
    out_dir = Path(out_dir)
    view = make_view(Path(data_dir), ("train", "val"))
    work = Path(tempfile.mkdtemp(prefix="edgerepro-peer-"))
    try:
        data_yaml = work / "data.yaml"
        data_yaml.write_text(json.dumps({**spec, "path": str(view), "train": "images/train", "val": "images/val"}))
        pt = write_checkpoint(load_model(baseline), work / "baseline.pt", imgsz, data_yaml)
        exports = {"openvino": {"format": "openvino"}, "openvino_int8": {"format": "openvino", "int8": True,
                                                                          "data": str(data_yaml), "split": "train",
                                                                          "fraction": fraction},
                   "ncnn": {"format": "ncnn"}}
        exports = {k: v for k, v in exports.items() if k in params.formats}
        files: dict[str, dict[str, str]] = {k: {} for k in exports}
        with atomic_dir(out_dir) as tmp:
            for key, args in exports.items():
                for size in sizes:
                    src = export_with_ultralytics(pt, imgsz=size, batch=1, **args)
                    dst = tmp / "ultralytics" / f"{key}@{size}" / src.name  # ultralytics reads the format from it
                    shutil.copytree(src, dst)
                    shutil.rmtree(src)
                    main_file = next(dst.glob("*.xml")) if key.startswith("openvino") else dst / "model.ncnn.param"
                    files[key][str(size)] = str(out_dir / main_file.relative_to(tmp))
            scores = {}
            for key in exports:
                local = (tmp / Path(files[key][str(imgsz)]).relative_to(out_dir)).parent
                scores[key] = validate_with_ultralytics(local, data_yaml, imgsz, work)
                print(f"ultralytics {key} export of the baseline: ultralytics val mAP50 {scores[key]['map50']:.4f}")
            check = validate_with_ultralytics(our_onnx, data_yaml, imgsz, work)
            print(f"ultralytics val of our baseline.onnx: mAP50 {check['map50']:.4f}")
            precisions = {"openvino": ("openvino", "fp32"), "openvino_int8": ("openvino", "int8"),
                          "ncnn": ("ncnn", "fp32")}
            artifacts = [Artifact("baseline", backend, precision, files[key], producer="ultralytics",
                                  options={"export": key, "ultralytics_val": scores[key]}).to_dict()
                         for key, (backend, precision) in precisions.items() if key in exports]
            doc = {"imgsz": imgsz, "latency_sizes": sizes, "ultralytics": ultralytics_version(),
                   "calibration": {"split": "train", "fraction": fraction,
                                   "images": int(math.ceil(fraction * n_train))},
                   "ultralytics_val": scores, "our_onnx_ultralytics_val": {"file": our_onnx, **check},
                   "artifacts": artifacts}
            atomic_write_json(tmp / "manifest.json", doc)
    finally:
        shutil.rmtree(view, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
