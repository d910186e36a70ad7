"""The one skeleton of every pipeline stage.

A stage is a module ``tasks/<task>/<stage>.py`` with three things::

    class Params(StageParams):            # every parameter the stage reads, typed, with ranges
        ratio: float = Field(0.5, gt=0, lt=1, description="share of channels removed per layer")

    def run(params: Params, out_dir: Path) -> dict: ...

    if __name__ == "__main__":
        main(__spec__.name, Params, run)

Its name is derived, never repeated: module ``tasks.detection.prune`` = section ``<profile>.prune`` of
``tasks/detection/params.yaml`` = output directory ``data/detection/prune``. A module that hosts several
stages of one recipe (e.g. the training stages) passes ``stages={name: section}`` and takes the stage name as
its first argument; the section path doubles as the output path (``train.diffusion`` → ``data/edges/train/
diffusion``).

Parameters are validated before any work and before torch is imported (this module imports only the standard
library, PyYAML and pydantic): an unknown key, a wrong type or an out-of-range value stops the stage with the
file, line, section, key and, for a misspelling, the closest valid name. ``profile`` and ``seed`` come from the
root ``params.yaml`` and cannot be set in a section. SIGINT / SIGTERM end the stage with 130 / 143 and no
output (:mod:`common.signals`).
"""
from __future__ import annotations

import argparse
import difflib
import sys
import time
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILES = ("tiny", "smoke", "full")
CONTEXT_KEYS = ("profile", "seed")
# the root params.yaml's keys: the stages' context, and where the report stages write (common.reports.report_dir)
ROOT_KEYS = (*CONTEXT_KEYS, "reports", "headline")

__all__ = ["StageParams", "Field", "ParamsError", "StageId", "load_params", "main", "params_help", "locate",
           "suggest", "PROFILES"]


class StageParams(BaseModel):
    """Base of every stage's parameters: unknown keys are errors, values are checked, instances are frozen.

    ``profile`` and ``seed`` are filled from the root ``params.yaml`` (one place for both)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    profile: str = Field("smoke", description="from params.yaml (root): tiny | smoke | full")
    seed: int = Field(0, description="from params.yaml (root): the global seed")


class ParamsError(ValueError):
    """A parameter file that does not match a stage's declaration (the message says where and why)."""


class StageId(typing.NamedTuple):
    task: str
    section: str  # dotted path inside the profile section, e.g. "prune" or "train.diffusion"

    @property
    def out_dir(self) -> Path:
        return Path("data", self.task, *self.section.split("."))

    @property
    def params_file(self) -> Path:
        return Path("tasks", self.task, "params.yaml")

    @property
    def label(self) -> str:
        return f"{self.task}/{self.section}"


# --- locating a key in a YAML file -------------------------------------------------------------------------
def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def locate(node: yaml.Node | None, keys: list) -> int | None:
    """1-based line of the deepest existing node along ``keys`` (mapping keys or sequence indices)."""
    line = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def suggest(word: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(word), valid, n=1, cutoff=0.6)
    if close:
        return f"; did you mean `{close[0]}`?"
    return f"; valid keys: {', '.join(sorted(valid))}" if valid else ""


