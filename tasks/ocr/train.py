"""Stages ``train_det``, ``train_teacher``, ``train_student`` and ``train_student_nokd``: train one OCR network
through LightningCLI (``configs/<det|teacher|student>.yaml`` + the profile's ``config`` from ``params.yaml``),
validate it and write ``data/ocr/train/<name>/{model.pt, metrics.json, logs/}``.

* ``det``: the DB detector (validation: ICDAR h-mean at IoU 0.5);
* ``teacher``: the "big model" recogniser (a CRNN about 4× the student);
* ``student``: the CRNN edge recogniser distilled from the teacher (frame-level KD, ``common.distill``);
* ``student-nokd``: the same CRNN and budget without the teacher (the distillation ablation).

``python -m tasks.ocr.train <name>`` reads section ``<profile>.train.<name>`` of ``tasks/ocr/params.yaml``. An
interrupted stage resumes from its last epoch when rerun (checkpoints in ``data/ocr/.resume/train/<name>/``,
removed when it completes).
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig

CONFIGS = Path("tasks/ocr/configs")
DATA_DIR = "data/ocr/prepare/dataset"
TEACHER = "data/ocr/train/teacher/model.pt"
STAGES = {  # name → config file, kind of network, the recogniser it is distilled from
    "det": {"config": "det.yaml", "kind": "det", "teacher": None},
    "teacher": {"config": "teacher.yaml", "kind": "rec", "teacher": None},
    "student": {"config": "student.yaml", "kind": "rec", "teacher": TEACHER},
    "student-nokd": {"config": "student.yaml", "kind": "rec", "teacher": None},
}


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over the stage's configs/*.yaml "
                                                "(see `python -m tasks.ocr fit --help`)")


def run(name: str, params: Params, out_dir: Path, data_dir: str = DATA_DIR) -> dict:
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import clear_scratch, fit_and_validate, scratch_dir
    from tasks.ocr.__main__ import CLASSES
    from tasks.ocr.__main__ import main as cli_main
    from tasks.ocr.models import save_ocr_model

    spec = STAGES[name]
    kind, teacher = spec["kind"], spec["teacher"]
    if teacher and not Path(teacher).is_file():
        raise SystemExit(f"{teacher}: the teacher recogniser is not there — run its stage first "
                         f"(`dvc repro tasks/ocr/dvc.yaml:train_teacher`)")
    configs = [CONFIGS / spec["config"]]
    sid = StageId("ocr", f"train.{name}")
    inputs = {"data": {"init_args": {"data_dir": data_dir}}}
    if kind == "rec":
        inputs["model"] = {"init_args": {"charset_file": str(Path(data_dir) / "charset.json"),
                                         **({"teacher": teacher} if teacher else {})}}
    config = params.config.merged(inputs)
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), configs, config, tmp / "logs",
                                        scratch=scratch_dir(sid, params, configs), seed=params.seed,
                                        where=(sid.params_file, [params.profile, *sid.section.split(".")]),
                                        classes=CLASSES[kind])
        module = cli.model
        save_ocr_model(tmp / "model.pt", module.model, kind, module.arch, name=name)
        metrics["name"] = name
        metrics["params"] = sum(q.numel() for q in module.model.parameters())
        if kind == "rec":
            metrics["skipped_train_words"] = cli.datamodule.train_set.skipped
            metrics["distilled_from"] = module.hparams.get("teacher")
        atomic_write_json(tmp / "metrics.json", metrics)
    clear_scratch(sid)
    return metrics


if __name__ == "__main__":
    main(__spec__.name, Params, run, stages={name: f"train.{name}" for name in STAGES})
