"""Run one measurement in a fresh process: its own memory peak, nothing warmed by an earlier measurement.

:func:`run_measured` calls ``fn(*args, **kwargs)`` in a *spawned* Python process (a new interpreter: none of the
caller's memory, threads or caches) and returns its result with the process's peak resident memory:

* ``peak_rss_mb``: the worker's own high-water mark (Linux ``VmHWM``). Not ``ru_maxrss``: a spawned process is
  forked before it executes the new interpreter, and ``ru_maxrss`` keeps the pages it shared with the caller
  (which may hold torch, models, a sentence encoder) in that instant;
* ``baseline_rss_mb``: its resident memory just before ``fn`` starts (the interpreter, ``fn``'s module and
  the ``imports`` given), so ``added_mb`` = peak − baseline is what the call itself added;
* ``peak_child_rss_mb``: the largest peak of the processes the worker waited for (e.g. a Tesseract binary),
  ``None`` if it ran none.

``fn`` must be importable by name (a module-level function) and its arguments and result picklable. An
exception in the worker is raised again in the caller, with the worker's traceback as a note; a worker that
dies without answering (killed, out of memory, a crash in native code) raises ``RuntimeError`` with its exit
code. SIGINT / SIGTERM of the caller stop the worker too.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = ["Measured", "run_measured", "vm_hwm_mb", "vm_rss_mb"]


class Measured(NamedTuple):
    result: Any
    peak_rss_mb: float
    baseline_rss_mb: float
    peak_child_rss_mb: float | None

    @property
    def added_mb(self) -> float:
        """Peak resident memory the call added to the worker's baseline."""
        return max(self.peak_rss_mb - self.baseline_rss_mb, 0.0)


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def vm_hwm_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``; elsewhere than Linux the ``ru_maxrss`` bound)."""
    mb = _status_mb("VmHWM")
    if mb is None:
        import resource
        import sys

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mb = maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB elsewhere
    return mb


def vm_rss_mb() -> float:
    """This process's resident memory now, in MB."""
    mb = _status_mb("VmRSS")
    if mb is None:
        import psutil

        mb = psutil.Process().memory_info().rss / 2**20
    return mb


def _worker(fn: Callable, args: tuple, kwargs: dict, imports: tuple[str, ...], q) -> None:
    import importlib
    import resource
    import traceback

    try:
        for name in imports:
            importlib.import_module(name)
        baseline = vm_rss_mb()
        result = fn(*args, **kwargs)
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        q.put(("ok", result, vm_hwm_mb(), baseline, child or None))
    except BaseException as e:  # noqa: BLE001 - reported to the caller, which raises it
        tb = traceback.format_exc()
        try:
            import pickle

            pickle.loads(pickle.dumps(e))
            q.put(("error", e, tb))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its type and message
            q.put(("error", RuntimeError(f"{type(e).__name__}: {e}"), tb))


def _start_without_main(p, fn: Callable) -> None:
    """Start the spawned worker without re-running the caller's ``__main__`` module in it.

    ``spawn`` imports the parent's main module in the child (so that functions defined there unpickle); for a
    stage run as ``python -m tasks.<t>.evaluate`` that is torch, Lightning and the task's models, about a second
    per measurement and memory that is not the call's. ``fn`` is importable by name, so the child needs none of
    it: the main module is hidden while the process starts (multiprocessing reads it only then)."""
    import sys
    import types

    if getattr(fn, "__module__", "__main__") == "__main__":
        p.start()
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __spec__, no __file__: nothing to re-run
    try:
        p.start()
    finally:
        sys.modules["__main__"] = main


def run_measured(fn: Callable, *args: Any, imports: Iterable[str] = (), **kwargs: Any) -> Measured:
    """``fn(*args, **kwargs)`` in a fresh spawned process: its result and peak memory (see the module doc).
    ``imports``: modules imported before the baseline is read (their memory is not the call's)."""
    from common import signals

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(fn, args, kwargs, tuple(imports), q), daemon=True)
    _start_without_main(p, fn)
    try:
        msg = None
        while msg is None:
            try:
                msg = q.get(timeout=0.5)
            except queue.Empty:
                signals.check()
                if not p.is_alive():
                    try:  # it may have answered just before exiting
                        msg = q.get(timeout=1.0)
                    except queue.Empty:
                        name = getattr(fn, "__qualname__", repr(fn))
                        raise RuntimeError(f"the measuring process of {name} ended without a result "
                                           f"(exit code {p.exitcode}: killed, out of memory or crashed)") from None
        p.join()
    finally:
        if p.is_alive():
            p.terminate()
            p.join(5)
        q.close()
    if msg[0] == "error":
        _, exc, tb = msg
        exc.add_note(f"in the measuring process:\n{tb.rstrip()}")
        raise exc
    _, result, peak, baseline, child = msg
    return Measured(result, peak, baseline, child)
