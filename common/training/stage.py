"""Run a LightningCLI ``fit`` as a pipeline stage: config file + profile overrides, then validate the
final (EMA) weights and return the logged metrics."""
from __future__ import annotations

import shutil
import time
from pathlib import Path


def fit_and_validate(cli_main, config: str | Path | list, overrides: list[str], log_dir: str | Path,
                     checkpoints_to: str | Path | None = None) -> tuple:
    """``cli_main(args)`` builds the task's LightningCLI without running it. Returns (cli, metrics dict).
    ``config``: one LightningCLI config file or a list, applied in order (later files override).

    Checkpoints land in ``<log_dir>/checkpoints``; ``checkpoints_to`` moves them out of a stage's DVC output
    (they are for ``--ckpt_path`` resume, not for downstream stages)."""
    configs = config if isinstance(config, (list, tuple)) else [config]
    args = [a for c in configs for a in ("-c", str(c))] + [*overrides,
            "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
            f"--trainer.logger.save_dir={log_dir}", "--trainer.logger.name=", "--trainer.logger.version="]
    cli = cli_main(args)
    t0 = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    train_s = time.perf_counter() - t0
    if checkpoints_to is not None and (Path(log_dir) / "checkpoints").is_dir():
        shutil.rmtree(checkpoints_to, ignore_errors=True)
        Path(checkpoints_to).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(log_dir) / "checkpoints"), str(checkpoints_to))
    res = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    metrics = {k: float(v) for k, v in (res[0] if res else {}).items()}
    metrics.update({"train_seconds": train_s, "epochs": int(cli.trainer.current_epoch),
                    "optimizer_steps": int(cli.trainer.global_step)})
    return cli, metrics
