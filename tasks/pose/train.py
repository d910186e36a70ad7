"""Stage ``train@<variant>``: train one LitePose variant through LightningCLI (``configs/litepose.yaml`` + the
profile's ``config`` + the variant's architecture), validate it with OKS AP, pick the decoding tag threshold on
training images, and write ``data/pose/train/<variant>/{model.pt, metrics.json, logs/}``.

``python -m tasks.pose.train <variant>`` reads section ``<profile>.train`` of ``tasks/pose/params.yaml``; the
variants (its ``variants``, the top-level ``litepose_variants``) are the paper's model and its ablations: the
same recipe and budget, one architectural flag changed (kernel 7 → 3, fusion on → off). Each variant is its own
DVC stage (``dvc.yaml``'s foreach over ``litepose_variants``) and writes ``<out>/<variant>/``, trained ``seeds``
times (``seeds/<seed>/``, ``seeds.json``; the first seed's model is the variant's ``model.pt``). An interrupted
run resumes from its last epoch when rerun (checkpoints in ``data/pose/.resume/train/<variant>/``, removed when
it completes).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import PositiveFloat

from common.stage import Field, ParamsError, StageId, StageParams, main, suggest
from common.training.config import LightningConfig
from common.training.parallel import parallel_field

CONFIGS = [Path("tasks/pose/configs/litepose.yaml")]
DATA_DIR = "data/pose/prepare/dataset"
PARAMS_FILE = Path("tasks/pose/params.yaml")
# what the report states of each variant's recipe, read back from the trained modules (not from params.yaml)
RECIPE = {"model": ("ae_type", "push_factor", "pull_factor", "weight_decay"),
          "datamodule": ("max_rotation", "min_scale", "max_scale", "sigma", "flip")}


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over configs/litepose.yaml "
                                                "(see `python -m tasks.pose fit --help`)")
    variants: dict[str, LightningConfig] = Field(
        min_length=1, description="variant name → configuration merged over `config` (the architecture: "
                                  "model.init_args.config / kernel / fusion)")
    tag_thresholds: list[PositiveFloat] = Field(
        [1.0], min_length=1, description="decoding tag thresholds to choose from, by OKS AP on training images")
    threshold_images: int = Field(128, ge=1, description="training images the tag threshold is chosen on")
    seeds: int = Field(3, ge=1, description="training runs per variant, seeds seed, seed+1, …: the report's intervals "
                                            "(the first seed's model is the variant's model.pt, the one deployed)")
    parallel: int = parallel_field("seeds")


def budget(params: Params) -> dict:
    """LitePose's training budget under ``params`` — epochs, image size, batch — as LightningCLI will read it
    (configs/litepose.yaml, then ``config``): what the peer must match for a fair comparison."""
    import yaml

    from common.training.config import deep_merge

    cfg: dict = {}
    for c in CONFIGS:
        cfg = deep_merge(cfg, yaml.safe_load(c.read_text()) or {})
    cfg = deep_merge(cfg, params.config.as_dict())
    out = {"epochs": cfg.get("trainer", {}).get("max_epochs"), "imgsz": cfg.get("data", {}).get("imgsz"),
           "batch_size": cfg.get("data", {}).get("batch_size")}
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise ParamsError(f"{PARAMS_FILE}: `{params.profile}.train.config`: set trainer.max_epochs, data.imgsz and "
                          f"data.batch_size (missing: {', '.join(missing)}); the peer trains with the same")
    return out


def _at_variant(err: ParamsError, params: Params, variant: str) -> ParamsError:
    """LightningCLI's complaint about a key that the variant sets, pointed at the variant's entry (the stage
    reports it at ``<profile>.train.config``, the configuration it passed on; the variant's value wins the merge)."""
    import re

    import yaml

    from common.stage import locate

    m = re.fullmatch(r"(?P<file>[^:`]+)(?::\d+)?: `(?P<path>[^`]+)`: (?P<what>.*)", str(err), re.DOTALL)
    prefix = [params.profile, "train", "config"]
    keys = m.group("path").split(".") if m else []
    if keys[:3] != prefix:
        return err
    node = params.variants[variant].as_dict()
    for k in keys[3:-1]:
        node = node.get(k) if isinstance(node, dict) else None
    if not isinstance(node, dict) or keys[-1] not in node:  # the stage's own config: reported right already
        return err
    path = [params.profile, "train", "variants", variant, *keys[3:]]
    line = locate(yaml.compose(PARAMS_FILE.read_text(encoding="utf-8"), Loader=yaml.SafeLoader), path)
    return ParamsError(f"{m.group('file')}{':' + str(line) if line else ''}: `{'.'.join(path)}`: {m.group('what')}")


def train_seed(variant: str, params: Params, config: LightningConfig, seed: int, out: Path) -> dict:
    """One training run of ``variant`` with ``seed`` into ``out`` (model.pt, metrics.json, logs/)."""
    from common.io import atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.pose.__main__ import CLASSES
    from tasks.pose.__main__ import main as cli_main
    from tasks.pose.model import save_pose_model
    from tasks.pose.module import select_tag_threshold

    sid = StageId("pose", f"train.{variant}")
    try:
        cli, metrics = fit_and_validate(lambda a: cli_main(a, run=False), CONFIGS, config, out / "logs",
                                        scratch=scratch_dir(StageId("pose", f"train.{variant}.s{seed}"), params,
                                                            CONFIGS, extra=[variant, seed]),
                                        seed=seed, where=(sid.params_file, [params.profile, "train"]), classes=CLASSES)
    except ParamsError as e:
        raise _at_variant(e, params, variant) from None
    model = cli.model.model
    imgsz = int(cli.datamodule.hparams.imgsz)
    # the decoding tag threshold, chosen on training images (never the validation split)
    threshold, ap_by_threshold = select_tag_threshold(model, cli.datamodule.train_set.kset, imgsz,
                                                      list(params.tag_thresholds), params.threshold_images)
    # the joint names travel with the model (its heads are sized by them): predict writes them per result
    save_pose_model(out / "model.pt", model, variant=variant, imgsz=imgsz, tag_threshold=threshold,
                    joints=cli.datamodule.joint_names)
    metrics.update({"variant": variant, "seed": seed, "imgsz": imgsz, "config": model.config, "kernel": model.kernel,
                    "fusion": model.fusion})
    metrics["recipe"] = {k: getattr(cli, part).hparams[k] for part, keys in RECIPE.items() for k in keys}
    metrics["tag_threshold"] = threshold
    metrics["train_ap_by_tag_threshold"] = {str(t): v for t, v in ap_by_threshold.items()}
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def run(variant: str, params: Params, out_dir: Path, data_dir: str = DATA_DIR) -> dict:
    """Train ``variant`` with each seed into ``out_dir / variant / seeds / <seed>``; the first seed's files are also
    the variant's own (``model.pt``, ``metrics.json``, ``logs/``: the deployed model); ``seeds.json`` lists every
    seed's validation AP. All or nothing."""
    import shutil

    from common.io import atomic_dir, atomic_write_json
    from common.training.parallel import run_all
    from common.training.stage import clear_scratch

    if variant not in params.variants:
        raise ParamsError(f"{PARAMS_FILE}: `{params.profile}.train.variants` has no variant `{variant}`"
                          f"{suggest(variant, list(params.variants))}")
    config = params.config.merged(params.variants[variant], {"data": {"data_dir": data_dir}})
    seeds = [params.seed + k for k in range(params.seeds)]
    with atomic_dir(Path(out_dir) / variant) as tmp:
        jobs = [{"variant": variant, "params": params, "config": config, "seed": s, "out": tmp / "seeds" / str(s)}
                for s in seeds]
        runs = dict(zip(seeds, run_all(train_seed, jobs, [f"{variant} seed {s}" for s in seeds], params.parallel)))
        first = tmp / "seeds" / str(seeds[0])
        for name in ("model.pt", "metrics.json"):
            shutil.copy2(first / name, tmp / name)
        shutil.copytree(first / "logs", tmp / "logs")
        atomic_write_json(tmp / "seeds.json", {
            "variant": variant, "seeds": seeds,
            "runs": {str(s): {k: v for k, v in m.items() if k.startswith("val/") or k in ("tag_threshold", "train_s", "threads")}
                     for s, m in runs.items()}})
    clear_scratch(StageId("pose", f"train.{variant}"))
    return runs[seeds[0]]


def variant_names(params_file: Path = PARAMS_FILE) -> list[str]:
    """The stage names: the keys of ``litepose_variants`` (what dvc.yaml's foreach runs), read before the
    parameters are validated (a broken file yields none here and its error from the validation)."""
    import yaml

    try:
        doc = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        return [str(k) for k in doc["litepose_variants"]]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return []


if __name__ == "__main__":
    import sys

    # the variants are named in params.yaml, not here; when they cannot be read, the requested one goes through
    # to the validation, which says what is wrong with the file
    names = variant_names() or [a for a in sys.argv[1:2] if not a.startswith("-")]
    main(__spec__.name, Params, run, stages={name: "train" for name in names})
