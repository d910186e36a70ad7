"""Run a LightningCLI ``fit`` as a pipeline stage: the stage's config files + the profile's configuration from
``params.yaml`` (a dict, no option strings), resumable, then validate the final (EMA) weights.

Resume: checkpoints go to a scratch folder outside the stage's DVC output, ``data/<task>/.resume/<section>/
<hash>``, keyed by a hash of everything that decides the run (the stage's parameters, the config files' text,
the variant), so a different configuration never resumes from them. A checkpoint is written at the end of every
training epoch with the random-number generators' states (Python, NumPy, torch and the training loader's
sampler), so an interrupted stage, rerun, continues where it stopped and ends with the metrics of an
uninterrupted run. The folder is removed when the stage completes.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from common.stage import ParamsError, StageId, StageParams, _compose, locate, suggest
from common.training.config import LightningConfig

RESUME_NAME = "resume"


def scratch_dir(stage: StageId, params: StageParams, configs: list[Path], extra: Any = None) -> Path:
    """``data/<task>/.resume/<section>/<hash>``: where a stage's checkpoints survive an interruption."""
    blob = json.dumps({"params": params.model_dump(mode="json"), "extra": extra,
                       "configs": [Path(c).read_text() for c in configs]}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return Path("data", stage.task, ".resume", *stage.section.split("."), digest)


def clear_scratch(stage: StageId) -> None:
    """After a stage completed: its checkpoints are not needed (and must not resume a later, different run)."""
    root = Path("data", stage.task, ".resume")
    folder = root.joinpath(*stage.section.split("."))
    shutil.rmtree(folder, ignore_errors=True)
    for parent in [*folder.parents][: len(stage.section.split("."))]:  # empty parents up to and incl. .resume
        try:
            parent.rmdir()
        except OSError:
            break


class RNGState(Callback):
    """Saves the random-number generators with every checkpoint and restores them on resume, so that a resumed
    run draws the same augmentations and batch orders as an uninterrupted one.

    Where: Lightning creates the training iterator while it sets up the data, before any epoch hook, so the
    global generators are restored at ``on_fit_start`` and the training loader's own sampler generator as the
    loader is handed to Lightning (``train_dataloader`` wrapped once). Lightning's own mechanism for this
    (``state_dict`` on the DataLoader) would need every task's loaders changed."""

    def __init__(self):
        self._pending: dict | None = None
        self.resumed_at_epoch: int | None = None

    @staticmethod
    def _generator(loader):
        return getattr(loader, "generator", None) or getattr(getattr(loader, "sampler", None), "generator", None)

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict:
        import numpy as np
        import torch

        # plain data only: Lightning reads checkpoints with weights_only=True (no NumPy arrays)
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {"python": random.getstate(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                        int(has_gauss), float(gauss)],
                 "torch": torch.get_rng_state()}
        loader = getattr(getattr(getattr(self, "_trainer", None), "fit_loop", None), "_combined_loader", None)
        for dl in getattr(loader, "flattened", None) or []:
            g = self._generator(dl)
            if g is not None:
                state["loader"] = g.get_state()
                break
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_fit_start(self, trainer, pl_module) -> None:
        if self._pending is None:
            return
        import numpy as np
        import torch

        s, self._pending = self._pending, None
        self.resumed_at_epoch = -1  # the epoch is known once Lightning restored its loops (on_train_start)
        random.setstate(s["python"])
        name, keys, pos, has_gauss, gauss = s["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(s["torch"])
        dm = trainer.datamodule
        if "loader" in s and dm is not None:
            original = dm.train_dataloader

            def train_dataloader():
                dm.train_dataloader = original  # once
                loader = original()
                g = self._generator(loader)
                if g is not None:
                    g.set_state(s["loader"])
                return loader

            dm.train_dataloader = train_dataloader

    def on_train_start(self, trainer, pl_module) -> None:
        if self.resumed_at_epoch == -1:
            self.resumed_at_epoch = int(trainer.current_epoch)


class _StopAfterEpochs(Callback):
    """Test hook (``EDGEREPRO_TEST_SIGTERM_AFTER_EPOCHS``): SIGTERM this process once N epochs have been
    checkpointed (at the next epoch's start: checkpoint callbacks run last at an epoch's end) — a real signal,
    delivered the way ``timeout`` or ``docker stop`` would."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        import os
        import signal

        if trainer.current_epoch >= self.epochs:
            os.kill(os.getpid(), signal.SIGTERM)


def _init_names(cls) -> list[str]:
    """Constructor argument names of ``cls``, following ``**kwargs`` up the base classes (as jsonargparse does)."""
    import inspect

    names: list[str] = []
    for klass in getattr(cls, "__mro__", [cls]):
        if "__init__" not in vars(klass):
            continue
        try:
            params = inspect.signature(klass.__init__).parameters.values()
        except (TypeError, ValueError):
            break
        names += [q.name for q in params if q.name != "self" and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
        if not any(q.kind == q.VAR_KEYWORD for q in params):
            break
    return list(dict.fromkeys(names))


def check_variants(variants: dict[str, LightningConfig], classes: tuple, where: tuple[Path, list],
                   field: str = "variants") -> None:
    """Every key of every variant's configuration is an argument of the Trainer, the LightningModule
    (``model.init_args``) or the DataModule (``data``), checked before the first variant trains: LightningCLI
    sees a variant's configuration only when that variant's turn comes, hours into a stage on ``full``.
    ``where``: (params file, key path of the stage's section); ``field``: the section's key holding the variants."""
    from lightning import Trainer

    file, keys = where
    valid = {"trainer": _init_names(Trainer), "model": _init_names(classes[0]),
             "data": _init_names(classes[1]) if len(classes) > 1 else None}
    for variant, cfg in variants.items():
        d = cfg.as_dict() if isinstance(cfg, LightningConfig) else cfg
        found = [("trainer", [k], k) for k in d.get("trainer", {})] + \
                [("model", ["init_args", k], k) for k in (d.get("model", {}).get("init_args") or {})] + \
                [("data", [k], k) for k in d.get("data", {})]
        for group, sub, key in found:
            if valid[group] is not None and key not in valid[group]:
                path = [*keys, field, variant, group, *sub]
                line = locate(_compose(file), path)
                raise ParamsError(f"{file}{':' + str(line) if line else ''}: `{'.'.join(map(str, path))}`: unknown "
                                  f"key{suggest(key, valid[group])}")


def _reformat_cli_error(msg: str, where: tuple[Path, list] | None, classes: tuple = (), cfg: dict | None = None) -> str:
    """A LightningCLI (jsonargparse) error about the ``config`` from params.yaml, restated with the file, line,
    key path and, for an unknown key, the closest valid one."""
    detail = " ".join(msg.split())
    if where is None:
        return detail
    file, keys = where
    from lightning import Trainer

    model_cls = classes[0] if classes else None
    data_cls = classes[1] if len(classes) > 1 else None
    valid = {"trainer": _init_names(Trainer), "data": _init_names(data_cls) if data_cls else [],
             "model": _init_names(model_cls) if model_cls else []}
    unknown = re.search(r"Group '(\w+)' does not accept option '([^']+)'", msg)
    option = re.search(r"Option '([^']+)' is not accepted", msg)
    parser_key = re.search(r'Parser key "([^"]+)"', msg)
    if unknown:
        group, key = unknown.groups()
        path = [group, *(["init_args"] if group == "model" else []), key]
        what = "unknown key" + suggest(key, valid.get(group, []))
    elif option:
        key = option.group(1)
        group = parser_key.group(1).split(".")[0] if parser_key else "model"
        path = [group, *(["init_args"] if group == "model" else []), key]
        what = "unknown key" + suggest(key, valid.get(group, []))
    elif parser_key:
        path = parser_key.group(1).split(".")
        if path[0] == "model" and len(path) > 1 and path[1] != "init_args":
            path.insert(1, "init_args")
        what = detail.split(":", 1)[-1].strip()
    else:
        path, what = [], detail
    if path and path[0] == "data" and "init_args" in ((cfg or {}).get("data") or {}) and path[1:2] != ["init_args"]:
        path.insert(1, "init_args")  # a datamodule given by class_path (e.g. OCR's) nests its arguments too
    full = [*keys, "config", *path]
    line = locate(_compose(file), full)
    return f"{file}{':' + str(line) if line else ''}: `{'.'.join(map(str, full))}`: {what}"


def fit_and_validate(cli_main, configs: list[str | Path], config: LightningConfig | dict | None, log_dir: str | Path,
                     scratch: str | Path | None = None, seed: int | None = None,
                     where: tuple[Path, list] | None = None, overrides: list[str] = (), classes: tuple = (),
                     restore_best: bool = False, fit: bool = True) -> tuple:
    """``cli_main(args)`` builds the task's LightningCLI without running it. Returns (cli, metrics dict).

    ``configs``: LightningCLI config files, applied in order; ``config``: the profile's configuration layered on
    top (``params.yaml``); ``scratch``: where checkpoints survive an interruption (resumed from when a checkpoint
    is there); ``where``: (params file, key path of the stage's section) and ``classes``: (LightningModule,
    LightningDataModule), for error messages. ``cli_main`` must build the CLI with ``exit_on_error=False``.
    ``restore_best``: after fitting, load the weights of the configuration's monitored ``ModelCheckpoint`` (its best
    validation score, e.g. the authors' "keep the best-validation model") before the final validation; the
    returned metrics then say which epoch they come from. ``fit=False``: validate the model as configured (e.g. a
    user's own trained checkpoint that starts a chain) without training it."""
    import os

    from common import signals

    cfg = config.as_dict() if isinstance(config, LightningConfig) else dict(config or {})
    args = [a for c in configs for a in ("-c", str(c))]
    if cfg:
        args += ["-c", json.dumps(cfg)]
    args += list(overrides)
    if seed is not None:
        args.append(f"--seed_everything={seed}")
    args += ["--trainer.logger=lightning.pytorch.loggers.CSVLogger", f"--trainer.logger.save_dir={log_dir}",
             "--trainer.logger.name=", "--trainer.logger.version="]
    if scratch is not None:
        args.append(f"--trainer.default_root_dir={scratch}")
    from jsonargparse import ArgumentError

    import sys

    argv, sys.argv = sys.argv, sys.argv[:1]  # LightningCLI warns when it sees both `args` and a command line
    try:
        cli = cli_main(args)
    except ArgumentError as e:
        raise ParamsError(_reformat_cli_error(str(e), where, classes, cfg)) from None
    finally:
        sys.argv = argv
    trainer = cli.trainer
    ckpt_path = None
    if scratch is not None:
        scratch = Path(scratch)
        for cb in trainer.callbacks:  # the configs' best/last checkpoints: out of the DVC output, kept on Ctrl-C
            if isinstance(cb, ModelCheckpoint):
                cb.dirpath = str(scratch / "checkpoints")
        resume = ModelCheckpoint(dirpath=str(scratch), filename=RESUME_NAME, monitor=None, save_top_k=1,
                                 every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False)
        rng = RNGState()
        trainer.callbacks.extend([rng, resume])
        if (scratch / f"{RESUME_NAME}.ckpt").is_file():
            ckpt_path = str(scratch / f"{RESUME_NAME}.ckpt")
            print(f"resuming from {ckpt_path}")
    if os.environ.get("EDGEREPRO_TEST_SIGTERM_AFTER_EPOCHS"):
        trainer.callbacks.append(_StopAfterEpochs(int(os.environ["EDGEREPRO_TEST_SIGTERM_AFTER_EPOCHS"])))
    t0 = time.perf_counter()
    if fit:
        trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    signals.check()  # Lightning stops its loop quietly on SIGTERM: never validate and publish a partial run
    train_s = time.perf_counter() - t0
    best = None
    if restore_best:
        monitored = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint) and cb.monitor]
        if not monitored or not monitored[0].best_model_path:
            raise RuntimeError("restore_best: the configuration has no ModelCheckpoint with a `monitor` that saved a "
                               "checkpoint (configs' trainer.callbacks)")
        best = monitored[0]
    # the best checkpoint's weights (Lightning loads it with weights_only=True: tensors and plain values only)
    res = trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False,
                           ckpt_path=best.best_model_path if best else None, weights_only=True if best else None)
    metrics = {k: float(v) for k, v in (res[0] if res else {}).items()}
    if best is not None:
        import torch

        ck = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
        metrics.update({"best_epoch": int(ck["epoch"]) + 1, "best_monitor": best.monitor,
                        "best_score": float(best.best_model_score)})
    metrics.update({"train_seconds": train_s, "epochs": int(trainer.current_epoch),
                    "optimizer_steps": int(trainer.global_step),
                    "resumed_at_epoch": rng.resumed_at_epoch if scratch is not None and fit else None})
    return cli, metrics
