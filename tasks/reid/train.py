"""Training stages of the ReID pipeline, each a LightningCLI ``fit`` of ``configs/<teacher|student>.yaml`` with the
profile's ``config`` from ``params.yaml`` (epochs, batch, workers, devices …) layered on top, followed by
validation:

* ``teacher`` → ``data/reid/train/teacher``: the cloud model (vision encoder + MiniLM with hierarchical LoRA);
* ``student`` → ``data/reid/train/student/<variant>``: the edge model alone and distilled from the teacher — the
  ``variants`` (``alone``, ``kd``, ``pcm``, ``fr``, ``pcm_fr``, and ``alone_s1``: the student alone with another
  seed), each variant's configuration merged over the stage's; same data and schedule; all variants or none are
  written. Every variant is given the teacher's model file; it distils from it when one of its distillation
  weights (``kd_weight``, ``pcm_weight``, ``fr_weight``) is on.

``python -m tasks.reid.train <teacher|student>`` reads section ``<profile>.train.<teacher|student>`` of
``tasks/reid/params.yaml``. Each output holds ``model.pt`` (``edgerepro.reid.v1``), ``metrics.json`` and
``logs/{metrics.csv, config.yaml}``. An interrupted stage resumes from its last epoch when rerun (per variant;
checkpoints in ``data/reid/.resume/train/<teacher|student>/``, removed when the stage completes).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig, check_variant_names

TASK = "reid"
CONFIGS = Path("tasks/reid/configs")
DATA = "data/reid/prepare/dataset"
TEACHER = "data/reid/train/teacher/model.pt"
# network → (section, config files, LightningModule class in tasks.reid.module)
NETWORKS = {
    "teacher": ("train.teacher", ["teacher.yaml"], "TeacherModule"),
    "student": ("train.student", ["student.yaml"], "StudentModule"),
}


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over the network's configs/*.yaml "
                                                "(see `python -m tasks.reid fit --help`)")


class Variant(LightningConfig):
    """A student variant: configuration merged over the stage's, and optionally a seed of its own."""

    seed: int | None = Field(None, description="the variant's seed instead of the global one (params.yaml, root)")

    def as_dict(self) -> dict:
        # the LightningCLI configuration only: the seed is passed as seed_everything, not merged
        return {k: v for k, v in super().as_dict().items() if k != "seed"}


class StudentParams(Params):
    variants: dict[str, Variant] = Field(
        default_factory=lambda: {"alone": Variant()}, min_length=1,
        description="variant name → configuration merged over `config` (distillation weights …) and its seed")

    @field_validator("variants")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, reserved={"teacher": "names the teacher's own results"})


PARAMS = {"teacher": Params, "student": StudentParams}


def train_one(name: str, params: Params, out_dir: Path, variant: str | None = None,
              over: Variant | None = None) -> dict:
    """Fit network ``name`` (``variant``: its configuration ``over`` merged over the stage's) into ``out_dir``."""
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.reid import module as modules
    from tasks.reid.__main__ import CLASSES
    from tasks.reid.__main__ import main as cli_main
    from tasks.reid.models import count_params

    section, files, module_class = NETWORKS[name]
    sid = StageId(TASK, section)
    configs = [CONFIGS / f for f in files]
    inputs = {"data": {"data_dir": DATA}, **({"model": {"init_args": {"teacher": TEACHER}}} if name == "student" else {})}
    config = params.config.merged(over, inputs)
    seed = over.seed if over is not None and over.seed is not None else params.seed
    label = variant or name
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(
            lambda a: cli_main(a, run=False), configs, config, tmp / "logs",
            scratch=scratch_dir(StageId(TASK, f"{section}.{variant}") if variant else sid, params, configs,
                                extra=variant),
            seed=seed, where=(sid.params_file, [params.profile, *section.split(".")]),
            classes=(getattr(modules, module_class), CLASSES[1]))
        module, dm = cli.model, cli.datamodule
        metrics.update({"name": label, "params": count_params(module.model),
                        "trainable_params": count_params(module.model, trainable_only=True)})
        if name == "teacher":
            text = module.model.text
            metrics.update({"vision_params": count_params(module.model.vision), "text_params": count_params(text),
                            "text_trainable_params": count_params(text, trainable_only=True),
                            "text_lora_params": sum(q.numel() for n, q in text.named_parameters() if "lora_" in n),
                            "lora_layers": text.lora_layers, "lora_ranks": text.lora_ranks})
        else:
            metrics["settings"] = {k: v for k, v in module.settings.items() if k != "teacher"}
            metrics["vision_params"] = count_params(module.model.vision)
            ks = module.pcm_ks
            metrics["pcm_k"] = {"mean": sum(ks) / len(ks), "min": min(ks), "max": max(ks), "steps": len(ks),
                                "batch": dm.batch_ids * dm.per_id} if ks else None
        module.save(tmp / "model.pt", name=label)
        atomic_write_json(tmp / "metrics.json", metrics)
    print(label, {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))})
    return metrics


def run(name: str, params: Params, out_dir: Path) -> dict:
    from common.training.variants import train_stage
    from tasks.reid import module
    from tasks.reid.__main__ import CLASSES

    student = isinstance(params, StudentParams)
    if student and not Path(TEACHER).is_file():
        raise SystemExit(f"{TEACHER}: the teacher's model file is missing — run the stage that writes it first "
                         f"(`dvc repro tasks/reid/dvc.yaml:train_teacher`)")
    return train_stage(StageId(TASK, NETWORKS[name][0]), params, out_dir,
                       lambda d, variant=None, over=None: train_one(name, params, d, variant, over),
                       variants=params.variants if student else None,
                       classes=(getattr(module, NETWORKS[name][2]), CLASSES[1]))


if __name__ == "__main__":
    main(__spec__.name, PARAMS, run, stages={n: spec[0] for n, spec in NETWORKS.items()})
