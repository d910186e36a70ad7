"""Root stage ``tasks/detection``: render ``reports/detection.{md,json,png}`` from ``data/detection/evaluate``
and ``tasks/detection/paper.yaml``.

Derived metrics compare the compressed variant (``pruned+cwd`` when it exists) to ``baseline``; a claim
whose variant has not been produced yet is reported as not measurable at this profile.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_write_bytes, project_params, read_json
from common.reports.render import line_plot, read_epoch_metrics, render_task_report
from common.reports.schema import load_paper

COMPRESSED = "pruned+cwd"
COLUMNS = [("params_m", "Params (M)", ".3f"), ("gflops", "GFLOPs", ".3f"), ("map50", "mAP50", ".3f"),
           ("map50_95", "mAP50-95", ".3f"), ("latency_ms_t1", "ONNX CPU p50 1 thr (ms)", ".2f"),
           ("latency_ms_t2", "ONNX CPU p50 2 thr (ms)", ".2f"), ("onnx_mb", "ONNX (MB)", ".2f"),
           ("peak_mem_mb", "Peak mem (MB)", ".0f")]


def derive(variants: dict[str, dict]) -> dict:
    out = {}
    base = variants.get("baseline")
    if base:
        out["baseline_map50"] = base["map50"]
    comp = variants.get(COMPRESSED)
    if base and comp:
        out["params_reduction"] = 1 - comp["params"] / base["params"]
        out["gflops_reduction"] = 1 - comp["gflops"] / base["gflops"]
        out["ap50_drop_points"] = 100 * (base["map50"] - comp["map50"])
        out["speedup_onnx_cpu_t1"] = base["latency_ms_t1"] / comp["latency_ms_t1"]
    return out


def training_section(csv_path: Path, out_dir: Path) -> list[str]:
    """Teacher training curves (loss per epoch, validation mAP) → ``<out>/detection_training.png``."""
    curves = read_epoch_metrics(csv_path)
    loss = {k: curves[k] for k in ("train/loss", "train/box", "train/cls", "train/dfl") if k in curves}
    val = {k: curves[k] for k in ("val/map50", "val/map50_95") if k in curves}
    png = line_plot(loss, "epoch", "training loss (per image)", "detection teacher: training curves",
                    secondary=val, secondary_label="validation mAP")
    atomic_write_bytes(out_dir / "detection_training.png", png)
    return ["## Training", "", "Teacher (baseline) loss per epoch and validation mAP (PyTorch, EMA weights), "
            "from the stage's Lightning CSV log.", "", "![training curves](detection_training.png)", ""]


def run(evaluate_dir: str | Path = "data/detection/evaluate", train_dir: str | Path = "data/detection/train_teacher",
        out_dir: str | Path = "reports") -> dict:
    summary = read_json(Path(evaluate_dir) / "metrics.json")
    train = read_json(Path(train_dir) / "metrics.json")
    variants = {}
    for name, rec in summary["variants"].items():
        v = dict(rec)
        v["onnx_mb"] = v["onnx_bytes"] / 2**20
        variants[name] = v
    paper = load_paper("tasks/detection/paper.yaml")
    profile = project_params()["profile"]
    notes = [
        f"Baseline: {train['model_cfg']} at {train['imgsz']} px trained {train['epochs']} epochs "
        f"({train['optimizer_steps']} optimizer steps, {train['train_seconds'] / 60:.1f} min) through the "
        "Lightning module; its Lightning validation (PyTorch, EMA weights) gave "
        f"mAP50 {train.get('val/map50', float('nan')):.3f}; the table above is the exported ONNX model.",
        "mAP: COCO-style AP (faster-coco-eval via torchmetrics) after ultralytics NMS (conf 0.001, IoU 0.7), "
        "on the validation split.",
        f"Latency: onnxruntime CPU, batch 1, input {variants[next(iter(variants))]['input_shape']}, p50 of timed "
        "runs after warm-up; peak memory = peak RSS added by the session, in a fresh process.",
    ]
    if COMPRESSED not in variants:
        notes.append(f"The compressed variant ({COMPRESSED}) is not produced by the pipeline yet: compression "
                     "claims are not measurable at this stage.")
    extra = training_section(Path(train_dir) / "logs" / "metrics.csv", Path(out_dir))
    return render_task_report(task="detection", paper=paper, profile=profile, hardware=summary["hardware"],
                              variants=variants, derived=derive(variants), columns=COLUMNS,
                              plot={"x": "latency_ms_t1", "y": "map50", "xlabel": "ONNX CPU latency, 1 thread (ms)",
                                    "ylabel": "mAP50"},
                              out_dir=out_dir, notes=notes, extra_sections=extra)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.report", description=__doc__)
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    run(out_dir=args.out)


if __name__ == "__main__":
    main()
