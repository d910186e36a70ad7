"""Stage ``train@<variant>``: train one LitePose variant through LightningCLI
(``configs/litepose.yaml`` + the variant's architecture + the profile's schedule), validate it with OKS AP,
and write ``data/pose/train/<variant>/{model.pt, metrics.json, logs/}``.

The variants (``litepose_variants`` in ``tasks/pose/params.yaml``) are the paper's model and its
ablations: the same recipe and budget, one architectural flag changed (kernel 7 → 3, fusion on → off).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, read_yaml, stage_params

CONFIG = Path("tasks/pose/configs/litepose.yaml")
OPTIONS = {"epochs": "trainer.max_epochs", "imgsz": "data.imgsz", "batch_size": "data.batch_size",
           "workers": "data.workers", "lr": "model.init_args.optimizer.init_args.lr",
           "warmup_epochs": "model.init_args.warmup_epochs", "val_every": "trainer.check_val_every_n_epoch",
           "seed": "seed_everything", "accelerator": "trainer.accelerator", "devices": "trainer.devices",
           "config": "model.init_args.config", "kernel": "model.init_args.kernel", "fusion": "model.init_args.fusion",
           "max_rotation": "data.max_rotation", "min_scale": "data.min_scale", "max_scale": "data.max_scale",
           "ae_type": "model.init_args.ae_type", "push_factor": "model.init_args.push_factor",
           "pull_factor": "model.init_args.pull_factor"}
# what the report states of each variant's recipe, read back from the trained modules (not from params.yaml)
RECIPE = {"model": ("ae_type", "push_factor", "pull_factor", "weight_decay"),
          "datamodule": ("max_rotation", "min_scale", "max_scale", "sigma", "flip")}


def variants(root: str | Path = ".") -> dict[str, dict]:
    return read_yaml(Path(root) / "tasks/pose/params.yaml")["litepose_variants"]


def run(variant: str, params: dict, out_dir: str | Path, data_dir: str = "data/pose/prepare/dataset") -> dict:
    from common.training.stage import fit_and_validate
    from tasks.pose.__main__ import main as cli_main
    from tasks.pose.module import save_pose_model, select_tag_threshold

    specs = variants()
    if variant not in specs:
        raise SystemExit(f"unknown variant {variant!r}; tasks/pose/params.yaml litepose_variants has {sorted(specs)}")
    p = {**params, **specs[variant]}
    runs_dir = Path("data/pose/runs") / variant
    overrides = [f"--data.data_dir={data_dir}", f"--trainer.default_root_dir={runs_dir}"]
    overrides += [f"--{opt}={p[key]}" for key, opt in OPTIONS.items() if key in p]
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), CONFIG, overrides, tmp / "logs",
                                        checkpoints_to=runs_dir / "checkpoints")
        model = cli.model.model
        # the decoding tag threshold, chosen on training images (never the validation split)
        threshold, ap_by_threshold = select_tag_threshold(
            model, cli.datamodule.train_set.kset, p["imgsz"], p.get("tag_thresholds", [1.0]),
            p.get("threshold_images", 128))
        save_pose_model(tmp / "model.pt", model, variant=variant, imgsz=p["imgsz"], tag_threshold=threshold)
        metrics.update({"variant": variant, "imgsz": p["imgsz"], **{k: specs[variant][k] for k in specs[variant]}})
        metrics["recipe"] = {k: getattr(cli, part).hparams[k] for part, keys in RECIPE.items() for k in keys}
        metrics["tag_threshold"] = threshold
        metrics["train_ap_by_tag_threshold"] = {str(t): v for t, v in ap_by_threshold.items()}
        atomic_write_json(tmp / "metrics.json", metrics)
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.pose.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", help="a key of litepose_variants in tasks/pose/params.yaml")
    ap.add_argument("--out", help="output directory (default: data/pose/train/<variant>)")
    ap.add_argument("--data", default="data/pose/prepare/dataset")
    args = ap.parse_args(argv)
    run(args.variant, stage_params("pose", "train"), args.out or f"data/pose/train/{args.variant}", args.data)


if __name__ == "__main__":
    main()
