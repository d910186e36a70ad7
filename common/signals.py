"""SIGINT / SIGTERM for pipeline stages: stop at once, leave no output, exit 130 / 143.

``timeout``, ``docker stop``, SLURM and Ctrl-C end a stage with a signal. Lightning's own handling would turn
SIGTERM into a clean ``exit(0)`` (its loops stop and report success) and Ctrl-C into ``exit(1)``, and DVC
would then look for outputs that were never written. :func:`install` replaces both with a handler that raises
:class:`StageInterrupted` where the program is, so ``with atomic_dir(...)`` blocks discard their temporary
directory, and records the signal so the stage's ``main`` exits with 128 + the signal number whatever a
library does with the exception on its way up. Lightning chains an existing SIGTERM handler after its own,
so this one still runs inside ``trainer.fit``.
"""
from __future__ import annotations

import signal

_received: int | None = None


class StageInterrupted(BaseException):
    """Raised in the main thread when the stage receives SIGINT or SIGTERM (a ``BaseException``, like
    ``KeyboardInterrupt``, so ``except Exception`` blocks do not swallow it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def _handler(signum, frame) -> None:
    global _received
    first = _received is None
    _received = signum
    if first:  # a second signal while cleaning up must not interrupt the clean-up itself
        raise StageInterrupted(signum)


def install() -> None:
    global _received
    _received = None
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def received() -> int | None:
    """The signal number this process received since :func:`install`, or ``None``."""
    return _received


def check() -> None:
    """Raise :class:`StageInterrupted` if a signal was received (e.g. a library caught the first exception)."""
    if _received is not None:
        raise StageInterrupted(_received)


def exit_code(signum: int) -> int:
    return 128 + int(signum)
