"""A pytest plugin that hides every package a task's extra installs, as a core ``pip install -e .`` would lack them:
``python -m pytest tests/common -p tests.core_only`` runs common's tests as a core-only user would
(tests/test_install.py runs it; its slow twin checks a real core-only venv).

Importing a hidden package raises ``ModuleNotFoundError``, as if it were not installed; ``tasks`` is hidden too,
so a test of common/ that needs a task is skipped (``tests.conftest.needs``) rather than silently passing.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import sys

from tests.extras import EXTRA_MODULES

HIDDEN = {"tasks", *(m for m in EXTRA_MODULES.values() if m)}


class _Hide(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # a spec whose loading fails: ``import x`` raises ModuleNotFoundError as for a package that is not installed
    # (raising in find_spec itself would also break libraries that merely probe for optional packages)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (hidden by tests.core_only: a task's extra)",
                                  name=spec.name)

    def exec_module(self, module):  # never reached
        raise ModuleNotFoundError(module.__name__)


_find_spec = importlib.util.find_spec


def _probe(name, package=None):
    """``importlib.util.find_spec`` — how libraries probe for optional packages — says a hidden one is absent."""
    if name.split(".")[0] in HIDDEN:
        return None
    return _find_spec(name, package)


importlib.util.find_spec = _probe

# … or by their installed metadata (importlib.metadata.version / distribution)
HIDDEN_DISTS = {d.lower().replace("_", "-") for d, m in EXTRA_MODULES.items() if m}
_version, _distribution = importlib.metadata.version, importlib.metadata.distribution


def _hidden_dist(name: str) -> bool:
    return name.lower().replace("_", "-") in HIDDEN_DISTS


def _meta_version(name):
    if _hidden_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)
    return _version(name)


def _meta_distribution(name):
    if _hidden_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)
    return _distribution(name)


importlib.metadata.version, importlib.metadata.distribution = _meta_version, _meta_distribution
for _name in [m for m in sys.modules if m.split(".")[0] in HIDDEN]:
    del sys.modules[_name]
sys.meta_path.insert(0, _Hide())
