"""Training stages of the edge pipeline, each a LightningCLI ``fit`` of ``configs/<name>.yaml`` with the profile's
``config`` from ``params.yaml`` (epochs, crop, batch, devices …) layered on top, followed by validation:

* ``autoencoder`` → ``data/edges/train/autoencoder``: the 1-channel KL edge autoencoder (frozen afterwards);
* ``diffusion`` → ``data/edges/train/diffusion/<variant>``: DiffusionEdge and its ablations (``variants``:
  ``diffusionedge``, ``no_aff`` (no adaptive Fourier filter), ``no_ud`` (no uncertainty distillation)), each
  variant's configuration merged over the stage's; all variants or none are written;
* ``baseline`` → ``data/edges/train/baseline``: the RCF-style CNN.

``python -m tasks.edges.train <name>`` reads section ``<profile>.train.<name>`` of ``tasks/edges/params.yaml``.
Each output holds ``model.pt`` (``edgerepro.edges.v1``), ``metrics.json`` and ``logs/{metrics.csv, config.yaml}``.
An interrupted stage resumes from its last epoch when rerun (per variant; checkpoints in
``data/edges/.resume/train/<name>/``, removed when the stage completes).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from common.stage import Field, StageId, StageParams, main
from common.training.config import LightningConfig, check_variant_names

TASK = "edges"
CONFIGS = Path("tasks/edges/configs")
DATA = "data/edges/prepare/dataset"
AUTOENCODER = "data/edges/train/autoencoder/model.pt"
# name → (section, config files, LightningModule class in tasks.edges.module, inputs from upstream stages)
NETWORKS = {
    "autoencoder": ("train.autoencoder", ["autoencoder.yaml"], "AutoencoderModule", {}),
    "diffusion": ("train.diffusion", ["diffusion.yaml"], "DiffusionEdgeModule",
                  {"model": {"init_args": {"autoencoder": AUTOENCODER}}}),
    "baseline": ("train.baseline", ["rcf.yaml"], "RCFModule", {}),
}
MAIN_VARIANT = "diffusionedge"  # the model sample / evaluate sweep the step counts of


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over the network's configs/*.yaml "
                                                "(see `python -m tasks.edges fit --help`)")


class DiffusionParams(Params):
    variants: dict[str, LightningConfig] = Field(
        default_factory=lambda: {MAIN_VARIANT: LightningConfig()}, min_length=1,
        description=f"variant name → configuration merged over `config` (the ablations; must include {MAIN_VARIANT})")

    @field_validator("variants")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, required=MAIN_VARIANT)  # sample and evaluate read it


PARAMS = {"autoencoder": Params, "diffusion": DiffusionParams, "baseline": Params}


def train_one(name: str, params: Params, out_dir: Path, variant: str | None = None,
              over: LightningConfig | None = None) -> dict:
    """Fit network ``name`` (``variant``: its configuration ``over`` merged over the stage's) into ``out_dir``."""
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.edges import module
    from tasks.edges.__main__ import CLASSES
    from tasks.edges.__main__ import main as cli_main
    from tasks.edges.models import count_params

    section, files, module_class, inputs = NETWORKS[name]
    sid = StageId(TASK, section)
    configs = [CONFIGS / f for f in files]
    config = params.config.merged(over, {"data": {"data_dir": DATA}}, inputs)
    with atomic_dir(out_dir) as tmp:
        cli, metrics = fit_and_validate(
            lambda a: cli_main(a, run=False), configs, config, tmp / "logs",
            scratch=scratch_dir(StageId(TASK, f"{section}.{variant}") if variant else sid, params, configs,
                                extra=variant),
            seed=params.seed, where=(sid.params_file, [params.profile, *section.split(".")]),
            classes=(getattr(module, module_class), CLASSES[1]))
        trained = cli.model
        metrics.update({"name": variant or name, "params": count_params(trained.model)})
        if name == "diffusion":
            metrics["settings"] = trained.settings
        trained.save(tmp / "model.pt", name=variant or name)
        atomic_write_json(tmp / "metrics.json", metrics)
    if variant:  # a single network's metrics are printed by common.stage.main
        print(variant, {k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


def run(name: str, params: Params, out_dir: Path) -> dict:
    from common.training.variants import train_stage
    from tasks.edges import module
    from tasks.edges.__main__ import CLASSES

    section, _, module_class, _ = NETWORKS[name]
    return train_stage(StageId(TASK, section), params, out_dir,
                       lambda d, variant=None, over=None: train_one(name, params, d, variant, over),
                       variants=params.variants if isinstance(params, DiffusionParams) else None,
                       classes=(getattr(module, module_class), CLASSES[1]))


if __name__ == "__main__":
    main(__spec__.name, PARAMS, run, stages={n: spec[0] for n, spec in NETWORKS.items()})
