"""Stage ``peer``: the model a user would pick instead of LitePose — ultralytics YOLOv8n-pose, built from its
YAML (random init, nothing downloaded) with our 14 joints, trained by ultralytics' own trainer with its
defaults (the way its users train it) on the same synthetic set, image size and epochs as LitePose.

Writes ``data/pose/peer/{model.pt, metrics.json}``; ``model.pt`` holds the architecture YAML and the
state dict (loadable with ``weights_only=True``). ``evaluate`` measures it like the LitePose variants.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, stage_params

FORMAT = "edgerepro.yolov8-pose.v1"


def load_peer(path: str | Path):
    """The trained YOLOv8-pose (``ultralytics.nn.tasks.PoseModel``) in eval mode."""
    from tasks.detection.yolo import DetectionModel  # noqa: F401  (configures ultralytics offline first)
    from ultralytics.nn.tasks import PoseModel

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not an edgerepro YOLOv8-pose file (expected format {FORMAT})")
    model = PoseModel(ckpt["yaml"], nc=1, data_kpt_shape=tuple(ckpt["yaml"]["kpt_shape"]), verbose=False)
    model.load_state_dict(ckpt["state_dict"])
    return model.float().eval()


def run(params: dict, out_dir: str | Path, data_dir: str = "data/pose/prepare/dataset") -> dict:
    from tasks.detection.data import make_view
    from tasks.detection.yolo import YOLO_CONFIG_DIR  # noqa: F401  (configures ultralytics offline first)
    from ultralytics import YOLO

    src = Path(data_dir) / "yolo"
    spec = json.loads((src / "data.yaml").read_text())
    view = make_view(src, ("train", "val"))  # ultralytics writes its label cache beside the labels
    work = Path(tempfile.mkdtemp(prefix="edgerepro-pose-peer-"))
    try:
        (work / "data.yaml").write_text(json.dumps({**spec, "path": str(view)}))
        yolo = YOLO(params.get("model_cfg", "yolov8n-pose.yaml"), task="pose")
        t0 = time.perf_counter()
        yolo.train(data=str(work / "data.yaml"), epochs=params["epochs"], imgsz=params["imgsz"],
                   batch=params["batch_size"], workers=params["workers"], seed=params.get("seed", 0),
                   deterministic=True, device="cpu", amp=False, plots=False, verbose=False, pretrained=False,
                   project=str(work), name="run", exist_ok=True)
        train_s = time.perf_counter() - t0
        trainer = yolo.trainer
        model = (trainer.ema.ema if trainer.ema is not None else trainer.model).float().eval()
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
    finally:
        shutil.rmtree(view, ignore_errors=True)
    with atomic_dir(out_dir) as tmp:
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "yaml": dict(model.yaml), "state_dict": model.state_dict()}, buf)
        atomic_write_bytes(tmp / "model.pt", buf.getvalue())
        doc = {"model_cfg": params.get("model_cfg", "yolov8n-pose.yaml"), "imgsz": params["imgsz"],
               "epochs": params["epochs"], "batch_size": params["batch_size"], "train_seconds": train_s,
               "ultralytics_val": metrics}
        atomic_write_json(tmp / "metrics.json", doc)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: v for k, v in doc.items() if k != "ultralytics_val"}))
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.pose.peer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/pose/peer")
    ap.add_argument("--data", default="data/pose/prepare/dataset")
    args = ap.parse_args(argv)
    run({**stage_params("pose", "train"), **stage_params("pose", "peer")}, args.out, args.data)


if __name__ == "__main__":
    main()
