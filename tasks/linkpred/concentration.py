"""Stage ``concentration``: per-node topology of the training graph for each split — Train/Val/Test-TC at
K = 1..K_max (exact, ``tasks.linkpred.tc``), ATC at every dimension of ``atc_dims`` with ``atc_seeds`` independent
random projections, degree and local clustering — with the wall time of TC and of ATC, each timed ``repeats``
times. Writes ``data/linkpred/concentration/{<split>.npz, timing.json}``:

* ``<split>.npz``: ``degree``, ``clustering``, ``tc_<part>_k<K>`` and ``atc_<part>_k<K>_d<dim>_s<s>`` (part in
  train/val/test, s = 0..atc_seeds−1, projection seed = seed + s);
* ``timing.json``: ``{split: {"tc_k<K>_s": [seconds × repeats], "atc_k<K>_d<dim>_s": [seconds × repeats]}}``
  (ATC timed at seed index 0).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from common.stage import Field, StageParams, main

GRAPH = "data/linkpred/prepare/graph.npz"
PARTS = ("train", "val", "test")


class Params(StageParams):
    K: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, description="hop counts K at which TC and ATC "
                                                                      "are computed (each ≥ 1)")
    atc_dims: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, description="ATC: dimensions of the random "
                                                        "projection (each ≥ 1); the first is the ATC signal the "
                                                        "analyses use")
    atc_seeds: int = Field(3, ge=1, description="ATC: independent random projections per dimension (seed + s)")
    repeats: int = Field(3, ge=1, description="wall-time repeats of TC and of ATC (each timed separately)")


def atc_key(part: str, K: int, dim: int, s: int) -> str:
    return f"atc_{part}_k{K}_d{dim}_s{s}"


def _timed(fn, repeats: int):
    """(fn()'s first result, wall seconds of each of ``repeats`` calls)."""
    import time

    times, out = [], None
    for r in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        out = res if r == 0 else out
    return out, times


def node_topology(graph: dict, split: str, Ks, atc_dims, atc_seeds: int, seed: int, repeats: int = 1) -> tuple[dict, dict]:
    import numpy as np

    from tasks.linkpred.data import split_edges_of
    from tasks.linkpred.tc import atc_scores, clustering, tc_scores

    n = graph["num_nodes"]
    train = split_edges_of(graph, split, "train")
    targets = {p: split_edges_of(graph, split, p) for p in PARTS}
    out = {"degree": np.bincount(train.ravel(), minlength=n).astype(np.float64), "clustering": clustering(train, n)}
    timing = {}
    for K in Ks:
        tc, timing[f"tc_k{K}_s"] = _timed(lambda: tc_scores(train, n, targets, K=K), repeats)
        for p in PARTS:
            out[f"tc_{p}_k{K}"] = tc[p]
        for dim in atc_dims:
            for s in range(atc_seeds):
                def once(s=s):
                    return atc_scores(train, n, targets, K=K, dim=dim, seed=seed + s)
                if s == 0:
                    atc, timing[f"atc_k{K}_d{dim}_s"] = _timed(once, repeats)
                else:
                    atc = once()
                for p in PARTS:
                    out[atc_key(p, K, dim, s)] = atc[p]
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
            arrays, timing[split] = node_topology(graph, split, params.K, params.atc_dims, params.atc_seeds,
                                                  params.seed, params.repeats)
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(tmp / f"{split}.npz", buf.getvalue())
            print(split, {k: round(min(v), 3) for k, v in timing[split].items()})
        atomic_write_json(tmp / "timing.json", timing)
    return timing


if __name__ == "__main__":
    main(__spec__.name, Params, run)
