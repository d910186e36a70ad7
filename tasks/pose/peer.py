"""Stage ``peer``: the model a user would pick instead of LitePose — ultralytics YOLOv8n-pose, built from its
YAML (random init, nothing downloaded) with the prepared data's joints (``kpt_shape`` and ``flip_idx`` of ``prepare``'s
``yolo/data.yaml``), trained by ultralytics' own trainer with its defaults (the way its users train it)
on the same prepared images and people, image size, epochs and batch as LitePose (read from section
``<profile>.train``: written once).

Writes ``data/pose/peer/{model.pt, metrics.json}``; ``model.pt`` is the ultralytics adapter's model file
(``common.adapters.ultralytics.save_model``: the shipped YAML's name, classes, keypoint shape and the state
dict — no model YAML, whose strings ultralytics' parser would evaluate). ``evaluate`` measures it like the
LitePose variants; :func:`export_peer_onnx` exports it with ultralytics' metadata (task, keypoint shape, names,
stride, input size), so ``YOLO("peer.onnx", task="pose").predict(image)`` and ``yolo val model=…`` load the ONNX
file with its joints.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageId, StageParams, load_params, main

DATA_DIR = "data/pose/prepare/dataset"


class Params(StageParams):
    model_cfg: str = Field("yolov8n-pose.yaml", pattern=r"^[A-Za-z0-9_.-]+-pose\.yaml$",
                           description="the peer's architecture: a pose model YAML shipped with ultralytics")
    workers: int = Field(2, ge=0, description="ultralytics' data-loader workers")


def export_peer_onnx(model, imgsz: int, path: str | Path, *, opset: int = 17, atol: float = 1e-3, sample=None,
                     **meta) -> dict:
    """The peer (an ultralytics pose model, fused, in eval mode) → ONNX at ``path`` (``common.export.onnx``: checked
    against PyTorch within ``atol``), carrying ultralytics' metadata (``export_metadata``: task ``pose``,
    ``kpt_shape``, names, stride, ``imgsz``; ``meta`` adds our keys, e.g. the variant and precision). Without it
    ultralytics cannot size the keypoint output of an ONNX model. ``sample``: the export's input (default
    ``torch.rand(1, 3, imgsz, imgsz)``). Returns the export facts."""
    import torch

    from common.adapters.ultralytics import InferenceWrapper, export_metadata
    from common.export.onnx import export_onnx, set_onnx_metadata

    sample = torch.rand(1, 3, imgsz, imgsz) if sample is None else sample
    facts = export_onnx(InferenceWrapper(model), sample, path, opset=opset, atol=atol)
    set_onnx_metadata(path, export_metadata(model, imgsz, **meta))
    return facts


def run(params: Params, out_dir: Path, data_dir: str = DATA_DIR) -> dict:
    import shutil
    import tempfile
    import time

    from common.adapters.ultralytics import save_model, ultralytics_train
    from common.io import atomic_dir, atomic_write_json
    from tasks.pose.train import Params as TrainParams
    from tasks.pose.train import budget

    litepose = budget(load_params(TrainParams, StageId("pose", "train")))  # the fair comparison's budget
    work = Path(tempfile.mkdtemp(prefix="edgerepro-pose-peer-"))
    try:
        t0 = time.perf_counter()
        yolo = ultralytics_train(Path(data_dir) / "yolo", work, params.model_cfg, task="pose",
                                 epochs=litepose["epochs"], imgsz=litepose["imgsz"], batch=litepose["batch_size"],
                                 workers=params.workers, seed=params.seed, deterministic=True, pretrained=False)
        train_s = time.perf_counter() - t0
        trainer = yolo.trainer
        model = (trainer.ema.ema if trainer.ema is not None else trainer.model).float().eval()
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
        args = trainer.args  # what ultralytics trained with
        doc = {"model_cfg": model.yaml["yaml_file"], "imgsz": int(args.imgsz), "epochs": int(args.epochs),
               "batch_size": int(args.batch), "train_seconds": train_s, "ultralytics_val": metrics}
        with atomic_dir(out_dir) as tmp:
            save_model(tmp / "model.pt", model, stage="peer", imgsz=doc["imgsz"])
            atomic_write_json(tmp / "metrics.json", doc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
