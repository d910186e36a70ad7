"""The LightningCLI runner behind ``python -m tasks.<task> fit|validate|test|predict -c config.yaml``.

Configs name classes by import path (``class_path:``); there is no registry. Seeds are fixed by default.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from lightning.pytorch.cli import LightningCLI


class _LinkedCLI(LightningCLI):
    links: tuple[tuple[str, str], ...] = ()

    def add_arguments_to_parser(self, parser) -> None:
        for source, target in self.links:  # e.g. the data's feature size → the model's input size
            parser.link_arguments(source, target, apply_on="instantiate")


def run_cli(model_class, datamodule_class, args: Sequence[str] | None = None, run: bool = True,
            prog: str | None = None, links: Sequence[tuple[str, str]] = (), exit_on_error: bool = True,
            **kwargs) -> LightningCLI:
    """Run LightningCLI for a task. ``model_class`` may be subclassed in configs (``class_path``).
    ``links``: (source, target) pairs resolved after the datamodule is built, e.g.
    ``("data.in_dim", "model.init_args.in_dim")`` (the target is then not a CLI option).
    ``exit_on_error=False`` (pipeline stages): a bad option raises ``jsonargparse.ArgumentError`` instead of
    printing the usage and exiting, so the stage can say where in ``params.yaml`` the value came from."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    prog = prog or f"python -m {model_class.__module__.rsplit('.', 1)[0]}"
    cli_class = type("TaskCLI", (_LinkedCLI,), {"links": tuple(links)}) if links else LightningCLI
    return cli_class(
        model_class,
        datamodule_class,
        subclass_mode_model=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": prog, "default_env": False, "exit_on_error": exit_on_error},
        args=list(args) if args is not None else None,
        run=run,
        **kwargs,
    )
