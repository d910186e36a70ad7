"""``tasks/<task>/paper.yaml``: the one place a paper's reported numbers live, each with its source.

Schema::

    paper:   {title, short?, arxiv, url?, related?: [{title, arxiv}]}
    profile_note: str?            # what differs from the paper at our scale
    metrics: {key: {label, fmt?, ours_scale?}}   # columns shown side by side; ours × ours_scale
    rows:                          # the paper's reported numbers
      - {method, dataset, metric, value, unit?, source}
    claims:                        # checks on *our* numbers
      - {id, text, check: "<metric> <op> <number>", paper?, source}

A claim's ``check`` is ``<name> <op> <number>`` with op in ``>= <= > < ==``; it is parsed, never
``eval``-ed. A claim whose metric we did not measure at this profile is "not measurable at this profile".
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from common.io import read_yaml

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
CHECK_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")

HOLDS, FAILS, NOT_MEASURABLE = "holds", "fails", "not measurable at this profile"


@dataclass
class Claim:
    id: str
    text: str
    metric: str
    op: str
    threshold: float
    source: str
    paper: float | str | None = None

    def verdict(self, ours: dict) -> tuple[str, float | None]:
        value = ours.get(self.metric)
        if value is None:
            return NOT_MEASURABLE, None
        value = float(value)
        return (HOLDS if OPS[self.op](value, self.threshold) else FAILS), value

    @property
    def check(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass
class Paper:
    title: str
    arxiv: str
    path: Path
    metrics: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    note: str = ""
    url: str = ""
    short: str = ""
    related: list[dict] = field(default_factory=list)  # further papers the task reproduces: {title, arxiv}

    def reported(self, method: str, metric: str) -> dict | None:
        for r in self.rows:
            if r["method"] == method and r["metric"] == metric:
                return r
        return None

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.rows))


def _need(d: dict, key: str, where: str, path: Path, kind=None):
    if not isinstance(d, dict) or key not in d:
        raise ValueError(f"{path}: {where} lacks required key {key!r}")
    if kind is not None and not isinstance(d[key], kind):
        raise ValueError(f"{path}: {where}.{key} must be {kind}, got {type(d[key]).__name__}")
    return d[key]


def load_paper(path: str | Path) -> Paper:
    path = Path(path)
    doc = read_yaml(path) or {}
    paper = _need(doc, "paper", "document", path, dict)
    metrics = doc.get("metrics") or {}
    rows = []
    for i, r in enumerate(doc.get("rows") or []):
        where = f"rows[{i}]"
        for k in ("method", "dataset", "metric", "source"):
            _need(r, k, where, path, str)
        _need(r, "value", where, path, (int, float))
        if metrics and r["metric"] not in metrics:
            raise ValueError(f"{path}: {where}.metric {r['metric']!r} is not declared under metrics:")
        rows.append(dict(r))
    claims = []
    for i, c in enumerate(doc.get("claims") or []):
        where = f"claims[{i}]"
        for k in ("id", "text", "check", "source"):
            _need(c, k, where, path, str)
        m = CHECK_RE.match(c["check"])
        if not m:
            raise ValueError(f"{path}: {where}.check {c['check']!r} is not '<metric> <op> <number>'")
        claims.append(Claim(id=c["id"], text=c["text"], metric=m.group(1), op=m.group(2),
                            threshold=float(m.group(3)), source=c["source"], paper=c.get("paper")))
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate claim ids {ids}")
    return Paper(title=_need(paper, "title", "paper", path, str), arxiv=str(_need(paper, "arxiv", "paper", path)),
                 path=path, metrics=metrics, rows=rows, claims=claims, note=doc.get("profile_note", ""),
                 url=paper.get("url", ""), short=paper.get("short", ""), related=list(paper.get("related") or []))
