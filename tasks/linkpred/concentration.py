"""Stage ``concentration``: per-node topology of the training graph for each split — Train/Val/Test-TC at
K = 1..K_max (exact, ``tasks.linkpred.tc``), ATC, degree and local clustering — with the time each took.
Writes ``data/linkpred/concentration/{<split>.npz, timing.json}``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from common.stage import Field, StageParams, main

GRAPH = "data/linkpred/prepare/graph.npz"


class Params(StageParams):
    K: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, description="hop counts K at which TC and ATC "
                                                                      "are computed (each ≥ 1)")
    atc_dim: int = Field(128, ge=1, description="ATC: dimension of the random projection")


def node_topology(graph: dict, split: str, Ks, atc_dim: int, seed: int) -> tuple[dict, dict]:
    import time

    import numpy as np

    from tasks.linkpred.data import split_edges_of
    from tasks.linkpred.tc import atc_scores, clustering, tc_scores

    n = graph["num_nodes"]
    train = split_edges_of(graph, split, "train")
    targets = {p: split_edges_of(graph, split, p) for p in ("train", "val", "test")}
    out = {"degree": np.bincount(train.ravel(), minlength=n).astype(np.float64), "clustering": clustering(train, n)}
    timing = {}
    for K in Ks:
        t0 = time.perf_counter()
        tc = tc_scores(train, n, targets, K=K)
        timing[f"tc_k{K}_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        atc = atc_scores(train, n, targets, K=K, dim=atc_dim, seed=seed)
        timing[f"atc_k{K}_s"] = time.perf_counter() - t0
        for p in targets:
            out[f"tc_{p}_k{K}"] = tc[p]
            out[f"atc_{p}_k{K}"] = atc[p]
    return out, timing


def run(params: Params, out_dir: Path, graph_path: str = GRAPH) -> dict:
    import io

    import numpy as np

    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json
    from tasks.linkpred.data import available_splits, load_graph

    graph = load_graph(graph_path)
    timing = {}
    with atomic_dir(out_dir) as tmp:
        for split in available_splits(graph):
            arrays, timing[split] = node_topology(graph, split, params.K, params.atc_dim, params.seed)
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(tmp / f"{split}.npz", buf.getvalue())
            print(split, {k: round(v, 3) for k, v in timing[split].items()})
        atomic_write_json(tmp / "timing.json", timing)
    return timing


if __name__ == "__main__":
    main(__spec__.name, Params, run)
