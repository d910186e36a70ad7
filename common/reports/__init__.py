"""Reports: the ``paper.yaml`` schema, claim checks, and rendering of ``reports/``.

``reports/`` holds the committed reports of one profile, :data:`COMMITTED_PROFILE`. Any other profile (``tiny`` in
the tests, ``full`` on a GPU machine) writes its reports where the root ``params.yaml``'s ``reports`` key says
(e.g. ``data/reports/tiny``): :func:`report_dir` refuses to let it overwrite the committed ones.
"""
from __future__ import annotations

from pathlib import Path

COMMITTED_PROFILE = "smoke"
COMMITTED_DIR = "reports"


def report_dir(explicit: str | Path | None = None, root: str | Path = ".") -> Path:
    """Where this run's reports go: ``explicit`` (a report stage's ``--out``) or ``reports`` of the root
    ``params.yaml``. Raises :class:`common.stage.ParamsError` when a profile other than the committed one would
    write into the committed ``reports/``."""
    from common.stage import ParamsError, locate_root_key, project_context

    ctx = project_context(root)
    target = Path(explicit if explicit is not None else ctx["reports"])
    committed = (Path(root) / COMMITTED_DIR).resolve()
    here = (Path(root) / target).resolve() if not target.is_absolute() else target.resolve()
    if here == committed and ctx["profile"] != COMMITTED_PROFILE:
        where = locate_root_key(root, "reports")
        raise ParamsError(f"{where}: profile `{ctx['profile']}` would overwrite the committed `{COMMITTED_PROFILE}` "
                          f"reports in {COMMITTED_DIR}/; set `reports: data/reports/{ctx['profile']}` in params.yaml "
                          f"(or pass --out) to write them elsewhere")
    return target
