"""Training stages of the super-resolution pipeline, each a LightningCLI ``fit`` of ``configs/<name>.yaml`` with the
profile's ``config`` from ``params.yaml`` (epochs, crop, batch, devices …) layered on top, followed by validation:

* ``autoencoder`` → ``data/superres/train/autoencoder``: the latent space (frozen afterwards);
* ``diffusion`` → ``data/superres/train/diffusion``: the multi-step latent diffusion SR model;
* ``features`` → ``data/superres/train/features``: the network behind the DISTS-style loss;
* ``one_step`` → ``data/superres/train/one_step/<variant>``: D^3SR and its ablations (``variants``: ``d3sr``,
  ``dists_only`` (edge term off), ``fixed_t`` (discriminator at one t) and ``mse_only`` (the same generator on
  its MSE term alone: how much PSNR a learned model finds at this budget)), each variant's configuration merged
  over the stage's; all variants or none are written;
* ``one_step_kd`` → ``data/superres/train/one_step_kd``: the one-step model distilled from the multi-step one
  (``one_step.yaml`` + ``one_step_kd.yaml``).

``python -m tasks.superres.train <name>`` reads section ``<profile>.train.<name>`` of
``tasks/superres/params.yaml``; the upscaling factor is the dataset's (``prepare``'s manifest). Each output holds
``model.pt`` (``edgerepro.superres.v1``), ``metrics.json`` and ``logs/{metrics.csv, config.yaml}``. An interrupted
stage resumes from its last epoch when rerun (per variant; checkpoints in ``data/superres/.resume/train/<name>/``,
removed when the stage completes).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig, check_variant_names

TASK = "superres"
CONFIGS = Path("tasks/superres/configs")
DATA = "data/superres/prepare/dataset"
TRAIN = "data/superres/train"
_UPSTREAM = {"autoencoder": f"{TRAIN}/autoencoder/model.pt", "unet": f"{TRAIN}/diffusion/model.pt",
             "features": f"{TRAIN}/features/model.pt"}
# name → (section, config files, LightningModule class in tasks.superres.module, upstream model files it starts from)
NETWORKS = {
    "autoencoder": ("train.autoencoder", ["autoencoder.yaml"], "AutoencoderModule", []),
    "diffusion": ("train.diffusion", ["diffusion.yaml"], "DiffusionModule", ["autoencoder"]),
    "features": ("train.features", ["features.yaml"], "FeatureModule", []),
    "one_step": ("train.one_step", ["one_step.yaml"], "OneStepModule", ["autoencoder", "unet", "features"]),
    "one_step_kd": ("train.one_step_kd", ["one_step.yaml", "one_step_kd.yaml"], "OneStepModule",
                    ["autoencoder", "unet", "features"]),
}
DEPLOYED = "d3sr"  # the one_step variant export and evaluate deploy


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over the network's configs/*.yaml "
                                                "(see `python -m tasks.superres fit --help`)")


class OneStepParams(Params):
    variants: dict[str, LightningConfig] = Field(
        default_factory=lambda: {DEPLOYED: LightningConfig()}, min_length=1,
        description=f"variant name → configuration merged over `config` (the ablations; must include {DEPLOYED})")

    @field_validator("variants")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, required=DEPLOYED,  # export and evaluate deploy it
                                   reserved={"one_step_kd": "names the KD baseline's own stage"})


PARAMS = {"autoencoder": Params, "diffusion": Params, "features": Params, "one_step": OneStepParams,
          "one_step_kd": Params}


def train_one(name: str, params: Params, out_dir: Path, variant: str | None = None,
              over: LightningConfig | None = None) -> dict:
    """Fit network ``name`` (``variant``: its configuration ``over`` merged over the stage's) into ``out_dir``."""
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.superres import module
    from tasks.superres.__main__ import CLASSES
    from tasks.superres.__main__ import main as cli_main
    from tasks.superres.models import count_params

    section, files, module_class, upstream = NETWORKS[name]
    sid = StageId(TASK, section)
    configs = [CONFIGS / f for f in files]
    scale = module.dataset_scale(DATA)  # the dataset's factor, for the data and every module
    inputs = {"data": {"init_args": {"data_dir": DATA, "scale": scale}},
              "model": {"init_args": {"scale": scale, **{k: _UPSTREAM[k] for k in upstream}}}}
    config = params.config.merged(over, inputs)
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(
            lambda a: cli_main(a, run=False), configs, config, tmp / "logs",
            scratch=scratch_dir(StageId(TASK, f"{section}.{variant}") if variant else sid, params, configs,
                                extra=variant),
            seed=params.seed, where=(sid.params_file, [params.profile, *section.split(".")]),
            classes=(getattr(module, module_class), CLASSES[1]))
        trained = cli.model
        metrics.update({"name": variant or name, "params": count_params(trained.model),
                        "trainable_params": count_params(trained.model, trainable_only=True)})
        if name == "autoencoder":
            metrics["latent_scale"] = trained.latent_scale
        if name in ("one_step", "one_step_kd"):
            metrics["settings"] = trained.settings
            if trained.disc is not None:
                metrics["discriminator_params"] = count_params(trained.disc)
                metrics["discriminator_trainable_params"] = count_params(trained.disc, trainable_only=True)
        trained.save(tmp / "model.pt", name=variant or name)
        atomic_write_json(tmp / "metrics.json", metrics)
    if variant:  # a single network's metrics are printed by common.stage.main
        print(variant, {k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def run(name: str, params: Params, out_dir: Path) -> dict:
    from common.training.variants import train_stage
    from tasks.superres import module
    from tasks.superres.__main__ import CLASSES

    section, _, module_class, _ = NETWORKS[name]
    return train_stage(StageId(TASK, section), params, out_dir,
                       lambda d, variant=None, over=None: train_one(name, params, d, variant, over),
                       variants=params.variants if isinstance(params, OneStepParams) else None,
                       classes=(getattr(module, module_class), CLASSES[1]))


if __name__ == "__main__":
    main(__spec__.name, PARAMS, run, stages={n: spec[0] for n, spec in NETWORKS.items()})
