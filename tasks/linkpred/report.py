"""Root stage ``tasks/linkpred``: render ``reports/linkpred.{md,json,png}`` (+ ablations with error bars, TC scatter
and TC-bin plots) from ``data/linkpred/evaluate/analysis.json`` and ``tasks/linkpred/paper.yaml``."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_write_bytes, project_params, read_json
from common.reports import report_dir
from common.reports.render import (_png, _pyplot, fmt, fmt_interval, interval_bar_plot, line_plot, md_table,
                                   render_task_report, write_curves)
from common.reports.schema import load_paper

SIGNAL_LABELS = {"degree": "degree", "clustering": "local clustering", "tc_train": "Train-TC",
                 "tc_test": "Test-TC", "atc_train": "ATC (Train)"}
COLUMNS = [("hits50", "Hits@50", ".3f"), ("mrr", "MRR", ".3f"), ("auc", "AUC", ".3f"),
           ("node_ndcg", "node NDCG@k", ".3f"), ("nc_f1", "node-class. F1", ".3f"), ("seeds", "seeds", "d"),
           ("seconds", "time (s)", ".3f")]
MODEL_LABELS = {"common_neighbours": "common neighbours (reference)"}


def variants_of(a: dict) -> dict:
    """Our rows: every GNN run (mean over its seeds ± the 95 % interval), the common-neighbours reference and the
    embedding methods."""
    out = {}
    for name, v in a["variants"].items():
        out[name] = {"hits50": v.get("hits@50"), "mrr": v["mrr"], "auc": v["auc"], "node_ndcg": v["node_ndcg"],
                     "seeds": v["seeds"], "seconds": v["seconds"]}
    for name, r in a["embed"]["results"].items():
        out[name] = {"hits50": r.get("hits@50"), "mrr": r["mrr"], "auc": r["auc"], "nc_f1": r.get("nc_macro_f1"),
                     "seeds": r["seeds"], "seconds": r["seconds"]}
    return out


def sections(a: dict, out_dir: Path) -> list[str]:
    md = []
    k = a["k"]
    models = list(a["correlation"])
    # correlation
    rows = []
    for s, label in SIGNAL_LABELS.items():
        row = [label]
        for model in models:
            for m in ("ndcg", "hits", "recall"):
                row.append(fmt(a["correlation"][model][m][s], ".3f"))
        rows.append(row)
    header = ["signal"] + [f"{MODEL_LABELS.get(model, model)} {m}@{k}" for model in models
                           for m in ("NDCG", "Hits", "Recall")]
    md += ["## Correlation with per-node performance", "",
           f"Pearson r between each node's link-prediction performance (ranking all nodes for its test neighbours) "
           f"and topological signals of the training graph (K = {a['k_tc']}), random split, over the {a['nodes']:,} "
           "nodes with test neighbours and TC defined; mean over each model's seeds. The claims' gaps carry their "
           "intervals (Claims).", "", md_table(header, rows), ""]
    # cold start
    rows = [[MODEL_LABELS.get(model, model), str(c["picked"]), fmt(c["precision_tc_train"], ".3f"),
             fmt(c["precision_degree"], ".3f"), fmt(c["precision_clustering"], ".3f"), fmt(c["precision_random"], ".2f")]
            for model, c in a["cold_start"].items()]
    md += ["## Cold start: finding the poorly served nodes", "",
           f"Precision of picking the lowest-performing {a['cold_start'][models[0]]['precision_random']:.0%} of nodes "
           "(NDCG@k) by lowest Train-TC, lowest degree or lowest clustering (random = that share); mean over seeds.", "",
           md_table(["model", "nodes picked", "by Train-TC", "by degree", "by clustering", "random"], rows), ""]
    # shift
    rows = [[split, fmt(v["train_tc"], ".4f"), fmt(v["test_tc"], ".4f"), fmt_interval(v["gap"]["value"], v["gap"]["lo"],
             v["gap"]["hi"], ".4f"), str(v["nodes"])] for split, v in a["shift"].items()]
    md += ["## Topological distribution shift", "", "Mean Train-TC vs Test-TC over nodes with both, per split: "
           "on the time split test neighbours arrive later. TC is computed, not trained: the interval is a bootstrap "
           "over the nodes.", "",
           md_table(["split", "Train-TC", "Test-TC", "Train − Test [95 %]", "nodes"], rows), ""]
    # ATC
    rows = []
    for kk, v in a["atc"].items():
        for dim, d in v["dims"].items():
            p = d["pearson_train"]
            rows.append([kk[1:], dim, fmt_interval(p["value"], p["lo"], p["hi"], ".3f"), fmt(d["pearson_test"], ".3f"),
                         fmt(v["tc_seconds"], ".3f"), fmt(d["atc_seconds"], ".3f"),
                         fmt_interval(d["speedup"]["value"], d["speedup"]["lo"], d["speedup"]["hi"], ".1f")])
    md += ["## ATC vs exact TC", "", "r(TC, ATC) over the nodes, mean over independent random projections, at each "
           "hop count K and projection dimension d; speed-up = TC time / ATC time over timing repeats.", "",
           md_table(["K", "d", "r(TC, ATC) train [95 %]", "r(TC, ATC) test", "TC (s)", "ATC (s)", "speed-up [95 %]"],
                    rows), ""]
    # FastRP table
    rows = [[name, str(r["seeds"]), fmt(r["seconds"], ".3f"), fmt(r["auc"], ".3f"), fmt(r.get("hits@50"), ".3f"),
             fmt(r.get("nc_macro_f1"), ".3f")] for name, r in a["embed"]["results"].items()]
    md += ["## FastRP vs DeepWalk (and FastRP ablations)", "",
           f"Same training graph ({a['embed']['num_nodes']} nodes, {a['embed']['train_edges']} edges), same dimension; "
           "link score = cosine of embeddings; node classification = logistic regression on half the nodes (the same "
           "halves for every method and seed). Mean ± 95 % half-width over seeds and items.", "",
           md_table(["method", "seeds", "time (s)", "LP AUC", "LP Hits@50", "NC macro-F1"], rows), ""]
    # plots
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.8), dpi=120, squeeze=False)
    for ax, model in zip(axes[0], models):
        sc = a.get(f"scatter_{model}")
        pts = [(x, y) for x, y in zip(sc["tc_test"], sc["ndcg"]) if x >= 0 and y >= 0]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, alpha=0.4)
        ax.set_xlabel(f"Test-TC (K = {a['k_tc']})")
        ax.set_ylabel(f"node NDCG@{k}")
        ax.set_title(f"{MODEL_LABELS.get(model, model)}: r = {fmt(a['correlation'][model]['ndcg']['tc_test'], '.3f')}",
                     fontsize=10)
        ax.grid(alpha=0.3)
    atomic_write_bytes(out_dir / "linkpred_tc_scatter.png", _png(fig))
    series = {}
    for model in models:
        for s in ("tc_train", "degree"):
            b = a["bins"][model][s]
            series[f"{MODEL_LABELS.get(model, model)}, by {SIGNAL_LABELS[s]}"] = (list(range(1, len(b["mean"]) + 1)),
                                                                                  b["mean"])
    atomic_write_bytes(out_dir / "linkpred_bins.png",
                       line_plot(series, "quantile bin (1 = lowest)", f"mean node NDCG@{k}",
                                 "performance by Train-TC bin vs by degree bin (seed 0)"))
    gnn = {MODEL_LABELS.get(n, n): v for n, v in a["variants"].items()}
    groups = {"test Hits@50": {n: v.get("hits@50") for n, v in gnn.items()},
              f"node NDCG@{k}": {n: v["node_ndcg"] for n, v in gnn.items()},
              "FastRP ablations: LP AUC": {n: r["auc"] for n, r in a["embed"]["results"].items()}}
    atomic_write_bytes(out_dir / "linkpred_ablations.png",
                       interval_bar_plot(groups, "score", "ablations with 95 % intervals (seeds × items)"))
    md += ["## Plots", "", "![ablations](linkpred_ablations.png)", "", "![TC vs performance](linkpred_tc_scatter.png)",
           "", "![by bin](linkpred_bins.png)", ""]
    return md


def run(data: str | Path = "data/linkpred", out_dir: str | Path = "reports") -> dict:
    import os
    import platform

    data, out_dir = Path(data), Path(out_dir)
    a = read_json(data / "evaluate" / "analysis.json")
    stats = read_json(data / "prepare" / "stats.json")
    summary = read_json(data / "train" / "summary.json")
    paper = load_paper("tasks/linkpred/paper.yaml")
    variants = variants_of(a)
    variants["fastrp"]["speedup"] = a["derived"]["fastrp_speedup"]
    hw = {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count()}
    fit = summary["runs"]["gcn"][0]["fit"]
    best = {n: v["best_epoch"] for n, v in a["variants"].items() if v.get("best_epoch")}
    notes = [f"Graph: {stats['source']}, {stats['num_nodes']} nodes, {stats['num_edges']} edges (mean degree "
             f"{stats['mean_degree']:.1f}, max {stats['max_degree']}); dropped {stats['dropped_self_loops']} self-loops and "
             f"{stats['dropped_duplicates']} duplicate edges; splits {', '.join(stats['splits'])} 70/10/20.",
             f"GNN rows: trained with {summary['seeds']} seeds each ({fit['optimizer_steps']} steps; each step encodes "
             "the whole training graph and takes its loss on a batch of training edges and as many sampled "
             "negatives, as the authors' code does), the "
             f"best-validation checkpoint kept (by `{fit.get('best_monitor')}`; best epochs {best}); overall metrics "
             f"against {stats['negatives']} fixed negative pairs; time = training time. Embedding rows: time = "
             "computing the embedding. Common neighbours: the heuristic scored the same way (no training).",
             f"Intervals: {a['level']:.0%}, paired bootstrap ({a['resamples']} resamples) over the evaluated items "
             "(nodes, test edges × negatives, test nodes), the same resamples for every model and seed, combined in "
             "quadrature with the Student-t interval over seeds (`common.evaluate.intervals`).",
             "TC-guided re-weighting uses training edges only: message weight 1 + γ·|N(u) ∩ N(i)| / |N(u)|.",
             "At K = 1 Train-TC *is* the local clustering coefficient (an identity: I(i, j) = |N(i) ∩ N(j)| / "
             "(d_i − 1), averaged over i's d_i training neighbours, is 2·triangles(i) / (d_i (d_i − 1))), so their "
             "rows agree; Test-TC, which looks at the neighbours still to come, is the signal the paper's claim is "
             "about."]
    # training curves (DVC plots): every GNN run's seed-0 log
    write_curves(out_dir, "linkpred", {name: data / "train" / name / "seed0" / "logs" / "metrics.csv"
                                       for name in summary["runs"]}, last="val/hits@50")
    if a.get("undefined"):
        notes.append(f"Undefined at this profile (a model's per-node performance constant): {a['undefined']}.")
    return render_task_report(task="linkpred", paper=paper, profile=project_params()["profile"], hardware=hw,
                              variants=variants, derived=a["derived"], columns=COLUMNS,
                              plot={"x": "seconds", "y": "auc", "xlabel": "time (s)", "ylabel": "link-prediction AUC",
                                    "log_x": True},  # 0.01 s (FastRP) to 80 s (GNNs)
                              out_dir=out_dir, notes=notes, extra_sections=sections(a, out_dir),
                              row_order=["fastrp", "deepwalk"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.linkpred.report", description=__doc__)
    ap.add_argument("--out", default=None, help="where to write the report (default: `reports` of params.yaml)")
    ap.add_argument("--data", default="data/linkpred")
    args = ap.parse_args(argv)
    args.out = report_dir(args.out)  # refuses to overwrite the committed reports from another profile
    run(args.data, args.out)


if __name__ == "__main__":
    main()
