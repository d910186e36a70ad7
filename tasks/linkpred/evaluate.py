"""Stage ``evaluate``: the TC paper's analyses on our runs, and FastRP's table — every comparative number with a
95 % interval (``common.evaluate.intervals``): a paired bootstrap over the evaluated items (nodes for per-node
analyses, test edges and negatives for Hits / MRR / AUC, test nodes for node classification; the same resamples
for every variant and seed) combined with the spread over the runs' seeds.

* correlation: Pearson r between per-node performance (Hits/Recall/NDCG@k of each model) and degree, local
  clustering, Train-TC, Test-TC and ATC, over the nodes with test neighbours and TC defined (random split);
* cold start: which signal better finds the poorly served nodes (bottom ``poor_fraction`` by NDCG@k) — the lowest
  Train-TC nodes or the lowest-degree nodes (precision of each pick);
* distribution shift: mean Train-TC − Test-TC on the time split (later neighbours are less concentrated), beside
  the random split where no shift is expected (a deterministic computation: bootstrap over nodes only);
* TC-guided re-weighting of training edges vs none (test Hits@K);
* ATC vs TC at every hop count and projection dimension (r over the projection seeds); speed-ups over timing
  repeats; FastRP vs DeepWalk (AUC, macro-F1 over seeds and items; speed-up over seeds).
The TC hop count ``k_tc`` must be one of the ``K`` of section ``concentration``. Writes
``data/linkpred/evaluate/analysis.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

TRAIN = "data/linkpred/train"
CONCENTRATION = "data/linkpred/concentration"
EMBED = "data/linkpred/embed"
SIGNALS = ("degree", "clustering", "tc_train", "tc_test", "atc_train")
PER_NODE = ("hits", "recall", "ndcg")


class Params(StageParams):
    k: int = Field(10, ge=1, description="cut-off of the per-node Hits/Recall/NDCG@k (computed by `train`)")
    k_tc: int = Field(1, ge=1, description="hop count K of the TC / ATC signals (one of concentration's K)")
    poor_fraction: float = Field(0.2, gt=0, le=1, description="share of nodes called poorly served (by NDCG@k)")
    hits_k: Literal[10, 50, 100] = Field(50, description="K of the test Hits@K compared with and without "
                                                         "re-weighting")
    resamples: int = Field(1000, ge=100, description="bootstrap resamples of the evaluated items")
    level: float = Field(0.95, gt=0.5, lt=1, description="coverage of every interval")


# ----------------------------------------------------------------------------- statistics on resamples
def pearson(a, b) -> float | None:
    import numpy as np
    from scipy.stats import pearsonr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(pearsonr(a[ok], b[ok]).statistic)


def pearson_rows(x, y):
    """Pearson r of each row pair of ``x`` and ``y`` (B, n) → (B,) (NaN for a constant row)."""
    import numpy as np

    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(1) / den, np.nan)


def lowest_mask(values, m: int):
    """(B, n) boolean: the ``m`` lowest entries of each row (ties broken by position, stably)."""
    import numpy as np

    order = np.argsort(values, axis=1, kind="stable")
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :m], True, axis=1)
    return mask


def overall_on(pos, neg, ip, ineg, hits_k: int) -> dict:
    """Hits@K / MRR / AUC of positives ``pos[ip]`` against negatives ``neg[ineg]`` for each resample row
    (the definitions of ``tasks.linkpred.metrics.overall_metrics``: ties count against the positive for MRR and
    half for AUC) → {metric: (B,)}."""
    import numpy as np

    rows = len(ip)
    out = {f"hits@{hits_k}": np.empty(rows), "mrr": np.empty(rows), "auc": np.empty(rows)}
    for b in range(rows):
        p, ng = pos[ip[b]], np.sort(neg[ineg[b]])
        n = len(ng)
        out[f"hits@{hits_k}"][b] = float((p > ng[n - hits_k]).mean()) if n >= hits_k else np.nan
        below = np.searchsorted(ng, p, side="left")
        ties = np.searchsorted(ng, p, side="right") - below
        out["mrr"][b] = float((1.0 / (1 + n - below)).mean())
        out["auc"][b] = float((below + 0.5 * ties).sum() / (len(p) * n))
    return out


def overall_draws(scores, ip, ineg, hits_k: int) -> dict:
    """{metric: (its value per seed (S,), its values on the resamples (B, S))} of Hits@K / MRR / AUC for one
    variant's seeds, ``scores``: [(positive scores, negative scores)] per seed."""
    import numpy as np

    pts = [overall_on(pos, neg, np.arange(len(pos))[None], np.arange(len(neg))[None], hits_k) for pos, neg in scores]
    bts = [overall_on(pos, neg, ip, ineg, hits_k) for pos, neg in scores]
    return {m: (np.array([p[m][0] for p in pts]), np.stack([b[m] for b in bts], 1)) for m in pts[0]}


