"""One error type for bad input data: it always names the file, the line when there is one, and what was
expected, so a user can fix the data without reading our code."""
from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, expected: str | None = None):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        msg = f"{where}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, f"{what} folder not found", expected=f"a directory holding {what}")
    return path
