"""Render ``reports/<task>.md`` + ``.json`` + ``.png`` from a task's measured results and its paper.yaml.

Numbers shown as "ours" come only from the ``variants``/``derived`` dicts that a pipeline stage computed;
the paper's numbers come only from ``paper.yaml``. They are never mixed in one cell.
"""
from __future__ import annotations

from pathlib import Path

from common.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from common.reports.schema import HOLDS, NO_INTERVAL, Paper


def _plain(value):
    """JSON-ready: Estimates become their dicts (recursively)."""
    from common.evaluate.intervals import Estimate

    if isinstance(value, Estimate):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fmt(value, spec: str = ".3g") -> str:
    """A table cell: ``—`` for nothing, an interval as ``value ± half-width``, a number with ``spec``."""
    from common.evaluate.intervals import Estimate, is_estimate

    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if is_estimate(value):
        e = value if isinstance(value, Estimate) else Estimate.from_dict(value)
        return f"{format(e.value, spec)} ± {format(e.half_width, spec)}"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def scaled(value, k: float):
    """``value`` × ``k`` (an Estimate's value and interval alike)."""
    from common.evaluate.intervals import Estimate, is_estimate

    if not is_estimate(value):
        return value * k
    e = value if isinstance(value, Estimate) else Estimate.from_dict(value)
    lo, hi = sorted((e.lo * k, e.hi * k))
    return Estimate(e.value * k, lo, hi, e.n_seeds, e.n_items, e.noise, e.level, tuple(v * k for v in e.per_seed))


def split_estimate(value) -> tuple[float | None, float, float]:
    """(value, lower error, upper error) of a number or Estimate (errors 0 without an interval): for error bars."""
    from common.evaluate.intervals import as_interval

    if value is None:
        return None, 0.0, 0.0
    v, lo, hi = as_interval(value)
    return (v, 0.0, 0.0) if lo is None else (v, v - lo, hi - v)


def fmt_interval(value, lo, hi, spec: str = ".4g") -> str:
    """``value [lo, hi]`` (or the value alone when there is no interval)."""
    if value is None:
        return "—"
    if lo is None:
        return format(value, spec)
    return f"{format(value, spec)} [{format(lo, spec)}, {format(hi, spec)}]"


def check_claims(paper: Paper, derived: dict, profile: str = "") -> list[dict]:
    """Each claim judged on ``derived`` (see :meth:`common.reports.schema.Claim.judge`), with what its interval
    rests on (seeds, items, noise) when our number is an Estimate."""
    from common.evaluate.intervals import is_estimate

    out = []
    for c in paper.claims:
        j = c.judge(derived, profile)
        x = derived.get(c.metric)
        est = _plain(x) if is_estimate(x) else None
        out.append({"id": c.id, "text": c.text, "check": c.check, "paper": c.paper, "ours": j["ours"],
                    "lo": j["lo"], "hi": j["hi"], "point": j["point"], "verdict": j["verdict"], "reason": j["reason"],
                    "n_seeds": est["n_seeds"] if est else None, "n_items": est["n_items"] if est else None,
                    "noise": est["noise"] if est else None, "compares": c.compares,
                    "preconditions": [str(p) for p, _ in c.preconditions], "source": c.source})
    return out


