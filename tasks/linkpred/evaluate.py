"""Stage ``evaluate``: the TC paper's analyses on our runs, and FastRP's table.

* correlation: Pearson r between per-node performance (Hits/Recall/NDCG@k of each model) and degree,
  local clustering, Train-TC, Test-TC and ATC, over nodes with test neighbours (random split);
* cold start: which signal better finds the poorly served nodes (bottom ``poor_fraction`` by NDCG@k) —
  the lowest Train-TC nodes or the lowest-degree nodes (precision of each pick);
* distribution shift: mean Train-TC vs Test-TC on the time split (later neighbours are less
  concentrated), beside the random split where no shift is expected;
* TC-guided re-weighting of training edges vs none (test Hits@K);
* ATC vs TC: correlation and speed-up; FastRP vs DeepWalk.
The TC hop count ``k_tc`` must be one of the ``K`` of section ``concentration``, whose K are all compared in
the ATC-vs-TC table. Writes ``data/linkpred/evaluate/analysis.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

TRAIN = "data/linkpred/train"
CONCENTRATION = "data/linkpred/concentration"
EMBED = "data/linkpred/embed"
SIGNALS = ("degree", "clustering", "tc_train", "tc_test", "atc_train")


class Params(StageParams):
    k: int = Field(10, ge=1, description="cut-off of the per-node Hits/Recall/NDCG@k (computed by `train`)")
    k_tc: int = Field(1, ge=1, description="hop count K of the TC / ATC signals (one of concentration's K)")
    poor_fraction: float = Field(0.2, gt=0, le=1, description="share of nodes called poorly served (by NDCG@k)")
    hits_k: Literal[10, 50, 100] = Field(50, description="K of the test Hits@K compared with and without "
                                                         "re-weighting (the K `train` records)")


def pearson(a, b) -> float | None:
    import numpy as np
    from scipy.stats import pearsonr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(pearsonr(a[ok], b[ok]).statistic)


def signals(topo: dict, K: int) -> dict:
    return {"degree": topo["degree"], "clustering": topo["clustering"], "tc_train": topo[f"tc_train_k{K}"],
            "tc_test": topo[f"tc_test_k{K}"], "atc_train": topo[f"atc_train_k{K}"]}


def bins(x, perf, n_bins: int = 5) -> dict:
    """Mean performance per quantile bin of ``x`` (nodes where both are defined)."""
    import numpy as np

    ok = np.isfinite(x) & np.isfinite(perf)
    edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, len(edges) - 2)
    return {"edges": edges.tolist(), "mean": [float(perf[ok][idx == b].mean()) if (idx == b).any() else None
                                              for b in range(len(edges) - 1)],
            "count": [int((idx == b).sum()) for b in range(len(edges) - 1)]}


def cold_start(perf, sig: dict, fraction: float) -> dict:
    """Precision of "lowest-``fraction`` by signal" at finding the lowest-``fraction`` performers."""
    import numpy as np

    ok = np.isfinite(perf) & np.isfinite(sig["tc_train"])
    nodes = np.flatnonzero(ok)
    m = max(1, int(round(fraction * len(nodes))))
    rng = np.random.default_rng(0)
    jitter = rng.random(len(nodes)) * 1e-9  # break ties (many nodes share a degree) reproducibly
    poor = set(nodes[np.argsort(perf[nodes] + jitter)[:m]])
    out = {"nodes": int(len(nodes)), "picked": m}
    for name in ("tc_train", "degree", "clustering"):
        pick = set(nodes[np.argsort(sig[name][nodes] + jitter)[:m]])
        out[f"precision_{name}"] = len(pick & poor) / m
    out["precision_random"] = fraction
    return out


def run(params: Params, out_dir: Path, train_dir=TRAIN, topo_dir=CONCENTRATION, embed_dir=EMBED) -> dict:
    import numpy as np

    from common.io import atomic_dir, atomic_write_json, read_json
    from common.stage import ParamsError, StageId, load_params
    from tasks.linkpred.concentration import Params as ConcentrationParams

    sid = StageId("linkpred", "concentration")
    Ks = load_params(ConcentrationParams, sid).K  # the hop counts the concentration stage computed
    if params.k_tc not in Ks:
        raise ParamsError(f"{sid.params_file}: `{params.profile}.evaluate.k_tc`: {params.k_tc} is not among "
                          f"`{params.profile}.concentration.K` {Ks} (TC was not computed at that hop count)")
    train_dir, topo_dir = Path(train_dir), Path(topo_dir)
    K, k = params.k_tc, params.k
    summary = read_json(train_dir / "summary.json")
    topo = {s: dict(np.load(topo_dir / f"{s}.npz")) for s in ("random", "time") if (topo_dir / f"{s}.npz").is_file()}
    sig = signals(topo["random"], K)
    doc = {"k": k, "k_tc": K, "correlation": {}, "cold_start": {}, "bins": {}}
    for run_name, rec in summary.items():
        if rec.get("split", "random") != "random" or rec.get("reweight_gamma"):
            continue
        per = dict(np.load(train_dir / run_name / "per_node.npz"))
        doc["correlation"][run_name] = {m: {s: pearson(sig[s], per[m]) for s in SIGNALS} for m in ("hits", "recall", "ndcg")}
        doc["cold_start"][run_name] = cold_start(per["ndcg"], sig, params.poor_fraction)
        doc["bins"][run_name] = {s: bins(sig[s], per["ndcg"]) for s in ("tc_train", "degree")}
        doc["scatter_" + run_name] = {"tc_test": np.nan_to_num(sig["tc_test"], nan=-1).tolist(),
                                      "ndcg": np.nan_to_num(per["ndcg"], nan=-1).tolist()}
    doc["shift"] = {}
    for split, t in topo.items():
        both = np.isfinite(t[f"tc_train_k{K}"]) & np.isfinite(t[f"tc_test_k{K}"])
        doc["shift"][split] = {"train_tc": float(np.nanmean(t[f"tc_train_k{K}"][both])),
                               "test_tc": float(np.nanmean(t[f"tc_test_k{K}"][both])), "nodes": int(both.sum())}
    timing = read_json(topo_dir / "timing.json")["random"]
    doc["atc"] = {f"k{kk}": {"pearson_tc_atc_train": pearson(topo["random"][f"tc_train_k{kk}"], topo["random"][f"atc_train_k{kk}"]),
                             "pearson_tc_atc_test": pearson(topo["random"][f"tc_test_k{kk}"], topo["random"][f"atc_test_k{kk}"]),
                             "tc_seconds": timing[f"tc_k{kk}_s"], "atc_seconds": timing[f"atc_k{kk}_s"],
                             "speedup": timing[f"tc_k{kk}_s"] / max(timing[f"atc_k{kk}_s"], 1e-9)}
                  for kk in Ks}
    hk = f"hits@{params.hits_k}"
    doc["reweight"] = {name: rec["test"][hk] for name, rec in summary.items()}
    doc["embed"] = read_json(Path(embed_dir) / "results.json")
    doc["summary"] = {name: rec["test"] for name, rec in summary.items()}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "analysis.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
