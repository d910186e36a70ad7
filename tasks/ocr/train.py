"""Stages ``train_det``, ``train_teacher``, ``train_student`` and ``train_student_nokd``: train one OCR
network through LightningCLI (``configs/<det|teacher|student>.yaml`` + the profile's schedule), validate it
and write ``data/ocr/train/<name>/{model.pt, metrics.json, logs/}``.

* ``det``: the DB detector (validation: ICDAR h-mean at IoU 0.5);
* ``teacher``: the "big model" recogniser (a CRNN about 4× the student);
* ``student``: the CRNN edge recogniser distilled from the teacher (frame-level KD, ``common.distill``);
* ``student-nokd``: the same CRNN and budget without the teacher (the distillation ablation).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params

CONFIGS = {"det": "det.yaml", "teacher": "teacher.yaml", "student": "student.yaml", "student-nokd": "student.yaml"}
OPTIONS = {"epochs": "trainer.max_epochs", "batch_size": "data.init_args.batch_size", "workers": "data.init_args.workers",
           "lr": "model.init_args.optimizer.init_args.lr", "warmup_epochs": "model.init_args.warmup_epochs",
           "val_every": "trainer.check_val_every_n_epoch", "seed": "seed_everything",
           "accelerator": "trainer.accelerator", "devices": "trainer.devices", "imgsz": "data.init_args.imgsz",
           "distill_weight": "model.init_args.distill_weight", "distill_tau": "model.init_args.distill_tau"}


def run(name: str, params: dict, out_dir: str | Path, data_dir: str = "data/ocr/prepare/dataset",
        teacher: str = "data/ocr/train/teacher/model.pt") -> dict:
    from common.training.stage import fit_and_validate
    from tasks.ocr.__main__ import main as cli_main
    from tasks.ocr.module import save_ocr_model

    if name not in CONFIGS:
        raise SystemExit(f"unknown network {name!r}; expected one of {sorted(CONFIGS)}")
    p = {**params.get("common_train", {}), **params.get(name, {})}
    runs_dir = Path("data/ocr/runs") / name
    overrides = [f"--data.init_args.data_dir={data_dir}", f"--trainer.default_root_dir={runs_dir}"]
    if name != "det":
        overrides.append(f"--model.init_args.charset_file={Path(data_dir) / 'charset.json'}")
    if name == "student":
        overrides.append(f"--model.init_args.teacher={teacher}")
    overrides += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p]
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), Path("tasks/ocr/configs") / CONFIGS[name],
                                        overrides, tmp / "logs", checkpoints_to=runs_dir / "checkpoints")
        module = cli.model
        kind = "det" if name == "det" else "rec"
        save_ocr_model(tmp / "model.pt", module.model, kind, module.arch, name=name)
        metrics["name"] = name
        metrics["params"] = sum(q.numel() for q in module.model.parameters())
        if kind == "rec":
            metrics["skipped_train_words"] = cli.datamodule.train_set.skipped
            metrics["distilled_from"] = teacher if name == "student" else None
        atomic_write_json(tmp / "metrics.json", metrics)
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.ocr.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(CONFIGS))
    ap.add_argument("--out", help="output directory (default: data/ocr/train/<name>)")
    ap.add_argument("--data", default="data/ocr/prepare/dataset")
    ap.add_argument("--teacher", default="data/ocr/train/teacher/model.pt", help="the student's teacher")
    args = ap.parse_args(argv)
    run(args.name, stage_params("ocr", "train"), args.out or f"data/ocr/train/{args.name}", args.data, args.teacher)


if __name__ == "__main__":
    main()
