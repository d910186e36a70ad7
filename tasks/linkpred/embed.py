"""Stage ``embed``: FastRP embeddings (and its ablations) beside the DeepWalk peer at the same dimension on
the same training graph (random split): wall time, link prediction (cosine score; AUC, Hits@K, MRR on the
test edges against the fixed negatives) and node classification (macro-F1 of a logistic regression on
half of the labelled nodes, scored on the other half). Writes ``data/linkpred/embed/results.json``."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from common.stage import Field, StageParams, main

GRAPH = "data/linkpred/prepare/graph.npz"


class DeepWalk(BaseModel):
    """The DeepWalk peer's walks and skip-gram window (its dimension is ``dim``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    walks_per_node: int = Field(10, ge=1, description="random walks started from every node")
    length: int = Field(40, ge=1, description="nodes per walk")
    window: int = Field(5, ge=1, description="skip-gram context window")


class Params(StageParams):
    dim: int = Field(128, ge=1, description="embedding dimension (FastRP and DeepWalk)")
    weights: list[float] = Field(min_length=1, description="FastRP: weights a_1..a_K of the powers A^1..A^K")
    beta: float = Field(-0.5, description="FastRP: degree normalisation exponent β")
    deepwalk: DeepWalk = Field(default_factory=DeepWalk, description="the DeepWalk peer")
    workers: int = Field(2, ge=1, description="DeepWalk: gensim worker threads")


def node_classification_f1(emb, y, seed: int) -> float | None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    labelled = np.flatnonzero(y >= 0)
    if len(labelled) < 10 or len(np.unique(y[labelled])) < 2:
        return None
    tr, te = train_test_split(labelled, test_size=0.5, random_state=seed, stratify=y[labelled])
    clf = LogisticRegression(max_iter=2000).fit(emb[tr], y[tr])
    return float(f1_score(y[te], clf.predict(emb[te]), average="macro"))


def variants(params: Params) -> dict:
    """name → (method, kwargs). The first FastRP entry is the configured one; the others change one thing."""
    base = {"dim": params.dim, "weights": tuple(params.weights), "beta": params.beta, "projection": "sparse"}
    return {
        "fastrp": ("fastrp", base),
        "fastrp, Gaussian R": ("fastrp", {**base, "projection": "gaussian"}),
        "fastrp, β = 0": ("fastrp", {**base, "beta": 0.0}),
        "fastrp, A only (weights 1,0,0,…)": ("fastrp", {**base, "weights": (1.0,)}),
        "deepwalk": ("deepwalk", {"dim": params.dim, **params.deepwalk.model_dump()}),
    }


def run(params: Params, out_dir: Path, graph_path: str = GRAPH) -> dict:
    import time

    import torch

    from common.io import atomic_dir, atomic_write_json
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
            emb = fastrp(train, n, seed=params.seed, **kw)
        else:
            emb = deepwalk(train, n, seed=params.seed, workers=params.workers, **kw)
        seconds = time.perf_counter() - t0
        lp = overall_metrics(torch.from_numpy(embedding_scores(emb, test)), torch.from_numpy(embedding_scores(emb, neg)))
        results[name] = {"method": method, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
                         "seconds": seconds, **{f"lp_{k}": v for k, v in lp.items()},
                         "nc_macro_f1": node_classification_f1(emb, g["y"], params.seed)}
        print(f"{name}: {seconds:.3f}s AUC {lp['auc']:.3f} F1 {results[name]['nc_macro_f1']}")
    fr, dw = results["fastrp"], results["deepwalk"]
    summary = {"speedup_vs_deepwalk": dw["seconds"] / fr["seconds"], "auc_fastrp": fr["lp_auc"], "auc_deepwalk": dw["lp_auc"],
               "f1_fastrp": fr["nc_macro_f1"], "f1_deepwalk": dw["nc_macro_f1"]}
    doc = {"num_nodes": n, "train_edges": int(len(train)), "results": results, "summary": summary}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "results.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
