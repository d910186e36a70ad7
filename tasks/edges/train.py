"""Training stages of the edge pipeline, each a LightningCLI ``fit`` (``configs/<name>.yaml`` + the profile's
schedule from ``params.yaml``) followed by validation:

* ``autoencoder`` → ``data/edges/train/autoencoder``: the 1-channel KL edge autoencoder (frozen afterwards);
* ``diffusion`` → ``data/edges/train/diffusion/<variant>``: DiffusionEdge and its ablations (the variants of
  ``params.yaml``: ``diffusionedge``, ``no_aff`` (no adaptive Fourier filter), ``no_ud`` (no uncertainty
  distillation));
* ``baseline`` → ``data/edges/train/baseline``: the RCF-style CNN.

Each output holds ``model.pt`` (``edgerepro.edges.v1``), ``metrics.json`` and ``logs/metrics.csv``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params

ROOT = Path("data/edges/train")
CONFIGS = {"autoencoder": "autoencoder.yaml", "diffusion": "diffusion.yaml", "baseline": "rcf.yaml"}
OPTIONS = {"epochs": "trainer.max_epochs", "batch_size": "data.batch_size", "crop": "data.crop",
           "workers": "data.workers", "val_limit": "data.val_limit", "seed": "seed_everything",
           "lr": "model.init_args.optimizer.init_args.lr", "warmup_epochs": "model.init_args.warmup_epochs",
           "accelerator": "trainer.accelerator", "devices": "trainer.devices",
           "limit_train_batches": "trainer.limit_train_batches"}
# model settings a profile or a variant may set (→ model.init_args.<key>)
MODEL_KEYS = ("aff", "ud", "ud_mode", "ud_weight", "threshold", "neg_weight", "val_steps", "unet", "config",
              "channels", "kl_weight")


def _overrides(name: str, p: dict, data_dir: str) -> list[str]:
    out = [f"--data.data_dir={data_dir}", f"--trainer.default_root_dir=data/edges/runs/{name}"]
    if name == "diffusion":
        out += [f"--model.init_args.autoencoder={ROOT / 'autoencoder' / 'model.pt'}",
                f"--model.init_args.crop={p.get('crop', 64)}"]
    out += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p]
    out += [f"--model.init_args.{k}={p[k] if isinstance(p[k], str) else json.dumps(p[k])}" for k in MODEL_KEYS if k in p]
    return out


def train_one(name: str, p: dict, out_dir: Path, data_dir: str, label: str | None = None) -> dict:
    from common.training.stage import fit_and_validate
    from tasks.edges.__main__ import main as cli_main
    from tasks.edges.models import count_params

    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), Path("tasks/edges/configs") / CONFIGS[name],
                                        _overrides(name, p, data_dir), tmp / "logs")
        module = cli.model
        metrics.update({"name": label or name, "params": count_params(module.model)})
        if name == "diffusion":
            metrics["settings"] = module.settings
        module.save(tmp / "model.pt", name=label or name)
        atomic_write_json(tmp / "metrics.json", metrics)
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def run(name: str, params: dict, data_dir: str = "data/edges/prepare/dataset", out: str | None = None) -> dict:
    if name not in CONFIGS:
        raise SystemExit(f"unknown network {name!r}; expected one of {sorted(CONFIGS)}")
    p = {**params.get("common_train", {}), **{k: v for k, v in params.items() if k == "seed"}, **params.get(name, {})}
    if name != "diffusion":
        return train_one(name, p, Path(out or ROOT / name), data_dir)
    variants = p.pop("variants", None) or {"diffusionedge": {}}
    root = Path(out or ROOT / "diffusion")
    results = {}
    with atomic_dir(root) as tmp:  # all variants or none: a half-trained set never reaches sampling
        for variant, settings in variants.items():
            results[variant] = train_one(name, {**p, **(settings or {})}, tmp / variant, data_dir, label=variant)
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.edges.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(CONFIGS))
    ap.add_argument("--out", help="output directory (default: data/edges/train/<name>)")
    ap.add_argument("--data", default="data/edges/prepare/dataset")
    args = ap.parse_args(argv)
    run(args.name, stage_params("edges", "train"), args.data, args.out)


if __name__ == "__main__":
    main()