def paired_gap(a: tuple, b: tuple) -> tuple:
    """(per-seed values, draws) of a − b for two (per-seed values, draws) pairs on the same resamples (seed i of a
    against seed i of b, over the seeds both have)."""
    s = min(len(a[0]), len(b[0]))
    return a[0][:s] - b[0][:s], a[1][:, :s] - b[1][:, :s]


def macro_f1_on(true, pred, idx):
    """Macro-F1 of the resampled test nodes ``idx`` (B, n) → (B,), over the classes present in the resample
    (sklearn's macro average; a class with no true or predicted node counts F1 0 only when present)."""
    import numpy as np

    classes = int(max(true.max(), pred.max())) + 1
    code = true * classes + pred
    out = np.empty(len(idx))
    for b in range(len(idx)):
        w = np.bincount(idx[b], minlength=len(true)).astype(np.float64)
        cm = np.bincount(code, weights=w, minlength=classes * classes).reshape(classes, classes)
        tp = np.diag(cm)
        support, predicted = cm.sum(1), cm.sum(0)
        present = (support + predicted) > 0
        f1 = np.divide(2 * tp, support + predicted, out=np.zeros(classes), where=present)
        out[b] = f1[present].mean()
    return out


# ----------------------------------------------------------------------------- the stage
def run(params: Params, out_dir: Path, train_dir=TRAIN, topo_dir=CONCENTRATION, embed_dir=EMBED) -> dict:
    import numpy as np

    from common.evaluate.intervals import estimate, resample, seed_interval
    from common.io import atomic_dir, atomic_write_json, read_json
    from common.stage import ParamsError, StageId, load_params
    from tasks.linkpred.concentration import Params as ConcentrationParams

    sid = StageId("linkpred", "concentration")
    conc = load_params(ConcentrationParams, sid)
    Ks, dims = conc.K, conc.atc_dims
    if params.k_tc not in Ks:
        raise ParamsError(f"{sid.params_file}: `{params.profile}.evaluate.k_tc`: {params.k_tc} is not among "
                          f"`{params.profile}.concentration.K` {Ks} (TC was not computed at that hop count)")
    train_dir, topo_dir, embed_dir = Path(train_dir), Path(topo_dir), Path(embed_dir)
    K, k, level, B = params.k_tc, params.k, params.level, params.resamples
    hk = f"hits@{params.hits_k}"
    summary = read_json(train_dir / "summary.json")
    topo = {s: dict(np.load(topo_dir / f"{s}.npz")) for s in ("random", "time") if (topo_dir / f"{s}.npz").is_file()}
    t = topo["random"]
    atc_key = f"atc_train_k{K}_d{dims[0]}_s0"
    sig = {"degree": t["degree"], "clustering": t["clustering"], "tc_train": t[f"tc_train_k{K}"],
           "tc_test": t[f"tc_test_k{K}"], "atc_train": t[atc_key]}

    # the models and their seeds: GNN runs (random split, no re-weighting, for the per-node analyses), all runs
    # for the overall metrics, and the common-neighbours reference (one deterministic "seed")
    def load_run(d: Path) -> dict:
        return {"per": dict(np.load(d / "per_node.npz")), "scores": dict(np.load(d / "scores.npz"))}

    runs = {name: [load_run(train_dir / name / f"seed{i}") for i in range(len(recs))]
            for name, recs in summary["runs"].items()}
    refs = {name: [load_run(train_dir / name)] for name in summary["reference"]}
    analysed = [n for n, recs in summary["runs"].items()
                if recs[0].get("split", "random") == "random" and not recs[0].get("reweight_gamma")]
    models = {**{n: runs[n] for n in analysed}, **refs}

    # node items: nodes with test neighbours where every signal is defined (the same nodes for every model)
    query = np.isfinite(next(iter(models.values()))[0]["per"]["ndcg"])
    ok = query & np.all([np.isfinite(v) for v in sig.values()], axis=0)
    nodes = np.flatnonzero(ok)
    (node_draw,) = resample(len(nodes), B, seed=params.seed)
    qnodes = np.flatnonzero(query)
    (query_draw,) = resample(len(qnodes), B, seed=params.seed + 1)
    n_nodes, n_query = f"{len(nodes):,} nodes", f"{len(qnodes):,} query nodes"
    S = {s: v[nodes] for s, v in sig.items()}
    jitter = np.random.default_rng(params.seed).random(len(nodes)) * 1e-9  # ties (many share a degree) broken reproducibly
    m_poor = max(1, int(round(params.poor_fraction * len(nodes))))
    sig_draw = {s: v[node_draw] for s, v in S.items()}
    pick = {s: lowest_mask(sig_draw[s] + jitter[node_draw], m_poor) for s in ("tc_train", "degree", "clustering")}

    undefined = []

    def est(per_seed, boot, items, what: str, **kw):
        """An Estimate's dict, or None (and the reason noted) when a seed's value is undefined — e.g. a model
        whose per-node performance is constant has no correlation with anything."""
        vals = [np.nan if v is None else v for v in per_seed]
        if not np.all(np.isfinite(vals)):
            undefined.append(what)
            return None
        return estimate(vals, boot, n_items=items, level=level, **kw).as_dict()

    doc = {"k": k, "k_tc": K, "resamples": B, "level": level, "nodes": len(nodes), "query_nodes": len(qnodes),
           "correlation": {}, "cold_start": {}, "bins": {}, "derived": {}, "variants": {}}
    derived = doc["derived"]
    for name, seeds in models.items():
        trained = name in runs
        corr = {m: {s: float(np.mean([pearson(sig[s][ok], r["per"][m][ok]) or np.nan for r in seeds]))
                    for s in SIGNALS} for m in PER_NODE}
        doc["correlation"][name] = corr
        gap_pt, gap_bt, tgap_pt, tgap_bt, cs_pt, cs_bt, prec = [], [], [], [], [], [], []
        for r in seeds:
            perf = r["per"]["ndcg"][nodes]
            rb = {s: pearson_rows(sig_draw[s], perf[node_draw]) for s in ("tc_test", "tc_train", "degree", "clustering")}
            rp = {s: pearson(S[s], perf) for s in rb}
            rp = {s: np.nan if v is None else v for s, v in rp.items()}
            gap_pt.append(rp["tc_test"] - max(rp["degree"], rp["clustering"]))
            gap_bt.append(rb["tc_test"] - np.maximum(rb["degree"], rb["clustering"]))
            tgap_pt.append(rp["tc_train"] - rp["degree"])
            tgap_bt.append(rb["tc_train"] - rb["degree"])
            poor_pt = lowest_mask((perf + jitter)[None], m_poor)[0]
            p_pt = {s: float((lowest_mask((S[s] + jitter)[None], m_poor)[0] & poor_pt).sum() / m_poor) for s in pick}
            poor_b = lowest_mask(perf[node_draw] + jitter[node_draw], m_poor)
            p_b = {s: (pick[s] & poor_b).sum(1) / m_poor for s in pick}
            prec.append(p_pt)
            cs_pt.append(p_pt["tc_train"] - p_pt["degree"])
            cs_bt.append(p_b["tc_train"] - p_b["degree"])
        doc["cold_start"][name] = {"nodes": len(nodes), "picked": m_poor, "precision_random": params.poor_fraction,
                                   **{f"precision_{s}": float(np.mean([p[s] for p in prec])) for s in pick}}
        if trained:  # the claims are about the GNNs; the reference row is shown beside them
            for metric, pt, bt in ((f"tc_corr_gap_{name}", gap_pt, gap_bt), (f"train_tc_corr_gap_{name}", tgap_pt, tgap_bt),
                                   (f"cold_start_gap_{name}", cs_pt, cs_bt)):
                derived[metric] = est(pt, np.stack(bt, 1), n_nodes, what=metric)
        doc["bins"][name] = {s: bins(sig[s], seeds[0]["per"]["ndcg"]) for s in ("tc_train", "degree")}
        doc["scatter_" + name] = {"tc_test": np.nan_to_num(sig["tc_test"], nan=-1).tolist(),
                                  "ndcg": np.nan_to_num(seeds[0]["per"]["ndcg"], nan=-1).tolist()}

    # overall metrics of every run and the reference: test edges and negatives resampled, paired across runs
    first = next(iter(runs.values()))[0]["scores"]
    ip, ineg = resample([len(first["pos"]), len(first["neg"])], B, seed=params.seed + 2)
    n_edges = f"{len(first['pos']):,} test edges × {len(first['neg']):,} negatives"
    overall = {}
    for name, seeds in {**runs, **refs}.items():
        overall[name] = overall_draws([(r["scores"]["pos"], r["scores"]["neg"]) for r in seeds], ip, ineg, params.hits_k)
        ndcg_pt = [float(np.mean(r["per"]["ndcg"][qnodes])) for r in seeds]
        ndcg_bt = np.stack([r["per"]["ndcg"][qnodes][query_draw].mean(1) for r in seeds], 1)
        trained = name in runs
        doc["variants"][name] = {
            **{m: est(*overall[name][m], n_edges, what=f"{name} {m}", trained=trained) for m in (hk, "mrr", "auc")},
            "node_ndcg": est(ndcg_pt, ndcg_bt, n_query, what=f"{name} node NDCG", trained=trained), "seeds": len(seeds) if trained else 0,
            "seconds": float(np.mean([rec["fit"]["train_seconds"] for rec in summary["runs"][name]])) if trained else None,
            "best_epoch": [rec["fit"].get("best_epoch") for rec in summary["runs"][name]] if trained else None}
        derived[f"{name}_node_ndcg"] = doc["variants"][name]["node_ndcg"]
    if "gcn" in overall and "gcn_reweight" in overall:
        derived["reweight_gain_hits"] = est(*paired_gap(overall["gcn_reweight"][hk], overall["gcn"][hk]), n_edges,
                                            what="reweight_gain_hits")

    # topological distribution shift: deterministic TC, bootstrap over the nodes with both
    doc["shift"] = {}
    for split, tt in topo.items():
        both = np.isfinite(tt[f"tc_train_k{K}"]) & np.isfinite(tt[f"tc_test_k{K}"])
        d = (tt[f"tc_train_k{K}"] - tt[f"tc_test_k{K}"])[both]
        (draw,) = resample(len(d), B, seed=params.seed + 3)
        doc["shift"][split] = {"train_tc": float(np.mean(tt[f"tc_train_k{K}"][both])),
                               "test_tc": float(np.mean(tt[f"tc_test_k{K}"][both])), "nodes": int(both.sum()),
                               "gap": est([d.mean()], d[draw].mean(1), f"{int(both.sum()):,} nodes", what=f"{split} shift",
                                          trained=False)}
    if "time" in doc["shift"]:
        derived["time_shift_tc"] = doc["shift"]["time"]["gap"]

    # ATC vs exact TC: r over the projection seeds and the nodes; speed-up over timing repeats
    timing = read_json(topo_dir / "timing.json")["random"]
    doc["atc"] = {}
    for kk in Ks:
        row = {"tc_seconds": float(np.mean(timing[f"tc_k{kk}_s"])), "dims": {}}
        for dim in dims:
            seeds_r = sorted(int(key.rsplit("_s", 1)[1]) for key in t if key.startswith(f"atc_train_k{kk}_d{dim}_s"))
            per_tr, per_te, boot = [], [], []
            defined = np.isfinite(t[f"tc_train_k{kk}"]) & np.all(
                [np.isfinite(t[f"atc_train_k{kk}_d{dim}_s{s}"]) for s in seeds_r], axis=0)
            idx = np.flatnonzero(defined)
            (draw,) = resample(len(idx), B, seed=params.seed + 4)
            for s in seeds_r:
                a, tc = t[f"atc_train_k{kk}_d{dim}_s{s}"][idx], t[f"tc_train_k{kk}"][idx]
                per_tr.append(pearson(tc, a))
                per_te.append(pearson(t[f"tc_test_k{kk}"], t[f"atc_test_k{kk}_d{dim}_s{s}"]))
                boot.append(pearson_rows(tc[draw], a[draw]))
            atc_s = timing[f"atc_k{kk}_d{dim}_s"]
            row["dims"][str(dim)] = {
                "pearson_train": est(per_tr, np.stack(boot, 1), f"{len(idx):,} nodes", what=f"r(TC, ATC) k{kk} d{dim}",
                                     noise=f"{len(seeds_r)} random projections"),
                "pearson_test": float(np.mean([r for r in per_te if r is not None])) if any(
                    r is not None for r in per_te) else None,
                "atc_seconds": float(np.mean(atc_s)),
                "speedup": seed_interval([a / max(b, 1e-9) for a, b in zip(timing[f"tc_k{kk}_s"], atc_s)],
                                         what="timing repeats", level=level, ratio=True).as_dict()}
        doc["atc"][f"k{kk}"] = row
    if "k1" in doc["atc"]:
        for dim in dims:
            derived[f"atc_tc_pearson_d{dim}"] = doc["atc"]["k1"]["dims"][str(dim)]["pearson_train"]
        derived["atc_tc_pearson"] = derived[f"atc_tc_pearson_d{dims[0]}"]
    if "k3" in doc["atc"]:
        derived["atc_speedup_k3"] = doc["atc"]["k3"]["dims"][str(dims[0])]["speedup"]

    # FastRP vs DeepWalk: AUC / Hits / MRR over test edges and negatives, macro-F1 over test nodes, and seeds
    emb = read_json(embed_dir / "results.json")
    arr = dict(np.load(embed_dir / "scores.npz"))
    e_ip, e_in = resample([len(arr["v0_s0_pos"]), len(arr["v0_s0_neg"])], B, seed=params.seed + 5)
    n_nc = len(arr["nc_true"]) if "nc_true" in arr else 0
    nc_draw = resample(n_nc, B, seed=params.seed + 6)[0] if n_nc else None
    e_edges = f"{len(arr['v0_s0_pos']):,} test edges × {len(arr['v0_s0_neg']):,} negatives"
    doc["embed"] = {"num_nodes": emb["num_nodes"], "train_edges": emb["train_edges"], "results": {}}
    lp_draws, f1_draws = {}, {}
    for name, r in emb["results"].items():
        key, seeds = r["key"], range(len(r["runs"]))
        lp_draws[name] = overall_draws([(arr[f"{key}_s{s}_pos"], arr[f"{key}_s{s}_neg"]) for s in seeds], e_ip, e_in,
                                       params.hits_k)
        res = {m: est(*lp_draws[name][m], e_edges, what=f"{name} {m}") for m in (hk, "mrr", "auc")}
        res["seconds"] = float(np.mean([x["seconds"] for x in r["runs"]]))
        res["seeds"] = len(r["runs"])
        if n_nc:
            f1_draws[name] = (np.array([x["nc_macro_f1"] for x in r["runs"]]),
                              np.stack([macro_f1_on(arr["nc_true"], arr[f"{key}_s{s}_nc_pred"], nc_draw) for s in seeds], 1))
            res["nc_macro_f1"] = est(*f1_draws[name], f"{n_nc:,} test nodes", what=f"{name} macro-F1")
        doc["embed"]["results"][name] = res
    fr, dw = emb["results"]["fastrp"]["runs"], emb["results"]["deepwalk"]["runs"]
    ratios = [d["seconds"] / max(f["seconds"], 1e-9) for f, d in zip(fr, dw)]
    derived["fastrp_speedup"] = (seed_interval(ratios, what="seeds (wall-time ratios)", level=level,
                                               ratio=True).as_dict()
                                 if len(ratios) >= 2 else ratios[0])
    derived["fastrp_auc_gap"] = est(*paired_gap(lp_draws["fastrp"]["auc"], lp_draws["deepwalk"]["auc"]), e_edges,
                                    what="fastrp_auc_gap")
    derived["fastrp_auc"] = doc["embed"]["results"]["fastrp"]["auc"]
    derived["deepwalk_auc"] = doc["embed"]["results"]["deepwalk"]["auc"]
    if n_nc:
        derived["fastrp_f1_gap"] = est(*paired_gap(f1_draws["fastrp"], f1_draws["deepwalk"]), f"{n_nc:,} test nodes",
                                       what="fastrp_f1_gap")
        derived["deepwalk_f1"] = doc["embed"]["results"]["deepwalk"]["nc_macro_f1"]
    doc["derived"] = {k2: v for k2, v in derived.items() if v is not None}
    doc["undefined"] = undefined
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "analysis.json", doc)
    return doc


def bins(x, perf, n_bins: int = 5) -> dict:
    """Mean performance per quantile bin of ``x`` (nodes where both are defined)."""
    import numpy as np

    ok = np.isfinite(x) & np.isfinite(perf)
    edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, len(edges) - 2)
    return {"edges": edges.tolist(), "mean": [float(perf[ok][idx == b].mean()) if (idx == b).any() else None
                                              for b in range(len(edges) - 1)],
            "count": [int((idx == b).sum()) for b in range(len(edges) - 1)]}


if __name__ == "__main__":
    main(__spec__.name, Params, run)
