"""Training stages of the super-resolution pipeline, each a LightningCLI ``fit`` (``configs/<name>.yaml`` +
the profile's schedule from ``params.yaml``) followed by validation:

* ``autoencoder`` → ``data/superres/train/autoencoder``: the latent space (frozen afterwards);
* ``diffusion`` → ``data/superres/train/diffusion``: the multi-step latent diffusion SR model;
* ``features`` → ``data/superres/train/features``: the network behind the DISTS-style loss;
* ``one_step`` → ``data/superres/train/one_step/<variant>``: D^3SR and its ablations (the variants of
  ``params.yaml``: ``d3sr``, ``dists_only`` (edge term off), ``fixed_t`` (discriminator at one t) and
  ``mse_only`` (the same generator on its MSE term alone: how much PSNR a learned model finds at this budget));
* ``one_step_kd`` → ``data/superres/train/one_step_kd``: the one-step model distilled from the multi-step one.

Each output holds ``model.pt`` (``edgerepro.superres.v1``), ``metrics.json`` and ``logs/metrics.csv``.
"""
from __future__ import annotations

from pathlib import Path

from common.io import atomic_dir, atomic_write_json

ROOT = Path("data/superres/train")
CONFIGS = {"autoencoder": "autoencoder.yaml", "diffusion": "diffusion.yaml", "features": "features.yaml",
           "one_step": "one_step.yaml", "one_step_kd": "one_step.yaml"}
OPTIONS = {"epochs": "trainer.max_epochs", "batch_size": "data.init_args.batch_size", "crop": "data.init_args.crop",
           "workers": "data.init_args.workers", "val_limit": "data.init_args.val_limit", "val_crop": "data.init_args.val_crop", "seed": "seed_everything",
           "lr": "model.init_args.optimizer.init_args.lr", "warmup_epochs": "model.init_args.warmup_epochs",
           "accelerator": "trainer.accelerator", "devices": "trainer.devices", "scale": "model.init_args.scale",
           "limit_train_batches": "trainer.limit_train_batches"}
# model settings a profile or a variant may set (→ model.init_args.<key>)
MODEL_KEYS = ("generator_timestep", "lora_rank", "disc_lora_rank", "dists_weight", "edge_weight", "adv_weight",
              "disc_timesteps", "fixed_t", "t_min", "t_max", "kd_teacher_steps", "val_steps", "kl_weight",
              "ssim_weight", "config", "unet", "channels")


def _overrides(name: str, p: dict, data_dir: str) -> list[str]:
    import json

    out = [f"--data.init_args.data_dir={data_dir}", f"--data.init_args.scale={p.get('scale', 4)}",
           f"--trainer.default_root_dir=data/superres/runs/{name}"]
    if name != "autoencoder" and name != "features":
        out.append(f"--model.init_args.autoencoder={ROOT / 'autoencoder' / 'model.pt'}")
    if name in ("one_step", "one_step_kd"):
        out += [f"--model.init_args.unet={ROOT / 'diffusion' / 'model.pt'}",
                f"--model.init_args.features={ROOT / 'features' / 'model.pt'}"]
    if name == "one_step_kd":
        out.append("--model.init_args.kd=true")
    if name in ("features", "autoencoder"):
        out.append(f"--model.init_args.scale={p.get('scale', 4)}")
    out += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p and not (key == "scale")]
    out += [f"--model.init_args.{k}={p[k] if isinstance(p[k], str) else json.dumps(p[k])}" for k in MODEL_KEYS if k in p]
    return out


def train_one(name: str, p: dict, out_dir: Path, data_dir: str, label: str | None = None) -> dict:
    from common.training.stage import fit_and_validate
    from tasks.superres.__main__ import main as cli_main
    from tasks.superres.models import count_params

    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), Path("tasks/superres/configs") / CONFIGS[name],
                                        _overrides(name, p, data_dir), tmp / "logs")
        module = cli.model
        metrics.update({"name": label or name, "params": count_params(module.model),
                        "trainable_params": count_params(module.model, trainable_only=True)})
        if name == "autoencoder":
            metrics["latent_scale"] = module.latent_scale
        if name in ("one_step", "one_step_kd"):
            metrics["settings"] = module.settings
            if module.disc is not None:
                metrics["discriminator_params"] = count_params(module.disc)
                metrics["discriminator_trainable_params"] = count_params(module.disc, trainable_only=True)
        module.save(tmp / "model.pt", name=label or name)
        atomic_write_json(tmp / "metrics.json", metrics)
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def run(name: str, params: dict, data_dir: str = "data/superres/prepare/dataset", out: str | None = None) -> dict:
    from common.training.variants import train_variants

    if name not in CONFIGS:
        raise SystemExit(f"unknown network {name!r}; expected one of {sorted(CONFIGS)}")
    p = {**params.get("common_train", {}), **{k: v for k, v in params.items() if k in ("scale", "seed")},
         **params.get(name, {})}
    if name != "one_step":
        return train_one(name, p, Path(out or ROOT / name), data_dir)
    variants = p.pop("variants", None) or {"d3sr": {}}
    # all variants or none: a half-trained set never reaches evaluation
    return train_variants(out or ROOT / "one_step", variants, p,
                          lambda settings, out_dir, label: train_one(name, settings, out_dir, data_dir, label))


def main(argv=None) -> None:
    from common.training.variants import stage_main

    stage_main("superres", __doc__, list(CONFIGS), run, argv)


if __name__ == "__main__":
    main()
