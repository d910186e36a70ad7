"""Training stages of the detection pipeline, all through LightningCLI with the teacher's recipe
(``configs/teacher.yaml``) plus a stage config layered on top:

=============== ============================== ===================================================
stage           configs                        starts from / adds
=============== ============================== ===================================================
train_teacher   teacher.yaml                   YOLOv8 from its YAML (the baseline and CWD teacher)
sparse_train    teacher.yaml + sparse.yaml     the teacher; + λ(e)·Σ|γ| (``common.compress.sparsity``)
finetune        teacher.yaml + finetune.yaml   the pruned model; detection loss only (ablation row)
distill         teacher.yaml + distill.yaml    the pruned model; + CWD from the unpruned teacher
=============== ============================== ===================================================

``python -m tasks.detection.train <stage>`` reads section ``<profile>.<stage>`` of
``tasks/detection/params.yaml`` and writes ``data/detection/<stage>/{model.pt, metrics.json, logs/}``
(``sparse_train`` adds ``gamma.json`` and ``gamma_hist.png``). Checkpoints for ``--ckpt_path`` resume go
to ``data/detection/runs/<stage>`` (not DVC-tracked).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, stage_params

CONFIGS = Path("tasks/detection/configs")
DATA = "data/detection"
STAGES = {
    "train_teacher": {"configs": ["teacher.yaml"], "init": None, "teacher": None},
    "sparse_train": {"configs": ["teacher.yaml", "sparse.yaml"], "init": f"{DATA}/train_teacher/model.pt",
                     "teacher": None},
    "finetune": {"configs": ["teacher.yaml", "finetune.yaml"], "init": f"{DATA}/prune/model.pt", "teacher": None},
    "distill": {"configs": ["teacher.yaml", "distill.yaml"], "init": f"{DATA}/prune/model.pt",
                "teacher": f"{DATA}/train_teacher/model.pt"},
}
# stage param → LightningCLI option
OPTIONS = {
    "epochs": "trainer.max_epochs", "imgsz": "data.imgsz", "batch_size": "data.batch_size",
    "workers": "data.workers", "close_mosaic": "data.close_mosaic", "model_cfg": "model.init_args.model_cfg",
    "warmup_epochs": "model.init_args.warmup_epochs", "nominal_batch_size": "model.init_args.nominal_batch_size",
    "lr": "model.init_args.optimizer.init_args.lr", "cwd_tau": "model.init_args.cwd_tau",
    "cwd_weight": "model.init_args.cwd_weight", "seed": "seed_everything",
    "accelerator": "trainer.accelerator", "devices": "trainer.devices", "num_nodes": "trainer.num_nodes",
    "strategy": "trainer.strategy", "precision": "trainer.precision",
}
SPARSITY = {"s0": "s0", "schedule": "schedule"}  # → the BNSparsity callback (sparse_train only)


def cli_overrides(stage: str, p: dict, data_dir: str, init: str | None, teacher: str | None) -> list[str]:
    out = [f"--data.data_dir={data_dir}"]
    out += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p]
    if init:
        out.append(f"--model.init_args.init_weights={init}")
    if teacher:
        out.append(f"--model.init_args.teacher_weights={teacher}")
    if stage == "sparse_train":
        # applies to the last callback of sparse.yaml, BNSparsity
        out += [f"--trainer.callbacks.{arg}={p[key]}" for key, arg in SPARSITY.items() if key in p]
    return out


def gamma_report(before, after, tmp: Path) -> dict:
    from common.compress.sparsity import gamma_stats, gamma_values
    from common.reports.render import histogram_plot

    stats = {"before": gamma_stats(before), "after": gamma_stats(after)}
    png = histogram_plot({"teacher (before)": gamma_values(before).numpy(),
                          "after sparsity training": gamma_values(after).numpy()},
                         xlabel="|γ| of BatchNorm channels", title="BatchNorm scale factors", log_y=True)
    atomic_write_bytes(tmp / "gamma_hist.png", png)
    atomic_write_json(tmp / "gamma.json", stats)
    return stats


def run(stage: str, params: dict, out_dir: str | Path, data_dir: str = f"{DATA}/prepare/dataset",
        init: str | None = None, teacher: str | None = None) -> dict:
    from common.training.stage import fit_and_validate
    from tasks.detection.__main__ import main as cli_main
    from tasks.detection.yolo import load_model, save_model

    if stage not in STAGES:
        raise SystemExit(f"unknown training stage {stage!r}; expected one of {sorted(STAGES)}")
    spec = STAGES[stage]
    init = init or spec["init"]
    teacher = teacher or spec["teacher"]
    for path in (init, teacher):
        if path and not Path(path).is_file():
            raise SystemExit(f"{path}: input model not found — run the stage that writes it first "
                             f"(`dvc repro tasks/detection/dvc.yaml:{Path(path).parent.name}`)")
    out_dir = Path(out_dir)
    runs_dir = Path(DATA) / "runs" / stage
    configs = [CONFIGS / c for c in spec["configs"]]
    with atomic_dir(out_dir) as tmp:
        overrides = cli_overrides(stage, params, data_dir, init, teacher) + [f"--trainer.default_root_dir={runs_dir}"]
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), configs, overrides, tmp / "logs",
                                        checkpoints_to=runs_dir / "checkpoints")
        model = cli.model.model
        save_model(tmp / "model.pt", model, stage=stage, model_cfg=params["model_cfg"], imgsz=params["imgsz"])
        if stage == "sparse_train":
            metrics["gamma"] = gamma_report(load_model(init), model, tmp)
        metrics.update({"stage": stage, "model_cfg": params["model_cfg"], "imgsz": params["imgsz"],
                        "init_weights": init, "teacher_weights": teacher})
        atomic_write_json(tmp / "metrics.json", metrics)
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=sorted(STAGES))
    ap.add_argument("--out", help="output directory (default: data/detection/<stage>)")
    ap.add_argument("--data", default=f"{DATA}/prepare/dataset")
    ap.add_argument("--init", help="model file to start from (default: the stage's input, see the table)")
    ap.add_argument("--teacher", help="teacher model file for distill (default: the trained teacher)")
    args = ap.parse_args(argv)
    metrics = run(args.stage, stage_params("detection", args.stage), args.out or f"{DATA}/{args.stage}", args.data,
                  args.init, args.teacher)
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})


if __name__ == "__main__":
    main()
