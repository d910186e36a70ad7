"""Stage ``train_teacher``: train the YOLOv8 baseline/teacher through LightningCLI
(``tasks/detection/configs/teacher.yaml`` + the profile's overrides) and save its EMA weights.

Writes ``data/detection/train_teacher/{model.pt, metrics.json, logs/metrics.csv, logs/config.yaml}``.
Checkpoints for ``--ckpt_path`` resume go to ``data/detection/runs/train_teacher`` (not DVC-tracked).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params

CONFIG = Path("tasks/detection/configs/teacher.yaml")


def cli_overrides(p: dict, data_dir: str) -> list[str]:
    out = [f"--trainer.max_epochs={p['epochs']}", f"--data.data_dir={data_dir}", f"--data.imgsz={p['imgsz']}",
           f"--data.batch_size={p['batch_size']}", f"--data.workers={p['workers']}",
           f"--data.close_mosaic={p['close_mosaic']}", f"--model.init_args.model_cfg={p['model_cfg']}",
           f"--model.init_args.warmup_epochs={p['warmup_epochs']}", f"--seed_everything={p['seed']}"]
    for key in ("accelerator", "devices", "num_nodes", "strategy", "precision"):
        if key in p:
            out.append(f"--trainer.{key}={p[key]}")
    return out


def run(params: dict, out_dir: str | Path, data_dir: str = "data/detection/prepare/dataset",
        runs_dir: str = "data/detection/runs/train_teacher") -> dict:
    from common.training.stage import fit_and_validate
    from tasks.detection.__main__ import main as cli_main
    from tasks.detection.yolo import save_model

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        overrides = cli_overrides(params, data_dir) + [f"--trainer.default_root_dir={runs_dir}"]
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), CONFIG, overrides, tmp / "logs",
                                        checkpoints_to=Path(runs_dir) / "checkpoints")
        save_model(tmp / "model.pt", cli.model.model, model_cfg=params["model_cfg"], imgsz=params["imgsz"])
        metrics.update({"model_cfg": params["model_cfg"], "imgsz": params["imgsz"]})
        atomic_write_json(tmp / "metrics.json", metrics)
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.train_teacher", description=__doc__)
    ap.add_argument("--out", default="data/detection/train_teacher")
    ap.add_argument("--data", default="data/detection/prepare/dataset")
    args = ap.parse_args(argv)
    print(run(stage_params("detection", "train_teacher"), args.out, args.data))


if __name__ == "__main__":
    main()
