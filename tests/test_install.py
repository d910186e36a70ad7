"""Install as users expect: `pip install -e .` (core) runs common/ alone; each task's extra adds its pipeline.

The fast check runs common's tests with every extra's package hidden (``tests/core_only.py``); the slow one builds
a real core-only venv (`pip install -e .` with the pinned torch, no extras) and runs them there.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT, venv_env
from tests.extras import EXTRA_MODULES

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def dist_name(req: str) -> str:
    return re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].strip().lower()


def test_every_extra_dependency_is_known_to_the_core_only_check():
    extras = {dist_name(r) for reqs in PROJECT["optional-dependencies"].values() for r in reqs}
    unknown = sorted(extras - set(EXTRA_MODULES))
    assert not unknown, f"add {unknown} to tests/extras.py's EXTRA_MODULES (distribution → module)"
    core = {dist_name(r) for r in PROJECT["dependencies"]}
    hidden_core = sorted(d for d in core if EXTRA_MODULES.get(d))
    assert not hidden_core, f"{hidden_core} are core dependencies: tests/core_only.py must not hide them"


def test_core_dependencies_are_ranges_and_the_makefile_pins_torch():
    torch = [r for r in PROJECT["dependencies"] if dist_name(r) in ("torch", "torchvision")]
    assert torch and not any("==" in r for r in torch), torch
    assert re.search(r"^PINS := torch==\S+ torchvision==\S+", (ROOT / "Makefile").read_text(), re.M)
    assert "ultralytics" not in {dist_name(r) for r in PROJECT["dependencies"]}  # AGPL-3.0: an extra only


def test_common_tests_pass_with_the_extras_hidden():
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.core_only", "-p", "no:cacheprovider",
                          "tests/common"], cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "skipped" in out.stdout  # the task-bound ones are skipped, not failed


def test_the_core_only_plugin_hides_what_it_says():
    code = ("import tests.core_only, importlib.util\n"
            "try:\n    import ultralytics\nexcept ModuleNotFoundError as e:\n    print('hidden', e.name)\n"
            "print(importlib.util.find_spec('transformers'))\n"
            "import common.distill.losses, common.compress.prune, common.export.onnx\nprint('core ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert out.stdout.split() == ["hidden", "ultralytics", "None", "core", "ok"], out.stdout + out.stderr


@pytest.mark.slow
def test_a_real_core_only_venv_runs_the_common_tests(tmp_path):
    """~5 min and several GB: a venv with `pip install -e .` only (torch pinned as make does), then tests/common."""
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    pins = re.search(r"^PINS := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    subprocess.run([py, "-m", "pip", "install", "-q", *pins], check=True, timeout=1800)
    subprocess.run([py, "-m", "pip", "install", "-q", "-e", str(ROOT), "pytest>=8", *pins], check=True, timeout=1800)
    probe = subprocess.run([py, "-c", "import ultralytics"], capture_output=True, text=True)
    assert probe.returncode != 0, "ultralytics got installed by the core install"
    env = venv_env()
    env["PATH"] = str(venv / "bin") + ":" + env["PATH"]
    out = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/common"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