def claims_table(claims: list[dict]) -> list[str]:
    """Markdown of the claims: ours as value [95 % interval], seeds, items, the verdict class and its reason."""
    header = ["Claim", "Check (on ours)", "Paper", "Ours [95 % interval]", "Seeds", "Items", "Verdict"]
    rows = []
    for c in claims:
        verdict = f"**{c['verdict']}**" if c["verdict"] in (HOLDS, "fails") else c["verdict"]
        if c.get("reason"):
            verdict += f" ({c['reason']})"
        seeds = c.get("n_seeds")
        rows.append([c["text"], f"`{c['check']}`", fmt(c["paper"]), fmt_interval(c["ours"], c.get("lo"), c.get("hi")),
                     "—" if seeds is None else ("0 (no training)" if seeds == 0 else str(seeds)),
                     c.get("n_items") or "—", verdict])
    md = [md_table(header, rows), ""]
    noises = [f"`{c['id']}`: {c['noise']}" for c in claims if c.get("noise")]
    if noises:
        md += ["Intervals are 95 %: " + "; ".join(noises) + ".", ""]
    if any(c["verdict"] == NO_INTERVAL for c in claims):
        md += [f"*{NO_INTERVAL}*: this number has no interval yet, so no verdict is drawn from it; the point check "
               "is shown for information only.", ""]
    return md


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """The figure as PNG bytes (no timestamp metadata, so unchanged plots are byte-identical); closes it."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def accuracy_latency_plot(variants: dict[str, dict], x: str, y: str, xlabel: str, ylabel: str, title: str,
                          log_x: bool = False) -> bytes:
    """``log_x``: a logarithmic x axis, for times spanning orders of magnitude (a linear one squashes the fast
    variants onto x ≈ 0)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    pts = [(n, split_estimate(v.get(x)), split_estimate(v.get(y))) for n, v in variants.items()
           if v.get(x) is not None and v.get(y) is not None]
    markers = "osD^vP*Xh<>p"
    for k, (name, (xv, xl, xh), (yv, yl, yh)) in enumerate(pts):  # a legend, not annotations: close points stay readable
        if xl or xh or yl or yh:  # 95 % intervals as error bars
            ax.errorbar([xv], [yv], xerr=[[xl], [xh]], yerr=[[yl], [yh]], fmt="none", ecolor=f"C{k % 10}",
                        alpha=0.6, capsize=2)
        ax.scatter([xv], [yv], s=45, marker=markers[k % len(markers)], label=name, color=f"C{k % 10}")
    if pts:
        ax.legend(fontsize=7, loc="best", ncol=2 if len(pts) > 6 else 1)
    if not pts:
        ax.text(0.5, 0.5, "no variant measured", ha="center", va="center", transform=ax.transAxes)
    if log_x and pts:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel + (" (log scale)" if log_x else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both" if log_x else "major")
    return _png(fig)


def interval_bar_plot(groups: dict[str, dict[str, object]], ylabel: str, title: str) -> bytes:
    """PNG of grouped bars with 95 % error bars: {panel title: {bar label: number or Estimate}}, one panel each
    (the ablations of a task, e.g. with and without a component, with their intervals)."""
    plt = _pyplot()

    fig, axes = plt.subplots(1, len(groups), figsize=(max(4.0, 3.2 * len(groups)), 3.8), dpi=120, squeeze=False)
    for ax, (panel, bars) in zip(axes[0], groups.items()):
        names = list(bars)
        vals = [split_estimate(bars[n]) for n in names]
        ax.bar(range(len(names)), [v[0] for v in vals], color=[f"C{i % 10}" for i in range(len(names))],
               yerr=[[v[1] for v in vals], [v[2] for v in vals]], capsize=4, alpha=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
        ax.set_title(panel, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def line_plot(series: dict[str, tuple[list[float], list[float]]], xlabel: str, ylabel: str, title: str,
              secondary: dict[str, tuple[list[float], list[float]]] | None = None,
              secondary_label: str = "") -> bytes:
    """PNG of one or more curves (e.g. loss and mAP over epochs); ``secondary`` curves go on a right axis."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=120)
    lines = []
    for name, (xs, ys) in series.items():
        lines += ax.plot(xs, ys, marker=".", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if secondary:
        ax2 = ax.twinx()
        for i, (name, (xs, ys)) in enumerate(secondary.items()):
            lines += ax2.plot(xs, ys, marker="x", linestyle="--", color=f"C{len(series) + i}", label=name)
        ax2.set_ylabel(secondary_label)
    if lines:
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def histogram_plot(samples: dict, xlabel: str, title: str, bins: int = 60, log_y: bool = False) -> bytes:
    """PNG of overlaid histograms (same bins) of several 1-D samples, e.g. |γ| before/after sparsity."""
    import numpy as np

    plt = _pyplot()

    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in samples.items()}
    hi = max((a.max() for a in arrays.values() if a.size), default=1.0)
    edges = np.linspace(0.0, hi, bins + 1)
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=120)
    for name, a in arrays.items():
        ax.hist(a, bins=edges, alpha=0.55, label=f"{name} (n={a.size})")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def read_epoch_metrics(csv_path: str | Path) -> dict[str, tuple[list[float], list[float]]]:
    """Per-epoch curves from a Lightning ``CSVLogger`` metrics.csv: {column: (epochs, values)}; step-level
    rows are averaged per epoch. Columns without any value are dropped."""
    import csv

    per: dict[str, dict[int, list[float]]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            ep = int(float(row["epoch"]))
            for key, val in row.items():
                if key in ("epoch", "step") or val in (None, ""):
                    continue
                per.setdefault(key, {}).setdefault(ep, []).append(float(val))
    # a validation run after ``fit`` is logged one epoch past the last training epoch: not a curve point
    train_epochs = [e for k, d in per.items() if k.startswith("train/") for e in d]
    last = max(train_epochs) if train_epochs else None
    per = {k: {e: v for e, v in d.items() if last is None or e <= last} for k, d in per.items()}
    return {k: ([e + 1 for e in sorted(d)], [sum(d[e]) / len(d[e]) for e in sorted(d)]) for k, d in per.items() if d}


def training_logs(train_dir: str | Path) -> dict[str, Path]:
    """Every Lightning ``logs/metrics.csv`` under a task's training outputs, named by its run's folder relative to
    ``train_dir`` (``teacher``, ``student-kd``, …): the runs :func:`write_curves` turns into DVC plots."""
    train_dir = Path(train_dir)
    return {(p.parent.parent.relative_to(train_dir).as_posix().replace("/", "-") or train_dir.name): p
            for p in sorted(train_dir.glob("**/logs/metrics.csv"))}


def write_curves(out_dir: str | Path, task: str, runs: dict[str, str | Path], last: str | None = None) -> list[str]:
    """Training curves for DVC's plots: ``<out>/curves/<task>/<run>.csv`` (a folder the root ``dvc.yaml`` declares
    as plots, x = epoch), one row per epoch with every metric the run logged (:func:`read_epoch_metrics`: step rows
    averaged per epoch). ``runs``: {name: Lightning ``metrics.csv``}; a missing log is an error, not a gap.
    ``last``: the column to put last — the one `dvc plots show` draws by default (e.g. the monitored validation
    metric); the others are drawn with ``-y <column>``. The folder is replaced as a whole. Returns the written paths."""
    import csv
    import io

    from common.io import atomic_dir

    written = []
    with atomic_dir(Path(out_dir) / "curves" / task) as tmp:
        for name, path in runs.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: training log of {task} run {name!r} not found (the training "
                                        "stage writes logs/metrics.csv)")
            curves = read_epoch_metrics(path)
            epochs = sorted({e for xs, _ in curves.values() for e in xs})
            cols = sorted(curves, key=lambda k: (k == last, k))
            table = {k: dict(zip(*curves[k])) for k in cols}
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["epoch", *cols])
            for e in epochs:
                w.writerow([e, *(f"{table[k][e]:.6g}" if e in table[k] else "" for k in cols)])
            safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in name)
            (tmp / f"{safe}.csv").write_text(buf.getvalue())
            written.append(str(Path(out_dir) / "curves" / task / f"{safe}.csv"))
    return written


def render_task_report(
    *,
    task: str,
    paper: Paper,
    profile: str,
    hardware: dict,
    variants: dict[str, dict],
    derived: dict,
    columns: list[tuple[str, str, str]],
    plot: dict,
    out_dir: str | Path = "reports",
    notes: list[str] | None = None,
    extra_sections: list[str] | None = None,
    row_order: list[str] | None = None,
) -> dict:
    """Write ``<out_dir>/<task>.{md,json,png}``; return the JSON document.

    ``columns``: (metric key, label, format spec) of our per-variant table; the paper-vs-ours table uses
    the metrics the paper reports (``paper.metrics``). ``plot``: {x, y, xlabel, ylabel, log_x?}. ``row_order``: the
    rows of the paper-vs-ours table (default: the paper's methods, then every variant).
    """
    out_dir = Path(out_dir)
    claims = check_claims(paper, derived, profile)
    doc = {"task": task, "paper": {"title": paper.title, "short": paper.short or paper.title, "arxiv": paper.arxiv},
           "profile": profile,
           "hardware": hardware, "variants": _plain(variants), "derived": _plain(derived), "claims": claims}

    png = accuracy_latency_plot(variants, plot["x"], plot["y"], plot["xlabel"], plot["ylabel"],
                                f"{task}: {plot['ylabel']} vs {plot['xlabel']} ({profile})",
                                log_x=bool(plot.get("log_x")))
    atomic_write_bytes(out_dir / f"{task}.png", png)

    md = [f"# {task}: {paper.title}", ""]
    md.append(f"arXiv [{paper.arxiv}](https://arxiv.org/abs/{paper.arxiv}) · profile **{profile}** · "
              f"{hardware.get('cpu', '?')}, {hardware.get('logical_cores', '?')} logical cores, no GPU · "
              f"onnxruntime {hardware.get('onnxruntime', '?')}, torch {hardware.get('torch', '?')}")
    for r in paper.related:
        md.append(f"· also: {r['title']} (arXiv [{r['arxiv']}](https://arxiv.org/abs/{r['arxiv']}))")
    md.append("")
    if paper.note:
        md += [f"> {paper.note.strip()}", ""]

    # paper vs ours, same rows and columns
    # rows: ``row_order`` (paper's ablation order) first, then the paper's other rows; our variants
    # outside the order appear in "Our measurements" only
    methods = list(dict.fromkeys((row_order or []) + paper.methods + ([] if row_order else list(variants))))
    pm = list(paper.metrics)
    header = ["Method"]
    for m in pm:
        label = paper.metrics[m].get("label", m)
        header += [f"{label} paper", f"{label} ours"]
    rows = []
    for meth in methods:
        cells = [meth]
        for m in pm:
            spec = paper.metrics[m].get("fmt", ".3g")
            rep = paper.reported(meth, m)
            ours = variants.get(meth, {}).get(m)
            if ours is not None:  # e.g. our mAP is a fraction, the paper's a percentage
                ours = scaled(ours, paper.metrics[m].get("ours_scale", 1))
            cells += [fmt(rep["value"], spec) if rep else "—", fmt(ours, spec)]
        rows.append(cells)
    md += ["## Paper vs ours", "", md_table(header, rows), ""]
    sources = sorted({f"{r['source']} ({r['dataset']})" for r in paper.rows})
    md += [f"Paper numbers: {'; '.join(sources)}. Ours: measured by this pipeline at profile `{profile}`; "
           "'—' = not reported / not run at this profile.", ""]

    # everything we measured
    header = ["Variant"] + [c[1] for c in columns]
    rows = [[name] + [fmt(v.get(key), spec) for key, _, spec in columns] for name, v in variants.items()]
    md += ["## Our measurements", "", md_table(header, rows), "", f"![{task}]({task}.png)", ""]

    md += ["## Claims", ""] + claims_table(claims)
    if extra_sections:
        md += extra_sections
    if notes:
        md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    md += [f"_Generated by `dvc repro tasks/{task}` from `data/{task}/`; paper numbers from "
           f"`tasks/{task}/paper.yaml`._", ""]
    atomic_write_text(out_dir / f"{task}.md", "\n".join(md))
    atomic_write_json(out_dir / f"{task}.json", doc)
    return doc
