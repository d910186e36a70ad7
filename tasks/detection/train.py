"""Training stages of the detection pipeline, all through LightningCLI with the teacher's recipe
(``configs/teacher.yaml``) plus a stage config layered on top, plus the profile's ``config`` from
``params.yaml`` (epochs, batch, image size, devices …) on top of both:

=============== ============================== ===================================================
stage           configs                        starts from / adds
=============== ============================== ===================================================
train_teacher   teacher.yaml                   YOLOv8 from its YAML (the baseline)
sparse_train    teacher.yaml + sparse.yaml     the baseline; SGD + λ(e)·Σ|γ| (``common.compress.sparsity``)
finetune        teacher.yaml + finetune.yaml   the pruned model; detection loss only (ablation row)
distill         teacher.yaml + distill.yaml    the pruned model; + CWD from its parent, the sparsity-trained
                                               model (the strongest unpruned model of the chain), each
                                               student channel against the parent channel it was kept from
=============== ============================== ===================================================

``finetune`` and ``distill`` train ``seeds`` runs each (seeds ``seed``, ``seed + 1``, …): the first seed's model is
the stage's ``model.pt`` (the one exported), every seed's metrics and logs are under ``seeds/<seed>/`` and
``seeds.json`` lists their validation mAP, from which the report draws its intervals.

``python -m tasks.detection.train <stage>`` reads section ``<profile>.<stage>`` of
``tasks/detection/params.yaml`` and writes ``data/detection/<stage>/{model.pt, metrics.json, logs/}``
(``sparse_train`` adds ``gamma.json`` and ``gamma_hist.png``). An interrupted stage resumes from its last
epoch when rerun (checkpoints in ``data/detection/.resume/<stage>/``, removed when it completes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig
from common.training.parallel import parallel_field

CONFIGS = Path("tasks/detection/configs")
DATA = "data/detection"
STAGES = {
    "train_teacher": {"configs": ["teacher.yaml"], "init": None, "teacher": None},
    "sparse_train": {"configs": ["teacher.yaml", "sparse.yaml"], "init": f"{DATA}/train_teacher/model.pt",
                     "teacher": None},
    "finetune": {"configs": ["teacher.yaml", "finetune.yaml"], "init": f"{DATA}/prune/model.pt", "teacher": None},
    "distill": {"configs": ["teacher.yaml", "distill.yaml"], "init": f"{DATA}/prune/model.pt",
                "teacher": f"{DATA}/sparse_train/model.pt", "kept": f"{DATA}/prune/prune.json"},
}
SEEDED = ("finetune", "distill")


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over the stage's configs/*.yaml "
                                                "(see `python -m tasks.detection fit --help`)")


class TeacherParams(Params):
    checkpoint: str | None = Field(
        None, description="start the chain from your own trained ultralytics checkpoint (best.pt) instead of "
                          "training a baseline; keep it under data/detection/raw/ so DVC reruns when it changes")
    trust_checkpoint: str | None = Field(
        None, description="the same path again: an ultralytics .pt is a pickle and loading it runs code from the "
                          "file, so it is opened only when you name it here")

    @model_validator(mode="after")
    def _trust(self):
        if self.checkpoint and self.trust_checkpoint != self.checkpoint:
            raise ValueError(f"checkpoint {self.checkpoint!r} is refused: an ultralytics checkpoint is a pickle and "
                             f"loading it runs code from the file; if you trust it, set trust_checkpoint to the same "
                             f"path")
        if self.trust_checkpoint and not self.checkpoint:
            raise ValueError("trust_checkpoint is set but checkpoint is not")
        return self


class SeededParams(Params):
    seeds: int = Field(3, ge=1, description="training runs with seeds seed, seed+1, …: the report's intervals")
    parallel: int = parallel_field()


class SparseParams(Params):
    s0: float = Field(0.01, ge=0, description="initial sparsity rate λ of the BatchNorm L1 term")
    schedule: Literal["paper", "constant"] = Field("paper", description="paper: λ(e) = s0·(1 − 0.9·e/E)")


PARAMS = {"train_teacher": TeacherParams, "sparse_train": SparseParams, "finetune": SeededParams,
          "distill": SeededParams}


def teacher_config(profile: str) -> str:
    """``<profile>.train_teacher.config`` (warm-up, close_mosaic, workers, size …) as a LightningCLI config string,
    for runs outside the pipeline that must use the pipeline's recipe (the benchmarks)."""
    import json

    from common.io import ROOT
    from common.stage import load_params

    return json.dumps(load_params(Params, StageId("detection", "train_teacher"), ROOT, profile).config.as_dict())


def gamma_report(before, after, tmp: Path) -> dict:
    from common.compress.sparsity import gamma_stats, gamma_values
    from common.io import atomic_write_bytes, atomic_write_json
    from common.reports.render import histogram_plot

    stats = {"before": gamma_stats(before), "after": gamma_stats(after)}
    png = histogram_plot({"teacher (before)": gamma_values(before).numpy(),
                          "after sparsity training": gamma_values(after).numpy()},
                         xlabel="|γ| of BatchNorm channels", title="BatchNorm scale factors", log_y=True)
    atomic_write_bytes(tmp / "gamma_hist.png", png)
    atomic_write_json(tmp / "gamma.json", stats)
    return stats


