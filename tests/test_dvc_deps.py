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


@pytest.mark.parametrize("dvc_file, name, stage", list(stages()),
                         ids=[f"{f.parent.name if f.parent != ROOT else 'root'}:{n}" for f, n, _ in stages()])
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


def code_deps(entry: Path) -> list[str]:
    """The repository files a stage entry module imports (transitively), as deps paths."""
    files = closure(entry)
    for parent in entry.parents:  # `python -m tasks.<task>.<stage>` runs the packages' __init__ first
        if parent == ROOT:
            break
        if (parent / "__init__.py").is_file():
            files.add(parent / "__init__.py")
    return sorted(str(f.relative_to(ROOT)) for f in files)


def fix(paths: list[Path]) -> None:
    """Rewrite the code part of every stage's deps (files under common/ and tasks/ ending in .py) from its imports,
    keeping its other deps (data, configs) and the file's comments: ``python -m tests.test_dvc_deps --fix``."""
    from ruamel.yaml import YAML

    y = YAML()
    y.width = 120
    for dvc_file in paths:
        doc = y.load(dvc_file.read_text())
        for name, st in doc["stages"].items():
            st = st.get("do", st)
            cmd = st["cmd"].split()
            entry = module_file(cmd[2])
            wdir = (dvc_file.parent / st.get("wdir", ".")).resolve()
            keep = [d for d in st["deps"] if not (str(d).endswith(".py") and str(d).split("/")[0] in ("common", "tasks"))
                    and not (str(d).startswith("tasks/") and "/configs/" in str(d))]  # configs are params
            configs = [d for d in st["deps"] if str(d).startswith("tasks/") and "/configs/" in str(d)]
            if configs:
                params = st.setdefault("params", [])
                have = {next(iter(x)) for x in params if isinstance(x, dict)}
                for c in configs:
                    if c not in have:
                        params.append({c: None})
            code = [str((ROOT / c).relative_to(wdir)) if wdir != ROOT else c for c in code_deps(entry)]
            st["deps"].clear()
            st["deps"].extend(code + keep)
        with open(dvc_file, "w") as f:
            y.dump(doc, f)


if __name__ == "__main__":
    import sys

    if "--fix" in sys.argv:
        fix([ROOT / "dvc.yaml", *sorted((ROOT / "tasks").glob("*/dvc.yaml"))] if len(sys.argv) == 2
            else [Path(a).resolve() for a in sys.argv[1:] if a != "--fix"])


@pytest.mark.parametrize("dvc_file", sorted((ROOT / "tasks").glob("*/dvc.yaml")), ids=lambda p: p.parent.name)
def test_prepare_depends_on_the_raw_folder(dvc_file):
    """A user's dataset (profile full) lives in data/<task>/raw: editing an annotation there must rerun prepare."""
    task = dvc_file.parent.name
    st = yaml.safe_load(dvc_file.read_text())["stages"]["prepare"]
    assert f"data/{task}/raw" in st["deps"], f"{dvc_file.relative_to(ROOT)}: prepare must depend on data/{task}/raw"
    assert (ROOT / "data" / task / "raw" / "README.md").is_file()


def test_a_changed_raw_file_makes_prepare_stale(tiny_repo):
    from tests.conftest import dvc

    dvc(tiny_repo, "repro", "tasks/detection/dvc.yaml:prepare")
    assert "changed" not in dvc(tiny_repo, "status", "tasks/detection/dvc.yaml:prepare")
    ann = tiny_repo / "data/detection/raw/VisDrone2019-DET-val/annotations/0000001.txt"
    ann.parent.mkdir(parents=True)
    ann.write_text("10,20,40,10,1,4,0,0\n")
    assert "changed deps" in dvc(tiny_repo, "status", "tasks/detection/dvc.yaml:prepare")


def test_dvc_reads_yaml_with_the_c_parser():
    """The pipeline extra installs ruamel.yaml.clib: DVC's safe loader then parses every dvc.yaml, dvc.lock and
    params file in C (a no-op `dvc repro tasks/detection`: 2.1–2.4 s, against 4.2–4.9 s in pure Python)."""
    import pytest

    pytest.importorskip("dvc")
    from ruamel.yaml import YAML

    assert "CParser" in YAML(typ="safe").Parser.__name__, "pip install ruamel.yaml.clib (pyproject: pipeline extra)"
