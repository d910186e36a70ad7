"""``python -m common.reports.tables``: ``reports/README.md``, one line per claim over all tasks."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_write_text, read_json
from common.reports.render import fmt, md_table
from common.reports.schema import FAILS, HOLDS


def render_index(reports_dir: str | Path = "reports") -> str:
    reports_dir = Path(reports_dir)
    docs = [read_json(p) for p in sorted(reports_dir.glob("*.json"))]
    rows, counts = [], {HOLDS: 0, FAILS: 0, "other": 0}
    for d in docs:
        for c in d.get("claims", []):
            rows.append([f"[{d['task']}]({d['task']}.md)", f"{d['paper'].get('short', d['paper']['title'])} ([{d['paper']['arxiv']}](https://arxiv.org/abs/{d['paper']['arxiv']}))",
                         c["text"], fmt(c["paper"]), fmt(c["ours"], ".4g"), c["verdict"], d["profile"]])
            counts[c["verdict"] if c["verdict"] in (HOLDS, FAILS) else "other"] += 1
    md = ["# edgerepro results", "",
          "Every number under *ours* was produced by `dvc repro` from data the pipeline generated or read; "
          "paper numbers come from each task's `paper.yaml`. Verdicts are checks on our numbers.", "",
          f"{len(docs)} task report(s), {len(rows)} claim(s): {counts[HOLDS]} hold, {counts[FAILS]} fail, "
          f"{counts['other']} not measurable at the profile run.", "",
          md_table(["Task", "Paper", "Claim", "Paper", "Ours", "Verdict", "Profile"], rows), ""]
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m common.reports.tables", description=__doc__)
    ap.add_argument("--reports", default="reports", help="folder holding <task>.json (default: reports)")
    args = ap.parse_args(argv)
    atomic_write_text(Path(args.reports) / "README.md", render_index(args.reports))


if __name__ == "__main__":
    main()
