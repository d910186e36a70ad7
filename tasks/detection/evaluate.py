"""Stage ``evaluate``: every exported model on its runtime (``common.runtime``: ONNX Runtime, OpenVINO, ncnn, …,
ours and ultralytics' exports of the baseline from the ``peer`` stage), each with its own accuracy — mAP50 and
mAP50-95 on the validation split at the trained size (ultralytics NMS, COCO AP by faster-coco-eval), the precision
its runtime actually used and, for ours, the drop vs the PyTorch model — and its latency (p50/p90, batch 1, at 1
and 2 threads, at the trained size and at each latency size such as the paper's 640 px) and peak memory, each in a
fresh process. Per variant: params, GFLOPs at each size and the PyTorch model's mAP.

Writes ``data/detection/evaluate/metrics.json``.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageParams, main

EXPORT_DIR = "data/detection/export"
DATA_DIR = "data/detection/prepare/dataset"
PEER_DIR = "data/detection/peer"


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


def torch_map(model, data_dir: str | Path, imgsz: int, desc: str = "mAP") -> dict:
    """mAP of a PyTorch YOLO model (eval mode, no EMA) on the validation split: the same measure as
    :func:`artifact_map`, for models that are not exported (the pruned model and its random-prune control)."""
    import torch

    from common.adapters.ultralytics import InferenceWrapper

    wrapper = InferenceWrapper(model.eval())
    with torch.no_grad():
        return val_map(wrapper, data_dir, imgsz, desc=desc)


def artifact_map(art, data_dir: str | Path, imgsz: int) -> dict:
    """mAP50 / mAP50-95 of one exported model (any ``common.runtime`` backend) on the validation split, and the
    precision its runtime actually computed in."""
    import torch

    from common.runtime import open_session, run_batched

    sess = open_session(art, imgsz, threads=2)
    batch = 8 if art.backend == "onnxruntime" else 1
    res = val_map(lambda img: torch.from_numpy(run_batched(sess, img.numpy(), batch)), data_dir, imgsz,
                  desc=f"mAP {art.key}" + ("" if art.producer == "edgerepro" else f" ({art.producer})"))
    return {**res, "precision_used": sess.precision_used}


def run(params: Params, out_dir: Path, export_dir: str | Path = EXPORT_DIR, data_dir: str | Path = DATA_DIR,
        peer_dir: str | Path | None = PEER_DIR) -> dict:
    import numpy as np
    import torch

    from common.adapters.ultralytics import load_model
    from common.evaluate.profile import count_gflops, count_params, hardware
    from common.io import atomic_dir, atomic_write_json, read_json
    from common.runtime import Artifact, measure, version

    np.random.seed(params.seed)
    manifest = read_json(Path(export_dir) / "manifest.json")
    imgsz, sizes = int(manifest["imgsz"]), [int(s) for s in manifest["latency_sizes"]]
    arts = [Artifact.from_dict(a) for a in manifest["artifacts"]]
    peer = read_json(Path(peer_dir) / "manifest.json") if peer_dir and (Path(peer_dir) / "manifest.json").exists() \
        else None
    if peer:
        arts += [Artifact.from_dict(a) for a in peer["artifacts"]]
    variants = {}
    for name, facts in manifest["variants"].items():
        model = load_model(facts["model"]).eval()
        rec = {"variant": name, "model": facts["model"], "params": count_params(model),
               "gflops": {str(s): count_gflops(model, torch.zeros(1, 3, s, s)) for s in sizes},
               "flops_convention": "2*MACs, torch.utils.flop_counter, batch 1",
               "pytorch": torch_map(model, data_dir, imgsz, desc=f"mAP {name} (PyTorch)")}
        rec["params_m"] = rec["params"] / 1e6
        variants[name] = rec
    rows = []
    with atomic_dir(out_dir) as tmp:
        for art in arts:
            row = {"key": art.key, "variant": art.name, "backend": art.backend, "precision": art.precision,
                   "producer": art.producer, "file_bytes": art.bytes(), "options": art.options}
            row.update(artifact_map(art, data_dir, imgsz))
            ref = variants.get(art.name, {}).get("pytorch")
            if ref and art.producer == "edgerepro":
                row["map50_drop_vs_pytorch_points"] = 100 * (ref["map50"] - row["map50"])
            row["latency"] = {}
            for size in sizes:
                m = measure(art, size, threads=tuple(params.threads), warmup=params.warmup, runs=params.runs)
                row["latency"][str(size)] = m
            row["peak_mem_mb"] = max(m["peak_mem_mb"] for m in row["latency"].values())
            rows.append(row)
            lat = {s: {t: round(v["p50"], 2) for t, v in m["latency_ms"].items()} for s, m in row["latency"].items()}
            print(f"{art.key} [{art.producer}, {row['precision_used']}]: mAP50 {row['map50']:.3f} "
                  f"mAP50-95 {row['map50_95']:.3f} p50 ms {lat} peak {row['peak_mem_mb']:.0f} MB")
        summary = {"hardware": {**hardware(), **{b: version(b) for b in
                                                  ("openvino", "ncnn", "litert", "tensorrt")}},
                   "imgsz": imgsz, "latency_sizes": sizes, "threads": list(params.threads),
                   "variants": variants, "runs": rows, "unavailable": manifest.get("unavailable", []),
                   "peer": {k: v for k, v in (peer or {}).items() if k != "artifacts"}}
        atomic_write_json(tmp / "metrics.json", summary)
    return summary


if __name__ == "__main__":
    main(__spec__.name, Params, run)
