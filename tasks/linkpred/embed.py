"""Stage ``embed``: FastRP embeddings (and its ablations) beside the DeepWalk peer at the same dimension on
the same training graph (random split): wall time, link prediction (cosine score; AUC, Hits@K, MRR on the
test edges against the fixed negatives) and node classification (macro-F1 of a logistic regression on
half of the labelled nodes, scored on the other half). Writes ``data/linkpred/embed/results.json``."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_dir, atomic_write_json, stage_params


def node_classification_f1(emb: np.ndarray, y: np.ndarray, seed: int) -> float | None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    labelled = np.flatnonzero(y >= 0)
    if len(labelled) < 10 or len(np.unique(y[labelled])) < 2:
        return None
    tr, te = train_test_split(labelled, test_size=0.5, random_state=seed, stratify=y[labelled])
    clf = LogisticRegression(max_iter=2000).fit(emb[tr], y[tr])
    return float(f1_score(y[te], clf.predict(emb[te]), average="macro"))


def variants(params: dict) -> dict:
    """name → (method, kwargs). The first FastRP entry is the configured one; the others change one thing."""
    base = {"dim": params["dim"], "weights": tuple(params["weights"]), "beta": params["beta"], "projection": "sparse"}
    return {
        "fastrp": ("fastrp", base),
        "fastrp, Gaussian R": ("fastrp", {**base, "projection": "gaussian"}),
        "fastrp, β = 0": ("fastrp", {**base, "beta": 0.0}),
        "fastrp, A only (weights 1,0,0,…)": ("fastrp", {**base, "weights": (1.0,)}),
        "deepwalk": ("deepwalk", {"dim": params["dim"], **params["deepwalk"]}),
    }


def run(params: dict, out_dir: str | Path, graph_path: str = "data/linkpred/prepare/graph.npz") -> dict:
    from tasks.linkpred.data import load_graph, split_edges_of
    from tasks.linkpred.fastrp import deepwalk, embedding_scores, fastrp
    from tasks.linkpred.metrics import overall_metrics

    g = load_graph(graph_path)
    n, train = g["num_nodes"], split_edges_of(g, "random", "train")
    test, neg = split_edges_of(g, "random", "test"), g["random_neg_test"]
    results = {}
    for name, (method, kw) in variants(params).items():
        t0 = time.perf_counter()
        if method == "fastrp":
            emb = fastrp(train, n, seed=params["seed"], **kw)
        else:
            emb = deepwalk(train, n, seed=params["seed"], workers=params.get("workers", 2), **kw)
        seconds = time.perf_counter() - t0
        lp = overall_metrics(torch.from_numpy(embedding_scores(emb, test)), torch.from_numpy(embedding_scores(emb, neg)))
        results[name] = {"method": method, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
                         "seconds": seconds, **{f"lp_{k}": v for k, v in lp.items()},
                         "nc_macro_f1": node_classification_f1(emb, g["y"], params["seed"])}
        print(f"{name}: {seconds:.3f}s AUC {lp['auc']:.3f} F1 {results[name]['nc_macro_f1']}")
    fr, dw = results["fastrp"], results["deepwalk"]
    summary = {"speedup_vs_deepwalk": dw["seconds"] / fr["seconds"], "auc_fastrp": fr["lp_auc"], "auc_deepwalk": dw["lp_auc"],
               "f1_fastrp": fr["nc_macro_f1"], "f1_deepwalk": dw["nc_macro_f1"]}
    doc = {"num_nodes": n, "train_edges": int(len(train)), "results": results, "summary": summary}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "results.json", doc)
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.linkpred.embed", description=__doc__)
    ap.add_argument("--out", default="data/linkpred/embed")
    args = ap.parse_args(argv)
    run(stage_params("linkpred", "embed"), args.out)


if __name__ == "__main__":
    main()
