"""Every stage's section of every task's params.yaml, in every profile, matches the stage's declaration; a
value is written in one place (params.yaml or the stage's configs/*.yaml, never both)."""
from __future__ import annotations

import runpy
import sys
from functools import lru_cache

import pytest
import yaml

from common.stage import PROFILES
from tests.conftest import ROOT


@lru_cache(maxsize=1)
def pipeline_stages() -> list[tuple[str, str, list]]:
    """(stage name, cmd, params entries) of every stage of the task pipelines, foreach stages expanded by DVC."""
    from dvc.repo import Repo

    out = []
    with Repo(str(ROOT)) as repo:
        for st in repo.index.stages:
            if st.path_in_repo.startswith("tasks/"):
                out.append((st.addressing, st.cmd, [(p.def_path, list(p.params or [])) for p in st.params]))
    return sorted(out)


def check(cmd: str) -> tuple[int, str]:
    words = cmd.split()
    assert words[:2] == ["python", "-m"], cmd
    argv = sys.argv
    sys.argv = [words[2], *words[3:], "--check"]
    try:
        runpy.run_module(words[2], run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return int(e.code or 0), ""
    finally:
        sys.argv = argv
    return -1, "the stage ran instead of checking its parameters"


@pytest.mark.parametrize("name, cmd", [(n, c) for n, c, _ in pipeline_stages()], ids=[n for n, _, _ in pipeline_stages()])
def test_every_profile_matches_the_stage_declaration(name, cmd, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, why = check(cmd)
    err = capsys.readouterr().err
    assert code == 0, f"{name}: `{cmd} --check` failed:\n{err}{why}"


def flat(d, prefix=()) -> set[tuple]:
    if isinstance(d, dict):
        return set().union(*(flat(v, (*prefix, k)) for k, v in d.items())) if d else {prefix}
    return {prefix}


def profile_config_keys(section: dict) -> set[tuple]:
    keys = set()
    for cfg in [section.get("config") or {}, *[(v or {}) for v in (section.get("variants") or {}).values()]]:
        if isinstance(cfg, dict):
            cfg = cfg.get("config", cfg)  # a variant may wrap its configuration with other settings
            keys |= {k for k in flat(cfg) if k and k[0] in ("trainer", "model", "data", "seed_everything")}
    return keys


@pytest.mark.parametrize("name, entries", [(n, e) for n, _, e in pipeline_stages()], ids=[n for n, _, _ in pipeline_stages()])
def test_a_value_lives_in_params_yaml_or_in_a_config_never_both(name, entries):
    configs = [p for p, _ in entries if "/configs/" in p]
    sections = [(p, s) for p, secs in entries if p.startswith("tasks/") and p.endswith("/params.yaml") for s in secs]
    if not configs:
        return
    config_keys = set()
    for c in configs:
        config_keys |= flat(yaml.safe_load((ROOT / c).read_text()) or {})
    for path, sec in sections:
        doc = yaml.safe_load((ROOT / path).read_text())
        for profile in PROFILES:
            node = doc.get(profile, {})
            for part in sec.split(".", 1)[1].split("."):
                node = (node or {}).get(part, {})
            both = profile_config_keys(node or {}) & config_keys
            assert not both, (f"{name}: {sorted('.'.join(map(str, k)) for k in both)} set both in {path} "
                              f"({profile}.{sec.split('.', 1)[1]}) and in {configs}: keep one")


def top_level_entries(text: str) -> list[tuple[str, int, str | None]]:
    """(key, line, anchor of its value) of a YAML document's top-level mapping (PyYAML's nodes drop anchors;
    its events keep them)."""
    out, depth, key = [], 0, None
    for ev in yaml.parse(text):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if depth == 1 and key is not None:
                out.append((key[0], key[1], ev.anchor))
                key = None
            elif depth == 1:
                key = None
            depth += 1
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(ev, (yaml.ScalarEvent, yaml.AliasEvent)) and depth == 1:
            if key is None:
                key = (ev.value, ev.start_mark.line + 1)
            else:
                out.append((key[0], key[1], getattr(ev, "anchor", None)))
                key = None
    return out


@pytest.mark.parametrize("task", sorted(p.parent.name for p in (ROOT / "tasks").glob("*/params.yaml")))
def test_top_level_keys_are_profiles_or_anchors(task):
    path = ROOT / "tasks" / task / "params.yaml"
    entries = top_level_entries(path.read_text())
    for key, line, anchor in entries:
        if key not in PROFILES:
            assert anchor, (f"{path.relative_to(ROOT)}:{line}: top-level key `{key}` is not a profile "
                            f"({', '.join(PROFILES)}); a shared value must be an anchor (`{key}: &name`)")
    assert {k for k, _, _ in entries} >= set(PROFILES)


def test_the_checks_can_fail():
    assert top_level_entries("a: &x {b: 1}\nsmoke: {s: *x}\nc: 2\n") == [("a", 1, "x"), ("smoke", 2, None), ("c", 3, None)]
    section = {"config": {"trainer": {"max_epochs": 2}}, "variants": {"v": {"model": {"init_args": {"k": 3}}}}}
    config_file = {"trainer": {"max_epochs": 20, "callbacks": [1]}, "model": {"init_args": {"lr": 1}}}
    assert profile_config_keys(section) & flat(config_file) == {("trainer", "max_epochs")}
