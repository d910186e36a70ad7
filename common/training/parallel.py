"""Train a stage's independent runs (seeds, ablation settings) side by side on a CPU machine.

Why: on a few cores one training run does not keep them busy. Measured on this project's 2-core machines
(pruned YOLOv8n at 256 px, batch 16, channels-last): one training step takes 0.375 s on 2 threads and 0.50 s on
1; two 1-thread runs side by side take 0.53 s per step each, 1.41× the throughput of running them one after the
other on 2 threads (unpruned YOLOv8n: 1.22×). Seeds of one stage are independent, so a stage trains
``parallel`` of them at a time, each in its own process (``spawn``: nothing is shared) with
``cores // runs-in-its-round`` threads. The thread count of every run follows from its position alone, so the
same command always trains each seed on the same number of threads (floating-point sums depend on it), and
every run's metrics record it (``threads``).

``parallel: 1`` (the default, and always on a GPU: one device) trains the runs one after the other in this
process, as before. Each run keeps its own resume folder: an interrupted stage, rerun, resumes every run where
it stopped. A signal to the stage stops the workers at once (their partial outputs are temporary folders of the
stage's own ``atomic_dir``, discarded with it).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence


def parallel_field(runs: str = "runs"):
    """The ``parallel`` parameter of a training stage (one definition for every task): how many of its ``runs``
    train at once."""
    from pydantic import Field

    return Field(1, ge=1, description=f"{runs} trained at once, each in its own process on cores/parallel threads "
                                      "(common.training.parallel); 1 on a GPU")


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def thread_plan(n_runs: int, parallel: int, n_cores: int | None = None) -> list[int]:
    """Threads of each run when ``n_runs`` runs go ``parallel`` at a time in order: a round of k runs gives each
    ``n_cores // k`` threads (at least 1), so the last, smaller round uses every core too."""
    if parallel < 1:
        raise ValueError(f"parallel must be ≥ 1, got {parallel}")
    n_cores = n_cores or cores()
    plan = []
    for i in range(n_runs):
        start = (i // parallel) * parallel
        in_round = min(parallel, n_runs - start)
        plan.append(max(1, n_cores // in_round))
    return plan


def _run_one(fn: Callable, kwargs: dict, threads: int, label: str) -> Any:
    """A worker's job: ``fn(**kwargs)`` on ``threads`` threads; SIGTERM / SIGINT raise (common.signals) so that
    Lightning never finishes a run quietly and publishes it."""
    import torch

    from common import signals

    signals.install()
    torch.set_num_threads(threads)
    os.environ["EDGEREPRO_RUN_LABEL"] = label
    out = fn(**kwargs)
    signals.check()
    if isinstance(out, dict):
        out = {**out, "threads": threads}
    return out


def run_all(fn: Callable, runs: Sequence[dict], labels: Sequence[str], parallel: int = 1) -> list:
    """``[fn(**kwargs) for kwargs in runs]``, ``parallel`` at a time (see the module docstring). ``fn`` must be a
    module-level function (it is pickled to the workers); its results come back in ``runs``' order. The first
    failure stops the others and is raised here."""
    runs, labels = list(runs), list(labels)
    if len(runs) != len(labels):
        raise ValueError(f"{len(runs)} runs but {len(labels)} labels")
    if parallel <= 1 or len(runs) <= 1:
        return [fn(**kw) for kw in runs]
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    plan = thread_plan(len(runs), parallel)
    print(f"training {len(runs)} runs, {parallel} at a time on {cores()} cores (threads per run: "
          f"{', '.join(f'{lab} {t}' for lab, t in zip(labels, plan))})", flush=True)
    pool = ProcessPoolExecutor(max_workers=parallel, mp_context=mp.get_context("spawn"))
    futures = []
    try:
        futures = [pool.submit(_run_one, fn, kw, t, lab) for kw, t, lab in zip(runs, plan, labels)]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            if f.done() and f.exception() is not None:
                raise f.exception()
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            if p.is_alive():
                p.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
