"""Root stage ``tasks/linkpred``: render ``reports/linkpred.{md,json,png}`` (+ TC scatter and TC-bin
plots) from ``data/linkpred/evaluate/analysis.json`` and ``tasks/linkpred/paper.yaml``."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_write_bytes, project_params, read_json
from common.reports.render import _png, _pyplot, fmt, line_plot, md_table, render_task_report
from common.reports.schema import load_paper

SIGNAL_LABELS = {"degree": "degree", "clustering": "local clustering", "tc_train": "Train-TC",
                 "tc_test": "Test-TC", "atc_train": "ATC (Train)"}
COLUMNS = [("hits50", "Hits@50", ".3f"), ("mrr", "MRR", ".3f"), ("auc", "AUC", ".3f"),
           ("node_ndcg", "node NDCG@k", ".3f"), ("nc_f1", "node-class. F1", ".3f"), ("seconds", "time (s)", ".3f")]


def derive(a: dict) -> dict:
    out = {}
    for model in ("gcn", "sage"):
        c = a["correlation"].get(model, {}).get("ndcg")
        if c and None not in (c["tc_test"], c["degree"], c["clustering"]):
            out[f"tc_corr_gap_{model}"] = c["tc_test"] - max(c["degree"], c["clustering"])
        if c and None not in (c["tc_train"], c["degree"]):
            out[f"train_tc_corr_gap_{model}"] = c["tc_train"] - c["degree"]
    cs = a["cold_start"].get("gcn")
    if cs:
        out["cold_start_gap_gcn"] = cs["precision_tc_train"] - cs["precision_degree"]
    if "time" in a["shift"]:
        out["time_shift_tc"] = a["shift"]["time"]["train_tc"] - a["shift"]["time"]["test_tc"]
    rw = a["reweight"]
    if "gcn" in rw and "gcn_reweight" in rw:
        out["reweight_gain_hits"] = rw["gcn_reweight"] - rw["gcn"]
    if "k1" in a["atc"] and a["atc"]["k1"]["pearson_tc_atc_train"] is not None:
        out["atc_tc_pearson"] = a["atc"]["k1"]["pearson_tc_atc_train"]
    if "k3" in a["atc"]:
        out["atc_speedup_k3"] = a["atc"]["k3"]["speedup"]
    s = a["embed"]["summary"]
    out["fastrp_speedup"] = s["speedup_vs_deepwalk"]
    out["fastrp_auc_gap"] = s["auc_fastrp"] - s["auc_deepwalk"]
    if s["f1_fastrp"] is not None and s["f1_deepwalk"] is not None:
        out["fastrp_f1_gap"] = s["f1_fastrp"] - s["f1_deepwalk"]
    return out


def variants_of(a: dict, train_dir: Path) -> dict:
    out = {}
    for name, test in a["summary"].items():
        fit = read_json(train_dir / name / "metrics.json")["fit"]
        k = a["k"]
        out[name] = {"hits50": test.get("hits@50"), "mrr": test["mrr"], "auc": test["auc"],
                     "node_ndcg": test.get(f"node_ndcg@{k}_mean"), "seconds": fit["train_seconds"]}
    for name, r in a["embed"]["results"].items():
        out[name] = {"hits50": r.get("lp_hits@50"), "mrr": r["lp_mrr"], "auc": r["lp_auc"], "nc_f1": r["nc_macro_f1"],
                     "seconds": r["seconds"]}
    return out


def sections(a: dict, out_dir: Path) -> list[str]:
    md = []
    k = a["k"]
    # correlation
    rows = []
    for s, label in SIGNAL_LABELS.items():
        row = [label]
        for model in a["correlation"]:
            for m in ("ndcg", "hits", "recall"):
                row.append(fmt(a["correlation"][model][m][s], ".3f"))
        rows.append(row)
    header = ["signal"] + [f"{model} {m}@{k}" for model in a["correlation"] for m in ("NDCG", "Hits", "Recall")]
    md += ["## Correlation with per-node performance", "",
           f"Pearson r between each node's link-prediction performance (ranking all nodes for its test "
           f"neighbours) and topological signals of the training graph (K = {a['k_tc']}), random split.", "",
           md_table(header, rows), ""]
    # cold start
    rows = [[model, str(c["picked"]), fmt(c["precision_tc_train"], ".3f"), fmt(c["precision_degree"], ".3f"),
             fmt(c["precision_clustering"], ".3f"), fmt(c["precision_random"], ".2f")] for model, c in a["cold_start"].items()]
    md += ["## Cold start: finding the poorly served nodes", "",
           "Precision of picking the lowest-performing 20 % of nodes (NDCG@k) by lowest Train-TC, lowest degree or "
           "lowest clustering (random = 0.20).", "",
           md_table(["model", "nodes picked", "by Train-TC", "by degree", "by clustering", "random"], rows), ""]
    # shift
    rows = [[split, fmt(v["train_tc"], ".4f"), fmt(v["test_tc"], ".4f"), str(v["nodes"])] for split, v in a["shift"].items()]
    md += ["## Topological distribution shift", "", "Mean Train-TC vs Test-TC over nodes with both, per split: "
           "on the time split test neighbours arrive later.", "",
           md_table(["split", "Train-TC", "Test-TC", "nodes"], rows), ""]
    # ATC
    rows = [[kk, fmt(v["pearson_tc_atc_train"], ".3f"), fmt(v["pearson_tc_atc_test"], ".3f"), fmt(v["tc_seconds"], ".3f"),
             fmt(v["atc_seconds"], ".3f"), fmt(v["speedup"], ".1f")] for kk, v in a["atc"].items()]
    md += ["## ATC vs exact TC", "", md_table(["K", "r(TC, ATC) train", "r(TC, ATC) test", "TC (s)", "ATC (s)", "speed-up"], rows), ""]
    # FastRP table
    rows = [[name, fmt(r["seconds"], ".3f"), fmt(r["lp_auc"], ".3f"), fmt(r.get("lp_hits@50"), ".3f"),
             fmt(r["nc_macro_f1"], ".3f")] for name, r in a["embed"]["results"].items()]
    md += ["## FastRP vs DeepWalk (and FastRP ablations)", "",
           f"Same training graph ({a['embed']['num_nodes']} nodes, {a['embed']['train_edges']} edges), same dimension; "
           "link score = cosine of embeddings; node classification = logistic regression on half the nodes.", "",
           md_table(["method", "time (s)", "LP AUC", "LP Hits@50", "NC macro-F1"], rows), ""]
    # plots
    plt = _pyplot()
    models = [m for m in a["correlation"]]
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), dpi=120, squeeze=False)
    for ax, model in zip(axes[0], models):
        sc = a.get(f"scatter_{model}")
        pts = [(x, y) for x, y in zip(sc["tc_test"], sc["ndcg"]) if x >= 0 and y >= 0]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, alpha=0.4)
        ax.set_xlabel(f"Test-TC (K = {a['k_tc']})")
        ax.set_ylabel(f"node NDCG@{k}")
        ax.set_title(f"{model}: r = {fmt(a['correlation'][model]['ndcg']['tc_test'], '.3f')}", fontsize=10)
        ax.grid(alpha=0.3)
    atomic_write_bytes(out_dir / "linkpred_tc_scatter.png", _png(fig))
    series = {}
    for model in models:
        for s in ("tc_train", "degree"):
            b = a["bins"][model][s]
            series[f"{model}, by {SIGNAL_LABELS[s]}"] = (list(range(1, len(b["mean"]) + 1)), b["mean"])
    atomic_write_bytes(out_dir / "linkpred_bins.png",
                       line_plot(series, "quantile bin (1 = lowest)", f"mean node NDCG@{k}",
                                 "performance by Train-TC bin vs by degree bin"))
    md += ["## Plots", "", "![TC vs performance](linkpred_tc_scatter.png)", "", "![by bin](linkpred_bins.png)", ""]
    return md


def run(data: str | Path = "data/linkpred", out_dir: str | Path = "reports") -> dict:
    data, out_dir = Path(data), Path(out_dir)
    a = read_json(data / "evaluate" / "analysis.json")
    stats = read_json(data / "prepare" / "stats.json")
    paper = load_paper("tasks/linkpred/paper.yaml")
    variants = variants_of(a, data / "train")
    variants["fastrp"]["speedup"] = a["embed"]["summary"]["speedup_vs_deepwalk"]
    import platform

    hw = {"cpu": platform.processor() or platform.machine(), "logical_cores": __import__("os").cpu_count()}
    notes = [f"Graph: {stats['source']}, {stats['num_nodes']} nodes, {stats['num_edges']} edges (mean degree "
             f"{stats['mean_degree']:.1f}, max {stats['max_degree']}); dropped {stats['dropped_self_loops']} self-loops and "
             f"{stats['dropped_duplicates']} duplicate edges; splits {', '.join(stats['splits'])} 70/10/20.",
             "GNN rows: 1-layer encoder, hidden 256, MLP predictor on h_u ⊙ h_v, Adam lr 1e-3; overall metrics against "
             f"{stats['negatives']} fixed negative pairs; time = training time. Embedding rows: time = computing the embedding.",
             "TC-guided re-weighting uses training edges only: message weight 1 + γ·|N(u) ∩ N(i)| / |N(u)|."]
    return render_task_report(task="linkpred", paper=paper, profile=project_params()["profile"], hardware=hw,
                              variants=variants, derived=derive(a), columns=COLUMNS,
                              plot={"x": "seconds", "y": "auc", "xlabel": "time (s)", "ylabel": "link-prediction AUC"},
                              out_dir=out_dir, notes=notes, extra_sections=sections(a, out_dir),
                              row_order=["fastrp", "deepwalk"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.linkpred.report", description=__doc__)
    ap.add_argument("--out", default="reports")
    ap.add_argument("--data", default="data/linkpred")
    args = ap.parse_args(argv)
    run(args.data, args.out)


if __name__ == "__main__":
    main()
