"""Stage ``evaluate``: accuracy of every *exported* ONNX model (fp32 and INT8) (mAP50, mAP50-95 on the validation split,
onnxruntime CPU, ultralytics NMS, COCO AP by faster-coco-eval) and the on-device profile of each variant
(params, GFLOPs, ONNX size, latency p50/p90 at 1 and 2 threads, peak memory).

Writes ``data/detection/evaluate/{<variant>.json, metrics.json}``.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageParams, main

EXPORT_DIR = "data/detection/export"
DATA_DIR = "data/detection/prepare/dataset"


class Params(StageParams):
    warmup: int = Field(10, ge=0, description="untimed runs before timing")
    runs: int = Field(50, ge=1, description="timed runs per thread count")
    threads: list[int] = Field([1, 2], min_length=1, description="onnxruntime intra-op thread counts to time")


def val_map(predict, data_dir: str | Path, imgsz: int, batch_size: int = 8, desc: str = "mAP") -> dict:
    """COCO mAP50 / mAP50-95 on the validation split of ``predict(images) -> (B, 4 + nc, anchors)`` raw
    YOLO predictions, after ultralytics NMS. Used for ONNX models here and for PyTorch models in benchmarks."""
    import torch
    from tqdm import tqdm

    from tasks.detection.data import DetectionDataModule
    from tasks.detection.module import detections_to_preds, new_map_metric, targets_from_batch
    from common.adapters.ultralytics import nms

    dm = DetectionDataModule(str(data_dir), imgsz=imgsz, batch_size=batch_size, workers=0, validate_images=False)
    dm.setup("validate")
    metric = new_map_metric()
    try:
        with torch.no_grad():
            for batch in tqdm(dm.val_dataloader(), desc=desc):
                img = batch["img"].float() / 255
                metric.update(detections_to_preds(nms(predict(img))), targets_from_batch(batch, img.shape[0]))
    finally:
        dm.teardown()
    res = metric.compute()
    return {"map50": float(res["map_50"]), "map50_95": float(res["map"])}


def onnx_map(onnx_path: str | Path, data_dir: str | Path, imgsz: int) -> dict:
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return val_map(lambda img: torch.from_numpy(sess.run(None, {name: img.numpy()})[0]), data_dir, imgsz,
                   desc=f"mAP {Path(onnx_path).name}")


def run(params: Params, out_dir: Path, export_dir: str | Path = EXPORT_DIR, data_dir: str | Path = DATA_DIR) -> dict:
    import numpy as np

    from common.adapters.ultralytics import load_model
    from common.evaluate.profile import hardware, profile_variant
    from common.io import atomic_dir, atomic_write_json, read_json

    np.random.seed(params.seed)
    manifest = read_json(Path(export_dir) / "manifest.json")
    imgsz = int(next(iter(manifest.values()))["imgsz"])
    summary = {"hardware": hardware(), "imgsz": imgsz, "variants": {}}
    with atomic_dir(out_dir) as tmp:
        for name, entry in manifest.items():
            onnx_path = Path(export_dir) / Path(entry["onnx"]).name
            rec = {"variant": name, "precision": entry.get("precision", "fp32"),
                   "max_abs_diff_export": entry.get("max_abs_diff")}  # INT8 is judged by its mAP, not by a diff
            rec.update(onnx_map(onnx_path, data_dir, imgsz))
            model = load_model(entry["model"])
            rec.update(profile_variant(model, onnx_path, [1, 3, imgsz, imgsz], threads=tuple(params.threads),
                                       warmup=params.warmup, runs=params.runs))
            rec["params_m"] = rec["params"] / 1e6
            for t, lat in rec["latency_ms"].items():
                rec[f"latency_ms_t{t}"] = lat["p50"]
            atomic_write_json(tmp / f"{name}.json", rec)
            summary["variants"][name] = rec
            print(f"{name}: mAP50 {rec['map50']:.3f} mAP50-95 {rec['map50_95']:.3f} params {rec['params_m']:.2f}M "
                  f"GFLOPs {rec['gflops']:.2f} latency p50 {rec['latency_ms']}")
        atomic_write_json(tmp / "metrics.json", summary)
    return summary


if __name__ == "__main__":
    main(__spec__.name, Params, run)
