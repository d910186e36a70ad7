"""The LightningCLI runner behind ``python -m tasks.<task> fit|validate|test|predict -c config.yaml``.

Configs name classes by import path (``class_path:``); there is no registry. Seeds are fixed by default.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

from lightning.pytorch.cli import LightningCLI


class _NoTips(logging.Filter):
    """Lightning prints "💡 Tip: … try installing litlogger / litmodels" on every run: an advert for a cloud service
    the offline pipelines cannot use, not something a user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_NoTips())


def _quiet_warnings() -> None:
    """Warnings a user of ours cannot act on (set on every run: a caller may have reset the filters since)."""
    # a distillation teacher (and ultralytics' frozen DFL) is in eval mode on purpose
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    # Lightning 2.6's own use of a torch API torch 2.14 deprecates: nothing a user of ours can change
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


class _LinkedCLI(LightningCLI):
    links: tuple[tuple[str, str], ...] = ()

    def add_arguments_to_parser(self, parser) -> None:
        for source, target in self.links:  # e.g. the data's feature size → the model's input size
            parser.link_arguments(source, target, apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        # jsonargparse drops a linked target from the options, but a subclass's init_args still accept it and
        # the link then overwrites the user's value without a word: the values set are checked after linking
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        self._set_for_links = {}
        for source, target in self.links:
            if target.startswith("model.init_args."):
                value = config.get(target)
                if value is not None and value != _init_default(config.get("model.class_path"), target.rsplit(".")[-1]):
                    self._set_for_links[(source, target)] = value

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        for (source, target), value in getattr(self, "_set_for_links", {}).items():
            linked = getattr(self.datamodule, source.split(".", 1)[1], None)
            if value != linked:  # e.g. a checkpoint's saved hyperparameters agree with the data: fine
                raise ValueError(f"--{target} = {value!r}, but the data says {linked!r} ({source}): it comes from "
                                 "the data; do not set it (remove it from the config / command line)")

def _init_default(class_path: str | None, name: str):
    import importlib
    import inspect

    if not class_path:
        return None
    module, _, attr = class_path.rpartition(".")
    param = inspect.signature(getattr(importlib.import_module(module), attr)).parameters.get(name)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def run_cli(model_class, datamodule_class, args: Sequence[str] | None = None, run: bool = True,
            prog: str | None = None, links: Sequence[tuple[str, str]] = (), exit_on_error: bool = True,
            **kwargs) -> LightningCLI:
    """Run LightningCLI for a task. ``model_class`` may be subclassed in configs (``class_path``).
    ``links``: (source, target) pairs resolved after the datamodule is built, e.g.
    ``("data.in_dim", "model.init_args.in_dim")`` (the target is then not a CLI option).
    ``exit_on_error=False`` (pipeline stages): a bad option raises ``jsonargparse.ArgumentError`` instead of
    printing the usage and exiting, so the stage can say where in ``params.yaml`` the value came from."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    _quiet_warnings()
    prog = prog or f"python -m {model_class.__module__.rsplit('.', 1)[0]}"
    cli_class = type("TaskCLI", (_LinkedCLI,), {"links": tuple(links)}) if links else LightningCLI
    # LightningCLI warns when it is given `args` while sys.argv holds a command line too (a test runner's, or a
    # pipeline stage's own): `args` is the whole command line here, so the process's own is hidden meanwhile
    argv, sys.argv = sys.argv, (sys.argv[:1] if args is not None else sys.argv)
    try:
        return _build(cli_class, model_class, datamodule_class, args, run, prog, exit_on_error, kwargs)
    finally:
        sys.argv = argv


def _build(cli_class, model_class, datamodule_class, args, run, prog, exit_on_error, kwargs) -> LightningCLI:
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
