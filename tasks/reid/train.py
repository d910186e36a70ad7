"""Training stages of the ReID pipeline, each a LightningCLI ``fit`` (``configs/<teacher|student>.yaml`` + the
profile's schedule from ``params.yaml``) followed by validation:

* ``teacher`` → ``data/reid/train/teacher``: the cloud model (vision encoder + MiniLM with hierarchical LoRA);
* ``student`` → ``data/reid/train/student/<variant>``: the edge model alone and distilled from the teacher —
  the variants of ``params.yaml`` (``alone``, ``kd``, ``pcm``, ``fr``, ``pcm_fr``), same data, schedule and seed.

Each output holds ``model.pt`` (``edgerepro.reid.v1``), ``metrics.json`` and ``logs/metrics.csv``.
"""
from __future__ import annotations

import json
from pathlib import Path

from common.io import atomic_dir, atomic_write_json

ROOT = Path("data/reid/train")
CONFIGS = {"teacher": "teacher.yaml", "student": "student.yaml"}
OPTIONS = {"epochs": "trainer.max_epochs", "batch_ids": "data.batch_ids", "per_id": "data.per_id",
           "workers": "data.workers", "seed": "seed_everything", "lr": "model.init_args.optimizer.init_args.lr",
           "warmup_epochs": "model.init_args.warmup_epochs", "accelerator": "trainer.accelerator",
           "devices": "trainer.devices", "limit_train_batches": "trainer.limit_train_batches"}
# model settings a profile or a variant may set (→ model.init_args.<key>)
MODEL_KEYS = ("dim", "backbone", "width", "lora_layers", "lora_ranks", "contrastive_weight", "temperature",
              "kd_weight", "pcm_weight", "fr_weight", "pcm_tau", "pcm_center", "distill_normalize", "id_weight",
              "triplet_weight", "margin")


def _overrides(name: str, p: dict, data_dir: str, distil: bool) -> list[str]:
    out = [f"--data.data_dir={data_dir}", f"--trainer.default_root_dir=data/reid/runs/{name}"]
    if distil:
        out.append(f"--model.init_args.teacher={ROOT / 'teacher' / 'model.pt'}")
    out += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p]
    out += [f"--model.init_args.{k}={p[k] if isinstance(p[k], str) else json.dumps(p[k])}" for k in MODEL_KEYS if k in p]
    return out


def train_one(name: str, p: dict, out_dir: Path, data_dir: str, label: str | None = None) -> dict:
    from common.training.stage import fit_and_validate
    from tasks.reid.__main__ import main as cli_main
    from tasks.reid.models import count_params

    distil = name == "student" and any(p.get(k) for k in ("kd_weight", "pcm_weight", "fr_weight"))
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), Path("tasks/reid/configs") / CONFIGS[name],
                                        _overrides(name, p, data_dir, distil), tmp / "logs")
        module = cli.model
        metrics.update({"name": label or name, "params": count_params(module.model),
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
                                "batch": p.get("batch_ids", 16) * p.get("per_id", 4)} if ks else None
        module.save(tmp / "model.pt", name=label or name)
        atomic_write_json(tmp / "metrics.json", metrics)
    print({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))})
    return metrics


def run(name: str, params: dict, data_dir: str = "data/reid/prepare/dataset", out: str | None = None) -> dict:
    from common.training.variants import train_variants

    if name not in CONFIGS:
        raise SystemExit(f"unknown network {name!r}; expected one of {sorted(CONFIGS)}")
    p = {**params.get("common_train", {}), **{k: v for k, v in params.items() if k == "seed"}, **params.get(name, {})}
    if name != "student":
        return train_one(name, p, Path(out or ROOT / name), data_dir)
    variants = p.pop("variants", None) or {"alone": {}}
    return train_variants(out or ROOT / "student", variants, p,
                          lambda settings, out_dir, label: train_one(name, settings, out_dir, data_dir, label=label))


def main(argv=None) -> None:
    from common.training.variants import stage_main

    stage_main("reid", __doc__, list(CONFIGS), run, argv)


if __name__ == "__main__":
    main()
