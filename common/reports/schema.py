"""``tasks/<task>/paper.yaml``: the one place a paper's reported numbers live, each with its source.

Schema::

    paper:   {title, short?, arxiv, url?, related?: [{title, arxiv}]}
    profile_note: str?            # what differs from the paper at our scale
    metrics: {key: {label, fmt?, ours_scale?}}   # columns shown side by side; ours × ours_scale
    rows:                          # the paper's reported numbers
      - {method, dataset, metric, value, unit?, source}
    claims:                        # checks on *our* numbers
      - id: str
        text: str
        check: "<metric> <op> <number>"
        source: str
        paper: number | str        # optional: the paper's own number for it
        compares: [variant, …]     # optional: the variants the claim compares (their seeds are shown)
        preconditions:             # optional: the claim's premise, checked on this run's numbers
          - {check: "<metric> <op> <number>", why: "the baseline learned (…)"}
        not_testable: str          # optional: why our design / the offline world cannot test it

A ``check`` is ``<name> <op> <number>`` with op in ``>= <= > < ==``; it is parsed, never ``eval``-ed.

Verdict classes (design.md, "Verdicts") — a claim is checked on an :class:`~common.evaluate.intervals.Estimate`
(value and 95 % interval):

* ``holds``: every value of the interval satisfies the check (an end touching the threshold of ``>=`` / ``<=``
  satisfies it); ``fails``: no value of the interval does; ``inconclusive``: the interval straddles it;
* ``not testable here``: the claim says why (``not_testable``), or its metric was not measured at this profile;
* ``precondition unmet``: a precondition does not *hold* (fails, inconclusive or not measured) — never a
  ``holds`` on a false premise;
* ``no interval yet``: our number is a plain point value (a report from before intervals); the point check
  is shown beside it, never as the verdict.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from common.evaluate.intervals import as_interval
from common.io import read_yaml

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
CHECK_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
NOT_TESTABLE, PRECONDITION_UNMET, NO_INTERVAL = "not testable here", "precondition unmet", "no interval yet"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE, PRECONDITION_UNMET)  # the five classes
# reports rendered before verdict classes existed: their point verdicts map to these
LEGACY_NOT_MEASURABLE = "not measurable at this profile"


@dataclass(frozen=True)
class Check:
    """``<metric> <op> <threshold>``, parsed."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str, where: str = "check") -> "Check":
        m = CHECK_RE.match(text) if isinstance(text, str) else None
        if not m:
            raise ValueError(f"{where} {text!r} is not '<metric> <op> <number>'")
        return cls(m.group(1), m.group(2), float(m.group(3)))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    def point(self, value: float) -> bool:
        return bool(OPS[self.op](float(value), self.threshold))

    def interval(self, lo: float, hi: float) -> str:
        """``holds`` / ``fails`` / ``inconclusive`` of the interval [lo, hi] against the threshold."""
        lo, hi, t = float(lo), float(hi), self.threshold
        if lo > hi:
            raise ValueError(f"interval [{lo}, {hi}] is empty")
        if self.op == "==":
            return HOLDS if lo == hi == t else (FAILS if t < lo or t > hi else INCONCLUSIVE)
        # the ops are monotone in the value: every value satisfies iff both ends do, none iff neither does
        ends = self.point(lo), self.point(hi)
        return HOLDS if all(ends) else (FAILS if not any(ends) else INCONCLUSIVE)


@dataclass
class Claim:
    id: str
    text: str
    metric: str
    op: str
    threshold: float
    source: str
    paper: float | str | None = None
    compares: list[str] = field(default_factory=list)
    preconditions: list[tuple[Check, str]] = field(default_factory=list)
    not_testable: str | None = None

    @property
    def check(self) -> str:
        return str(Check(self.metric, self.op, self.threshold))

    def judge(self, derived: dict, profile: str = "") -> dict:
        """The claim's verdict on this run's ``derived`` numbers: {verdict, reason, ours, lo, hi, point}."""
        out = {"verdict": None, "reason": "", "ours": None, "lo": None, "hi": None, "point": None}
        if self.not_testable:
            return {**out, "verdict": NOT_TESTABLE, "reason": self.not_testable.strip()}
        if derived.get(self.metric) is None:
            at = f" at profile `{profile}`" if profile else ""
            return {**out, "verdict": NOT_TESTABLE, "reason": f"`{self.metric}` was not measured{at}"}
        value, lo, hi = as_interval(derived[self.metric])
        chk = Check(self.metric, self.op, self.threshold)
        out.update(ours=value, lo=lo, hi=hi, point=HOLDS if chk.point(value) else FAILS)
        for pre, why in self.preconditions:
            x = derived.get(pre.metric)
            if x is None:
                state = "not measured"
            else:
                v, plo, phi = as_interval(x)
                state = pre.interval(plo, phi) if plo is not None else (HOLDS if pre.point(v) else FAILS)
                shown = f"{v:.4g}" if plo is None else f"{v:.4g} [{plo:.4g}, {phi:.4g}]"
                state = {HOLDS: HOLDS, FAILS: f"false ({pre.metric} = {shown})",
                         INCONCLUSIVE: f"not established ({pre.metric} = {shown})"}[state]
            if state != HOLDS:
                return {**out, "verdict": PRECONDITION_UNMET, "reason": f"`{pre}` {state}: {why}".rstrip(": ")}
        if lo is None:
            return {**out, "verdict": NO_INTERVAL, "reason": f"point check: {out['point']}"}
        return {**out, "verdict": chk.interval(lo, hi)}

    def verdict(self, ours: dict) -> tuple[str, float | None]:
        """(verdict, our point value): the short form of :meth:`judge`."""
        j = self.judge(ours)
        return j["verdict"], j["ours"]


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
        unknown = set(c) - {"id", "text", "check", "source", "paper", "compares", "preconditions", "not_testable"}
        if unknown:
            raise ValueError(f"{path}: {where} has unknown key(s) {sorted(unknown)}")
        try:
            chk = Check.parse(c["check"], f"{where}.check")
            pres = []
            for j, p in enumerate(c.get("preconditions") or []):
                p = {"check": p} if isinstance(p, str) else p
                if not isinstance(p, dict) or "check" not in p:
                    raise ValueError(f"{where}.preconditions[{j}] must be a check or {{check, why}}")
                pres.append((Check.parse(p["check"], f"{where}.preconditions[{j}].check"), str(p.get("why", ""))))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        compares = c.get("compares") or []
        if not isinstance(compares, list) or not all(isinstance(v, str) for v in compares):
            raise ValueError(f"{path}: {where}.compares must be a list of variant names")
        nt = c.get("not_testable")
        if nt is not None and (not isinstance(nt, str) or not nt.strip()):
            raise ValueError(f"{path}: {where}.not_testable must say why (a non-empty string)")
        claims.append(Claim(id=c["id"], text=c["text"], metric=chk.metric, op=chk.op, threshold=chk.threshold,
                            source=c["source"], paper=c.get("paper"), compares=compares, preconditions=pres,
                            not_testable=nt))
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate claim ids {ids}")
    return Paper(title=_need(paper, "title", "paper", path, str), arxiv=str(_need(paper, "arxiv", "paper", path)),
                 path=path, metrics=metrics, rows=rows, claims=claims, note=doc.get("profile_note", ""),
                 url=paper.get("url", ""), short=paper.get("short", ""), related=list(paper.get("related") or []))
