"""Stage ``embed``: FastRP embeddings (and its ablations) beside the DeepWalk peer at the same dimension on
the same training graph (random split), each with ``seeds`` seeds (both are random: projection / walks and
skip-gram): wall time, link prediction (cosine score; AUC, Hits@K, MRR on the test edges against the fixed
negatives) and node classification (macro-F1 of a logistic regression on half of the labelled nodes, scored on the
other half — the same halves for every method and seed, so that comparisons are paired).

Writes ``data/linkpred/embed/results.json`` and ``scores.npz`` (per-item results the evaluation bootstraps: each
method's and seed's scores of the test edges and negatives, ``<key>_s<seed>_{pos,neg}``, and its predicted labels of
the test nodes, ``<key>_s<seed>_nc_pred``, beside ``nc_true``)."""
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
    seeds: int = Field(3, ge=1, description="seeds of every method (global seed + 0, 1, …): their random noise")


def node_classification(emb, y, seed: int) -> dict | None:
    """Logistic regression on a stratified half of the labelled nodes (split by ``seed``), scored on the other half:
    {nodes, true, pred, macro_f1}; None without ≥ 10 labelled nodes of ≥ 2 classes."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    labelled = np.flatnonzero(y >= 0)
    if len(labelled) < 10 or len(np.unique(y[labelled])) < 2:
        return None
    tr, te = train_test_split(labelled, test_size=0.5, random_state=seed, stratify=y[labelled])
    pred = LogisticRegression(max_iter=2000).fit(emb[tr], y[tr]).predict(emb[te])
    return {"nodes": te, "true": y[te], "pred": pred, "macro_f1": float(f1_score(y[te], pred, average="macro"))}


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
    import io
    import time

    import numpy as np
    import torch

    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json
    from tasks.linkpred.data import load_graph, split_edges_of
    from tasks.linkpred.fastrp import deepwalk, embedding_scores, fastrp
    from tasks.linkpred.metrics import overall_metrics

    g = load_graph(graph_path)
    n, train = g["num_nodes"], split_edges_of(g, "random", "train")
    test, neg = split_edges_of(g, "random", "test"), g["random_neg_test"]
    results, arrays = {}, {}
    for i, (name, (method, kw)) in enumerate(variants(params).items()):
        key, runs = f"v{i}", []
        for s in range(params.seeds):
            seed = params.seed + s
            t0 = time.perf_counter()
            if method == "fastrp":
                emb = fastrp(train, n, seed=seed, **kw)
            else:
                emb = deepwalk(train, n, seed=seed, workers=params.workers, **kw)
            seconds = time.perf_counter() - t0
            pos_s, neg_s = embedding_scores(emb, test), embedding_scores(emb, neg)
            lp = overall_metrics(torch.from_numpy(pos_s), torch.from_numpy(neg_s))
            nc = node_classification(emb, g["y"], params.seed)  # the same halves for every method and seed
            arrays[f"{key}_s{s}_pos"], arrays[f"{key}_s{s}_neg"] = pos_s.astype(np.float64), neg_s.astype(np.float64)
            if nc is not None:
                arrays[f"{key}_s{s}_nc_pred"] = nc["pred"]
                arrays["nc_true"], arrays["nc_nodes"] = nc["true"], nc["nodes"]
            runs.append({"seed": seed, "seconds": seconds, **{f"lp_{k}": v for k, v in lp.items()},
                         "nc_macro_f1": nc["macro_f1"] if nc else None})
            print(f"{name} (seed {seed}): {seconds:.3f}s AUC {lp['auc']:.3f} F1 {runs[-1]['nc_macro_f1']}")
        results[name] = {"method": method, "key": key,
                         "params": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, "runs": runs}
    doc = {"num_nodes": n, "train_edges": int(len(train)), "seeds": params.seeds, "results": results}
    with atomic_dir(out_dir) as tmp:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(tmp / "scores.npz", buf.getvalue())
        atomic_write_json(tmp / "results.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