def train(stage: str, params: Params, out_dir: str | Path, label: str | None = None,
          data_dir: str = f"{DATA}/prepare/dataset", clear: bool = True) -> dict:
    """Train ``stage``'s recipe with ``params`` into ``out_dir`` (all or nothing). ``label`` names the run's
    resume folder when one stage trains several runs (``cwd_sweep``, which clears them itself at its end:
    ``clear=False``)."""
    from common.adapters.ultralytics import load_model, save_model
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import clear_scratch, fit_and_validate, scratch_dir
    from tasks.detection.__main__ import CLASSES
    from tasks.detection.__main__ import main as cli_main

    spec = STAGES[stage]
    init, teacher, kept = spec["init"], spec["teacher"], spec.get("kept")
    for path in (init, teacher, kept):
        if path and not Path(path).is_file():
            raise SystemExit(f"{path}: input model not found — run the stage that writes it first "
                             f"(`dvc repro tasks/detection/dvc.yaml:{Path(path).parent.name}`)")
    configs = [CONFIGS / c for c in spec["configs"]]
    sid = StageId("detection", label or stage)
    scratch = scratch_dir(sid, params, configs)
    imported = None
    if getattr(params, "checkpoint", None):  # the user's own model: converted, validated on the data, not trained
        from common.adapters.ultralytics import import_checkpoint

        model, imported = import_checkpoint(params.checkpoint, params.trust_checkpoint)
        init = str(scratch / "imported.pt")
        Path(init).parent.mkdir(parents=True, exist_ok=True)
        save_model(init, model, stage="import", model_cfg=imported["arch"])
        print(f"starting from {params.checkpoint} ({imported['arch']}, {imported['nc']} classes): validation only")
    inputs = {"data": {"data_dir": data_dir}, "model": {"init_args": {
        **({"init_weights": init} if init else {}), **({"teacher_weights": teacher} if teacher else {}),
        **({"kept_channels": kept} if kept else {})}}}
    config = params.config.merged(inputs)

    # BNSparsity is the last callback of sparse.yaml; jsonargparse's ``--trainer.callbacks.<arg>`` sets the last
    # callback's argument, and the value lands in the run's saved config (logs/config.yaml) with the rest
    sparsity = ([f"--trainer.callbacks.s0={params.s0}", f"--trainer.callbacks.schedule={params.schedule}"]
                if isinstance(params, SparseParams) else [])
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), configs, config, tmp / "logs",
                                        scratch=scratch, seed=params.seed, classes=CLASSES,
                                        where=(sid.params_file, [params.profile, stage]),
                                        overrides=sparsity, fit=imported is None)
        model = cli.model.model
        model_cfg, imgsz = model.yaml["yaml_file"], int(cli.datamodule.imgsz)
        save_model(tmp / "model.pt", model, stage=stage, model_cfg=model_cfg, imgsz=imgsz,
                   **({"imported_from": imported["checkpoint"], "sha256": imported["sha256"]} if imported else {}))
        if stage == "sparse_train":
            metrics["gamma"] = gamma_report(load_model(init), model, tmp)
        metrics.update({"stage": stage, "model_cfg": model_cfg, "imgsz": imgsz,
                        "init_weights": None if imported else init, "teacher_weights": teacher,
                        "imported_checkpoint": imported})
        atomic_write_json(tmp / "metrics.json", metrics)
    if clear:
        clear_scratch(sid)
    return metrics


def train_seeds(stage: str, params: SeededParams, out_dir: str | Path, label: str | None = None) -> dict:
    """``params.seeds`` runs of ``stage`` (seeds ``params.seed + k``) into ``out_dir/seeds/<seed>/``; the first seed's
    model and metrics are also ``out_dir/{model.pt, metrics.json}``. All or nothing; each run resumes on its own."""
    import shutil

    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import clear_scratch

    from common.training.parallel import run_all

    label = label or stage
    seeds = [params.seed + k for k in range(params.seeds)]
    with atomic_dir(out_dir) as tmp:
        jobs = [{"stage": stage, "params": params.model_copy(update={"seed": s}), "out_dir": tmp / "seeds" / str(s),
                 "label": f"{label}.seed{s}", "clear": False} for s in seeds]
        runs = dict(zip(seeds, run_all(train, jobs, [f"seed {s}" for s in seeds], params.parallel)))
        first = tmp / "seeds" / str(seeds[0])
        shutil.copy2(first / "model.pt", tmp / "model.pt")
        metrics = {**runs[seeds[0]], "seeds": seeds}
        atomic_write_json(tmp / "metrics.json", metrics)
        summary = {"stage": stage, "seeds": seeds,
                   "runs": {str(s): {k: m.get(k) for k in ("val/map50", "val/map50_95", "train_seconds", "threads")}
                            for s, m in runs.items()}}
        atomic_write_json(tmp / "seeds.json", summary)
    for s in seeds:
        clear_scratch(StageId("detection", f"{label}.seed{s}"))
    return metrics


def run(stage: str, params: Params, out_dir: Path) -> dict:
    if stage in SEEDED:
        return train_seeds(stage, params, out_dir)
    return train(stage, params, out_dir)


if __name__ == "__main__":
    main(__spec__.name, PARAMS, run, stages={s: s for s in STAGES})
