"""Training stages of the ReID pipeline, each a LightningCLI ``fit`` of ``configs/<teacher|student>.yaml`` with the
profile's ``config`` from ``params.yaml`` (epochs, batch, workers, devices …) layered on top, followed by
validation:

* ``teacher`` → ``data/reid/train/teacher``: the cloud model (vision encoder + MiniLM with hierarchical LoRA);
* ``student`` → ``data/reid/train/student``: the edge model alone and distilled from the teacher, in two steps:

  1. **tuning** (``tune``): for each distillation weight listed (e.g. ``kd_weight: [1, 4]``, ``pcm_weight:
     [0.25, 1]``), one run per value with that term alone on, at the first seed, validated on the *tuning*
     identities (``tune.npz``: disjoint from the training and the test identities); the value with the best mean
     visual mAP there is chosen. Every method gets the same number of tries, so "PCM beats KD" does not rest on
     one method's weight happening to suit it (at weight 1, PCM's gradient on the shared head is ≈ 4.4× plain
     KD's: the two grids span the same two gradient scales);
  2. **seeds**: every variant (``alone``, ``kd``, ``pcm``, ``pcm_fr`` …), its configuration merged over the
     stage's and each tuned weight it turns on replaced by the chosen value, trained with ``seeds`` seeds
     (``seed``, ``seed + 1``, …), validated on the test identities. A variant's first-seed run that is exactly a
     tuning run (same weights, same seed) is that run, not trained twice.

  Every variant is given the teacher's model file; it distils from it when one of its distillation weights
  (``kd_weight``, ``pcm_weight``, ``fr_weight``) is on.

``python -m tasks.reid.train <teacher|student>`` reads section ``<profile>.train.<teacher|student>`` of
``tasks/reid/params.yaml``. The teacher's output holds ``model.pt`` (``edgerepro.reid.v1``), ``metrics.json`` and
``logs/{metrics.csv, config.yaml}``; the student's holds ``tune/<weight>@<value>/`` (the same files),
``<variant>/seeds/<seed>/`` (the same files), ``<variant>/model.pt`` (its first seed: the deployed one),
``<variant>/seeds.json`` and ``tune.json`` (tries, scores and the chosen weights). All or nothing is written. An
interrupted stage resumes from its last epoch when rerun (per run; checkpoints in
``data/reid/.resume/train/<teacher|student>/``, removed when the stage completes).
"""
from __future__ import annotations

from pathlib import Path

from typing import Annotated, Literal

from pydantic import field_validator

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig, check_variant_names
from common.training.parallel import parallel_field

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


TUNABLE = ("kd_weight", "pcm_weight", "fr_weight")


