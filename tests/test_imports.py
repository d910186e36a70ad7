"""Dependencies point one way: tasks → common, never task → task, never common → tasks; common's core never
imports a model zoo (only common/adapters/ does)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

ZOOS = ("ultralytics",)


def imports_of(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def violations(root: Path) -> list[str]:
    """Every import that breaks the direction rule, as ``file:line: what``."""
    bad = []
    for f in sorted((root / "tasks").glob("*/**/*.py")):
        task = f.relative_to(root / "tasks").parts[0]
        for line, mod in imports_of(f):
            parts = mod.split(".")
            if parts[0] == "tasks" and len(parts) > 1 and parts[1] != task:
                bad.append(f"{f.relative_to(root)}:{line}: task {task!r} imports {mod} (tasks never import each "
                           "other: move what both need to common/)")
            if parts[0] in ZOOS:
                bad.append(f"{f.relative_to(root)}:{line}: task {task!r} imports the model zoo {mod} directly "
                           "(go through common/adapters/)")
    for f in sorted((root / "common").rglob("*.py")):
        adapter = "adapters" in f.relative_to(root / "common").parts
        for line, mod in imports_of(f):
            if mod.split(".")[0] == "tasks":
                bad.append(f"{f.relative_to(root)}:{line}: common imports {mod}")
            if mod.split(".")[0] in ZOOS and not adapter:
                bad.append(f"{f.relative_to(root)}:{line}: common's core imports the model zoo {mod} "
                           "(go through common/adapters/)")
    return bad


def test_the_repository_follows_the_import_rules():
    assert violations(ROOT) == []


@pytest.mark.parametrize("code, what", [
    ("from tasks.detection.data import make_view\n", "task 'pose' imports tasks.detection.data"),
    ("def f():\n    import tasks.detection.yolo\n", "task 'pose' imports tasks.detection.yolo"),
])
def test_a_task_importing_another_is_caught(tmp_path, code, what):
    for t in ("pose", "detection"):
        (tmp_path / "tasks" / t).mkdir(parents=True)
        (tmp_path / "tasks" / t / "__init__.py").write_text("")
    (tmp_path / "common").mkdir()
    (tmp_path / "tasks/pose/peer.py").write_text(code)
    (tmp_path / "tasks/pose/ok.py").write_text("from tasks.pose.peer import f\nfrom common.io import ROOT\n")
    found = violations(tmp_path)
    assert len(found) == 1 and what in found[0] and found[0].startswith("tasks/pose/peer.py:")


def test_common_importing_a_zoo_outside_adapters_is_caught(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "common/adapters").mkdir(parents=True)
    (tmp_path / "common/adapters/ultralytics.py").write_text("import ultralytics\n")
    (tmp_path / "common/core.py").write_text("from ultralytics.nn.tasks import DetectionModel\n")
    assert violations(tmp_path) == ["common/core.py:1: common's core imports the model zoo ultralytics.nn.tasks "
                                    "(go through common/adapters/)"]


def test_no_file_refers_to_a_path_outside_the_repository():
    import subprocess

    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    me = Path(__file__).resolve()
    bad = [f for f in files if (ROOT / f).is_file() and (ROOT / f).resolve() != me
           and (ROOT / f).suffix in (".py", ".md", ".yaml", ".yml", ".toml", ".txt", "")
           and "../shared" in (ROOT / f).read_text(errors="ignore")]
    assert bad == [], f"these files point outside the repository (../shared): {bad}"
