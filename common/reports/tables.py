"""``python -m common.reports.tables``: ``reports/README.md``, one line per claim over all tasks, and the count of
each verdict class per task; and ``reports/metrics/<task>.json``, each task's verdict counts and headline numbers
(root ``params.yaml``: ``headline``) as the flat file DVC lists (`dvc metrics show`, `dvc exp show`).

A task report rendered before verdict classes existed (claims without an interval) is shown with the class
``no interval yet`` and its point check beside it — never as ``holds`` / ``fails``: its task's issue reruns it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_write_json, atomic_write_text, project_params, read_json
from common.reports.render import fmt, fmt_interval, md_table
from common.reports.schema import FAILS, HOLDS, LEGACY_NOT_MEASURABLE, NO_INTERVAL, NOT_TESTABLE, VERDICTS

CLASSES = (*VERDICTS, NO_INTERVAL)


def claim_class(c: dict, profile: str) -> tuple[str, str]:
    """(verdict class, reason) of a claim record of a task report, old or new."""
    if "lo" in c:  # rendered with verdict classes
        return c["verdict"], c.get("reason") or ""
    if c["verdict"] == LEGACY_NOT_MEASURABLE:
        return NOT_TESTABLE, f"not measured at profile `{profile}`"
    return NO_INTERVAL, f"point check: {c['verdict']}"


def render_index(reports_dir: str | Path = "reports") -> str:
    reports_dir = Path(reports_dir)
    docs = [read_json(p) for p in sorted(reports_dir.glob("*.json"))]
    rows, per_task = [], {}
    for d in docs:
        counts = per_task.setdefault(d["task"], dict.fromkeys(CLASSES, 0))
        for c in d.get("claims", []):
            verdict, reason = claim_class(c, d["profile"])
            counts[verdict] += 1
            shown = f"**{verdict}**" if verdict in (HOLDS, FAILS) else verdict
            rows.append([f"[{d['task']}]({d['task']}.md)",
                         f"{d['paper'].get('short', d['paper']['title'])} "
                         f"([{d['paper']['arxiv']}](https://arxiv.org/abs/{d['paper']['arxiv']}))",
                         c["text"], fmt(c["paper"]), fmt_interval(c["ours"], c.get("lo"), c.get("hi")),
                         shown + (f" ({reason})" if reason else ""), d["profile"]])
    totals = {k: sum(c[k] for c in per_task.values()) for k in CLASSES}
    count_rows = [[f"[{t}]({t}.md)"] + [str(c[k]) for k in CLASSES] for t, c in per_task.items()]
    count_rows.append(["**all**"] + [f"**{totals[k]}**" for k in CLASSES])
    md = ["# edgerepro results", "",
          "Every number under *ours* was produced by `dvc repro` from data the pipeline generated or read; "
          "paper numbers come from each task's `paper.yaml`. A verdict is drawn from our number's 95 % interval "
          "(paired bootstrap over the evaluated items, combined with the spread over training seeds): "
          "`holds` / `fails` only when the whole interval is on one side of the claim's threshold, `inconclusive` "
          "when it straddles it, `not testable here` with the reason, `precondition unmet` when the claim's premise "
          "is false in this run. `no interval yet`: a report from before intervals; its point check is shown "
          "for information, not as a verdict.", "",
          f"{len(docs)} task report(s), {len(rows)} claim(s): "
          + ", ".join(f"{totals[k]} {k}" for k in CLASSES) + ".", "",
          "## Verdicts per task", "", md_table(["Task", *CLASSES], count_rows), "",
          "## Claims", "",
          md_table(["Task", "Paper", "Claim", "Paper", "Ours [95 % interval]", "Verdict", "Profile"], rows), ""]
    bench = sorted((reports_dir / "benchmarks").glob("*.json"))
    if bench:
        rows = []
        for p in bench:
            for what, value in read_json(p).get("summary", {}).items():
                rows.append([f"[{p.stem}](benchmarks/{p.name})", what, fmt(value, ".3f")])
        md += ["## Benchmarks", "", "Ratios measured side by side in one run by `benchmarks/<name>.py` "
               "(run by hand; the JSON holds every measurement).", "",
               md_table(["Benchmark", "Ratio", "Value"], rows), ""]
    return "\n".join(md)


SHORT = {"not testable here": "untestable", "precondition unmet": "unmet", NO_INTERVAL: "no_interval"}


def headline_value(doc: dict, path: str, where: str):
    """The number at ``variants/<v>/<metric>`` or ``derived/<name>`` of a task report (an interval's value)."""
    node = doc
    section, _, rest = path.partition("/")
    keys = [section, *(rest.split("/", 1) if section == "variants" else [rest])]
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"{where}: {path!r} is not in reports/{doc['task']}.json (no {key!r}; "
                           f"expected variants/<variant>/<metric> or derived/<name>)")
        node = node[key]
    if isinstance(node, dict) and "value" in node:
        node = node["value"]
    return None if node is None else round(float(node), 6)


def task_metrics(doc: dict, headline: dict[str, str], where: str) -> dict:
    """A task's flat metrics for DVC: the count of each verdict class, then its headline numbers."""
    counts = dict.fromkeys((SHORT.get(k, k) for k in CLASSES), 0)
    for c in doc.get("claims", []):
        counts[SHORT.get(claim_class(c, doc["profile"])[0], c["verdict"])] += 1
    counts = {k: v for k, v in counts.items() if v or k in ("holds", "fails", "inconclusive")}
    return {**counts, **{name: headline_value(doc, path, f"{where}.{name}") for name, path in headline.items()}}


def write_metrics(reports_dir: Path, headline: dict[str, dict[str, str]]) -> list[Path]:
    """``<reports>/metrics/<task>.json`` for every task report: what `dvc metrics show` lists."""
    written = []
    for p in sorted(reports_dir.glob("*.json")):
        doc = read_json(p)
        task = doc["task"]
        written.append(atomic_write_json(reports_dir / "metrics" / f"{task}.json",
                                         task_metrics(doc, headline.get(task) or {}, f"params.yaml: headline.{task}")))
    return written


def main(argv=None) -> None:
    from common.reports import report_dir

    ap = argparse.ArgumentParser(prog="python -m common.reports.tables", description=__doc__)
    ap.add_argument("--reports", default=None, help="folder holding <task>.json (default: `reports` of params.yaml)")
    args = ap.parse_args(argv)
    out = report_dir(args.reports)
    atomic_write_text(out / "README.md", render_index(out))
    write_metrics(out, project_params().get("headline") or {})


if __name__ == "__main__":
    main()