class StudentParams(Params):
    variants: dict[str, Variant] = Field(
        default_factory=lambda: {"alone": Variant()}, min_length=1,
        description="variant name → configuration merged over `config` (distillation weights …) and its seed")
    seeds: int = Field(3, ge=1, description="training runs per variant, seeds seed, seed+1, …: the report's intervals")
    parallel: int = parallel_field("runs (tuning tries, then variant × seed)")
    tune: dict[Literal["kd_weight", "pcm_weight", "fr_weight"], list[Annotated[float, Field(gt=0)]]] = Field(
        default_factory=dict,
        description="distillation weight → values tried (that term alone on, first seed, validated on the tuning "
                    "identities); every variant that turns the weight on trains with the best value")

    @field_validator("variants")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, reserved={"teacher": "names the teacher's own results",
                                                "tune": "holds the tuning runs"})

    @field_validator("tune")
    @classmethod
    def _grid(cls, v: dict) -> dict:
        for key, values in v.items():
            if not values:
                raise ValueError(f"tune.{key}: list at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"tune.{key}: values repeat: {values}")
        return v


def variant_weights(over: Variant | None) -> dict[str, float]:
    """The distillation weights a variant sets (its ``model.init_args``)."""
    init = ((over.model if over is not None else {}) or {}).get("init_args", {}) or {}
    return {k: float(init[k]) for k in TUNABLE if k in init}


def with_weights(over: Variant, weights: dict[str, float]) -> Variant:
    """``over`` with ``weights`` set in its ``model.init_args``."""
    from common.training.config import deep_merge

    d = over.model_dump(exclude_none=True)
    d = deep_merge(d, {"model": {"init_args": dict(weights)}})
    return Variant.model_validate(d)


def tuned_variant(over: Variant, chosen: dict[str, float]) -> Variant:
    """Each tuned weight the variant turns on (non-zero) replaced by the chosen value."""
    on = {k: chosen[k] for k, w in variant_weights(over).items() if w and k in chosen}
    return with_weights(over, on) if on else over


def tune_name(key: str, value: float) -> str:
    """Folder name of a tuning run: ``kd_weight@4`` (``.`` → ``p``: ``pcm_weight@0p25``)."""
    return f"{key}@{value:g}".replace(".", "p").replace("-", "m")


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


def train_students(params: StudentParams, out_dir: Path) -> dict:
    """Tuning, then every variant × seed (module docstring); all or nothing into ``out_dir``."""
    import shutil

    from common.io import atomic_dir, atomic_write_json, read_json
    from common.training.parallel import run_all

    base_seed = params.seed
    seeds = [base_seed + k for k in range(params.seeds)]
    if params.tune and not (Path(DATA) / "tune.npz").is_file():
        raise SystemExit(f"{Path(DATA) / 'tune.npz'}: no tuning identities prepared, but `{params.profile}.train.student"
                         f".tune` lists weights to tune: set `{params.profile}.prepare.tune_ids` > 0 (tasks/reid/"
                         f"params.yaml) or empty the tune grid")
    with atomic_dir(out_dir) as tmp:
        # 1. tuning: one term on at a time, validated on the tuning identities (the tries are independent: trained
        # side by side when `parallel` > 1)
        grid = [(key, value, tune_name(key, value)) for key, values in params.tune.items() for value in values]
        jobs = [{"name": "student", "params": params, "out_dir": tmp / "tune" / label, "variant": f"tune.{label}",
                 "over": Variant.model_validate({"model": {"init_args": {key: value}}, "data": {"val_split": "tune"},
                                                 "seed": base_seed})} for key, value, label in grid]
        tries: dict[str, dict] = {}
        for (key, value, label), m in zip(grid, run_all(train_one, jobs, [f"tune {g[2]}" for g in grid],
                                                        params.parallel)):
            tries[label] = {"weight": key, "value": value, "seed": base_seed, "tune_map": m["val/map"],
                            **{k: v for k, v in m.items() if k.startswith("val/")}}
        chosen: dict[str, float] = {}
        for key in params.tune:
            best = max((t for t in tries.values() if t["weight"] == key), key=lambda t: t["tune_map"])
            chosen[key] = best["value"]
            print(f"tuning {key}: " + ", ".join(f"{t['value']:g} → mAP {t['tune_map']:.4f}" for t in tries.values()
                                                if t["weight"] == key) + f"; chosen {chosen[key]:g}")
        atomic_write_json(tmp / "tune.json", {"grid": params.tune, "chosen": chosen, "runs": tries,
                                              "split": "tune", "metric": "val/map (mean visual mAP)"})
        # 2. every variant × seed, the tuned weights in: the first seed of a one-weight variant whose tuned value
        # was a tuning try reuses that run; the others train (side by side when `parallel` > 1)
        plan, jobs = {}, []
        for variant, over in params.variants.items():
            run_over = tuned_variant(over, chosen)
            weights = {k: w for k, w in variant_weights(run_over).items() if w}
            plan[variant] = (weights, {})
            for s in seeds:
                d = tmp / variant / "seeds" / str(s)
                reuse = None
                if s == base_seed and len(weights) == 1:
                    key, w = next(iter(weights.items()))
                    cfg = run_over.as_dict()
                    plain = set(cfg) == {"model"} and set(cfg["model"]) == {"init_args"} and \
                        set(cfg["model"]["init_args"]) <= set(TUNABLE)  # nothing but distillation weights
                    if key in chosen and w == chosen[key] and plain:
                        reuse = tmp / "tune" / tune_name(key, w)
                if reuse is not None:
                    shutil.copytree(reuse, d)
                    m = {**read_json(d / "metrics.json"), "reused_from": f"tune/{reuse.name}", "validated_on": "tune"}
                    atomic_write_json(d / "metrics.json", m)
                    print(f"{variant} seed {s}: the tuning run {reuse.name} (same weights and seed)")
                    plan[variant][1][str(s)] = m
                else:
                    jobs.append((variant, s, {"name": "student", "params": params, "out_dir": d,
                                              "variant": f"{variant}.s{s}",
                                              "over": run_over.model_copy(update={"seed": s})}))
        trained = run_all(train_one, [j[2] for j in jobs], [f"{v} seed {s}" for v, s, _ in jobs], params.parallel)
        for (variant, s, job), m in zip(jobs, trained):
            m["validated_on"] = "val"
            atomic_write_json(job["out_dir"] / "metrics.json", m)
            plan[variant][1][str(s)] = m
        results = {}
        for variant, (weights, runs) in plan.items():
            runs = {str(s): runs[str(s)] for s in seeds}
            shutil.copy2(tmp / variant / "seeds" / str(seeds[0]) / "model.pt", tmp / variant / "model.pt")
            summary = {"variant": variant, "seeds": seeds, "weights": weights,
                       "tuned": {k: chosen[k] for k in weights if k in chosen},
                       "runs": {s: {k: v for k, v in m.items() if k.startswith("val/") or k in
                                    ("reused_from", "validated_on", "train_s", "threads")} for s, m in runs.items()}}
            atomic_write_json(tmp / variant / "seeds.json", summary)
            results[variant] = summary
    return {"chosen": chosen, "variants": results}


def run(name: str, params: Params, out_dir: Path) -> dict:
    from common.training.stage import check_variants, clear_scratch
    from common.training.variants import train_stage
    from tasks.reid import module
    from tasks.reid.__main__ import CLASSES

    student = isinstance(params, StudentParams)
    stage = StageId(TASK, NETWORKS[name][0])
    classes = (getattr(module, NETWORKS[name][2]), CLASSES[1])
    if not student:
        return train_stage(stage, params, out_dir, lambda d, variant=None, over=None: train_one(name, params, d),
                           classes=classes)
    if not Path(TEACHER).is_file():
        raise SystemExit(f"{TEACHER}: the teacher's model file is missing — run the stage that writes it first "
                         f"(`dvc repro tasks/reid/dvc.yaml:train_teacher`)")
    # every variant's keys checked before the first run trains
    check_variants(params.variants, classes, (stage.params_file, [params.profile, *stage.section.split(".")]))
    result = train_students(params, Path(out_dir))
    clear_scratch(stage)
    return result


if __name__ == "__main__":
    main(__spec__.name, PARAMS, run, stages={n: spec[0] for n, spec in NETWORKS.items()})