# --- the model at a location, for "did you mean" --------------------------------------------------------------
def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def _fields_at(cls: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` inside ``cls`` (dict keys and list indices are skipped over)."""
    models = [cls]
    for part in loc:
        nxt = []
        for m in models:
            if isinstance(part, str) and part in m.model_fields:
                nxt += _models_in(m.model_fields[part].annotation)
            else:
                nxt.append(m)  # a dict key or a list index: the value's model is the same
        models = list(dict.fromkeys(nxt))
        if not models:
            return []
    # profile / seed of the section itself come from the root params.yaml; deeper models may have their own seed
    return sorted({f for m in models for f in m.model_fields if loc or f not in CONTEXT_KEYS})


def format_validation_error(err: ValidationError, cls: type[BaseModel], file: Path, prefix: list,
                            node: yaml.Node | None) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic adds the union member's type name to the location; keep only keys and indices
        loc = tuple(p for p in loc if isinstance(p, int) or not any(c in p for c in "[]()"))
        where = ".".join(str(p) for p in [*prefix, *loc])
        line = locate(node, [*prefix, *loc])
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + suggest(loc[-1], _fields_at(cls, loc[:-1]))
        elif e["type"] == "missing":
            msg = "required key missing"
        else:
            msg = f"{e['msg']} (got {e.get('input')!r})"
        lines.append(f"{file}{':' + str(line) if line else ''}: `{where}`: {msg}")
    return "\n".join(lines)


# --- loading --------------------------------------------------------------------------------------------------
def project_context(root: str | Path = ".") -> dict:
    path = Path(root) / "params.yaml"
    doc = _read_yaml(path) or {}
    unknown = set(doc) - set(ROOT_KEYS)
    if unknown:
        k = sorted(unknown)[0]
        raise ParamsError(f"{path}:{locate(_compose(path), [k])}: `{k}`: unknown key{suggest(k, list(ROOT_KEYS))}")
    profile = doc.get("profile", "smoke")
    if profile not in PROFILES:
        raise ParamsError(f"{path}:{locate(_compose(path), ['profile'])}: `profile`: must be one of "
                          f"{', '.join(PROFILES)}, got {profile!r}")
    seed = doc.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ParamsError(f"{path}:{locate(_compose(path), ['seed'])}: `seed`: must be an integer, got {seed!r}")
    reports = doc.get("reports", "reports")
    if not isinstance(reports, str) or not reports.strip():
        raise ParamsError(f"{path}:{locate(_compose(path), ['reports'])}: `reports`: must be a folder path, "
                          f"got {reports!r}")
    headline = doc.get("headline") or {}
    ok = isinstance(headline, dict) and all(
        isinstance(cols, dict) and all(isinstance(k, str) and isinstance(v, str) and "/" in v for k, v in cols.items())
        for cols in headline.values())
    if not ok:
        raise ParamsError(f"{path}:{locate(_compose(path), ['headline'])}: `headline`: expected "
                          "{task: {column: variants/<variant>/<metric> | derived/<name>}}")
    return {"profile": profile, "seed": seed, "reports": reports, "headline": headline}


def locate_root_key(root: str | Path, key: str) -> str:
    """``params.yaml:<line>`` of a key of the root params.yaml (``params.yaml`` alone when it is not set)."""
    path = Path(root) / "params.yaml"
    line = locate(_compose(path), [key])
    return f"{path}:{line}" if line else str(path)


def _read_yaml(path: Path) -> Any:
    """``common.io.read_yaml``, its errors as :class:`ParamsError` (a stage exits 2 with the message)."""
    from common.io import read_yaml

    try:
        return read_yaml(path)
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the repository root)") from None
    except ValueError as e:
        raise ParamsError(str(e)) from None


def section_of(doc: Any, file: Path, profile: str, section: str) -> tuple[dict, list]:
    """The mapping at ``<profile>.<section>`` of a task's params document, and its key path."""
    keys: list = [profile, *section.split(".")]
    node: Any = doc
    for i, k in enumerate(keys):
        if not isinstance(node, dict) or k not in node:
            have = sorted(node) if isinstance(node, dict) else []
            where = ".".join(keys[:i]) or "(top level)"
            raise ParamsError(f"{file}: `{where}` has no section `{k}`{suggest(k, have)}")
        node = node[k]
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ParamsError(f"{file}:{locate(_compose(file), keys)}: `{'.'.join(keys)}`: expected a mapping of "
                          f"parameters, got {type(node).__name__}")
    return node, keys


def load_params(cls: type[StageParams], stage: StageId, root: str | Path = ".", profile: str | None = None
                ) -> StageParams:
    """Validate ``<profile>.<section>`` of the task's ``params.yaml`` against ``cls`` (no torch import).
    ``profile``: another profile than the active one (e.g. benchmarks, which run on the smoke data)."""
    root = Path(root)
    ctx = project_context(root)
    if profile is not None:
        if profile not in PROFILES:
            raise ParamsError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        ctx["profile"] = profile
    file = root / stage.params_file
    data, keys = section_of(_read_yaml(file), stage.params_file, ctx["profile"], stage.section)
    for k in CONTEXT_KEYS:
        if k in data:
            raise ParamsError(f"{stage.params_file}:{locate(_compose(file), [*keys, k])}: `{'.'.join(keys)}.{k}`: "
                              f"set `{k}` once, in params.yaml at the repository root")
    try:
        return cls.model_validate({**data, **{k: ctx[k] for k in CONTEXT_KEYS}})
    except ValidationError as e:
        raise ParamsError(format_validation_error(e, cls, stage.params_file, keys, _compose(file))) from None


def _check(cls: type[StageParams], stage: StageId, profile: str, root: str | Path = ".") -> list[ParamsError]:
    """Validation errors of ``stage``'s section under ``profile`` (whatever the active profile is)."""
    root = Path(root)
    file = root / stage.params_file
    try:
        data, keys = section_of(_read_yaml(file), stage.params_file, profile, stage.section)
        cls.model_validate({**data, "profile": profile, "seed": 0})
    except ParamsError as e:
        return [e]
    except ValidationError as e:
        return [ParamsError(format_validation_error(e, cls, stage.params_file, keys, _compose(file)))]
    return []


# --- --help ---------------------------------------------------------------------------------------------------
def _type_name(ann) -> str:
    if ann is type(None):
        return "null"
    if isinstance(ann, type):
        return ann.__name__
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(ann))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(ann)[0])
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(ann))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return str(ann).replace("typing.", "")


def _constraints(field) -> str:
    out = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "len ≥")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def params_help(cls: type[BaseModel], indent: str = "  ", skip_context: bool = True) -> str:
    rows = []
    for name, f in cls.model_fields.items():
        if skip_context and name in CONTEXT_KEYS:
            continue
        typ = _type_name(f.annotation)
        cons = _constraints(f)
        if f.is_required():
            default = "required"
        else:
            d = f.get_default(call_default_factory=True)
            default = f"default {d.model_dump(exclude_defaults=True) if isinstance(d, BaseModel) else d!r}"
        head = f"{indent}{name}: {typ}{' (' + cons + ')' if cons else ''}, {default}"
        rows.append(head + (f"\n{indent}    {f.description}" if f.description else ""))
        for sub in _models_in(f.annotation):
            if sub is not cls:
                rows.append(params_help(sub, indent + "    ", skip_context=False))
    return "\n".join(rows)


# --- main -----------------------------------------------------------------------------------------------------
def _stage_from_module(module: str) -> tuple[str, str]:
    parts = module.split(".")
    if len(parts) != 3 or parts[0] != "tasks":
        raise ValueError(f"a stage module is tasks.<task>.<stage>, got {module!r}")
    return parts[1], parts[2]


def main(module: str, params: type[StageParams] | Mapping[str, type[StageParams]],
         run: Callable[..., Any], stages: Mapping[str, str] | None = None, argv=None, doc: str | None = None) -> None:
    """Entry point of ``python -m <module>``: parse, validate the parameters, ``run``, exit 130/143 on signals.

    One stage: ``run(params, out_dir)``. Several (``stages={name: section}``, ``params`` a class or a
    ``{name: class}`` map): ``python -m <module> <name>`` and ``run(name, params, out_dir)``."""
    from common import signals

    task, stage = _stage_from_module(module)
    mod = sys.modules.get("__main__") if doc is None else None
    description = doc if doc is not None else (getattr(mod, "__doc__", None) or "")
    classes = ({n: (params[n] if isinstance(params, Mapping) else params) for n in stages}
               if stages else {stage: params})
    epilog, groups = [], {}
    for name, cls in classes.items():  # stages sharing one declaration are listed together
        groups.setdefault(cls, []).append(name)
    for cls, names in groups.items():
        where = ", ".join(f"<profile>.{stages[n] if stages else stage} → {StageId(task, stages[n] if stages else stage).out_dir}/"
                          for n in names)
        epilog.append(f"parameters of {', '.join(f'`{n}`' for n in names)} (section → output: {where}; "
                      f"file tasks/{task}/params.yaml):\n{params_help(cls)}")
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=description,
                                 epilog="\n\n".join(epilog), formatter_class=argparse.RawDescriptionHelpFormatter)
    if stages:
        ap.add_argument("stage", choices=list(stages), help="which stage of this module to run")
    ap.add_argument("--out", help="output directory (default: the stage's, see below)")
    ap.add_argument("--check", nargs="*", choices=PROFILES, metavar="PROFILE",
                    help="only validate the stage's parameters, for the given profiles (default: all), and exit "
                         "(a training stage's `config:` is checked by LightningCLI when the stage starts, "
                         "before any data is read)")
    args = ap.parse_args(argv)
    name = args.stage if stages else stage
    sid = StageId(task, stages[name] if stages else stage)
    if args.check is not None:
        errors = [str(e) for prof in (args.check or PROFILES) for e in _check(classes[name], sid, prof)]
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        if not errors:
            print(f"{sid.label}: parameters valid ({', '.join(args.check or PROFILES)})")
        raise SystemExit(2 if errors else 0)
    try:
        p = load_params(classes[name], sid)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    out_dir = Path(args.out) if args.out else sid.out_dir
    signals.install()
    t0 = time.perf_counter()
    try:
        result = run(name, p, out_dir) if stages else run(p, out_dir)
        signals.check()
    except ParamsError as e:  # e.g. LightningCLI rejected the `config` of params.yaml
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except (signals.StageInterrupted, SystemExit, KeyboardInterrupt):
        signum = signals.received()
        if signum is None:
            raise
        import signal as _signal

        print(f"\n{sid.label}: stopped by {_signal.Signals(signum).name} after {time.perf_counter() - t0:.0f} s; "
              f"no output written to {out_dir} (training stages resume from their last checkpoint when rerun)",
              file=sys.stderr)
        raise SystemExit(signals.exit_code(signum)) from None
    if isinstance(result, dict):
        print({k: v for k, v in result.items() if isinstance(v, (int, float, str, bool, type(None)))})
