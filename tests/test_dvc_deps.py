"""Every pipeline stage must rerun when code it imports changes: each ``tasks.<task>`` module a stage
imports (transitively, including imports inside functions) must be among its DVC deps."""
import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
    return mods


def module_file(mod: str) -> Path | None:
    base = ROOT / Path(*mod.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py", base / "__main__.py"):
        if cand.is_file():
            return cand
    return None


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for mod in imported_modules(f):
            if mod.split(".")[0] in ("tasks", "common"):
                parts = mod.split(".")
                for i in range(2, len(parts) + 1):  # the package's __init__ runs too
                    mf = module_file(".".join(parts[:i]))
                    if mf is not None:
                        todo.append(mf)
    return seen


def stages():
    for dvc_file in [ROOT / "dvc.yaml", *sorted((ROOT / "tasks").glob("*/dvc.yaml"))]:
        doc = yaml.safe_load(dvc_file.read_text())
        for name, st in doc["stages"].items():
            yield dvc_file, name, st.get("do", st)  # a foreach stage: its template


@pytest.mark.parametrize("dvc_file, name, stage", list(stages()), ids=lambda x: x if isinstance(x, str) else "")
def test_stage_deps_cover_imported_code(dvc_file, name, stage):
    cmd = stage["cmd"].split()
    assert cmd[:2] == ["python", "-m"], f"{name}: stage cmd should be one `python -m …` call"
    entry = module_file(cmd[2])
    assert entry is not None, f"{name}: no module for {cmd[2]}"
    wdir = (dvc_file.parent / stage.get("wdir", ".")).resolve()
    deps = [(wdir / d).resolve() for d in stage["deps"]]
    for f in closure(entry):
        if f.name == "__main__.py" and f != entry:
            continue
        assert any(f == d or d in f.parents for d in deps), f"{dvc_file.name}:{name} imports {f.relative_to(ROOT)} " \
                                                             "but does not list it (or its directory) in deps"
        # the common/ files a stage imports, not the whole directory: a change to one shared module must not
        # rerun every pipeline (stages list the files; this test keeps the lists complete)
        assert (ROOT / "common").resolve() not in deps, f"{dvc_file.name}:{name}: list the common/ files it imports, not common"
        for d in deps:  # a directory dep must not contain DVC's own files, which change on every run
            if d.is_dir():
                assert not list(d.rglob("dvc.lock")) and not list(d.rglob("dvc.yaml")), f"{name}: dep {d} holds dvc files"
