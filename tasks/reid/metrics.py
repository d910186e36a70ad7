"""Retrieval metrics of ReID: CMC Rank-k, mAP and mINP over query → gallery, and the benchmarks' protocols.

Definitions as torchreid's ``eval_market1501`` / the Market-1501 evaluation code: per query the gallery is ranked
by distance, its *junk* removed (a gallery image of the query's own person seen by the query's own camera, and
for SYSU-MM01 every gallery image of a camera the protocol excludes for the query's camera: cam 3 → cam 2), then
CMC(k) = 1 if a true match is within the first k, AP = mean of the precision at each true match, and the query
is skipped if nothing is left to find; Rank-k and mAP average over the queries kept.

Written here because no installed library has this protocol: torchreid (and open-reid, fast-reid) is not
installed, and torchmetrics has retrieval mAP / hit-rate but neither the junk rule nor mINP (Ye et al., "Deep
Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021: INP = |positives| / rank of the
hardest positive). The tests check mAP and Rank-1 against torchmetrics' ``RetrievalMAP`` / ``RetrievalHitRate``
on the same rankings with the junk removed.

One difference from the SYSU-MM01 reference code, stated: its CMC counts *identities* (a gallery identity seen
again further down the list does not take a rank), ours counts images as torchreid does. Rank-1 and mAP are the
same either way (the first image is the first identity; AP is per image in both); Rank-5 / Rank-10 on SYSU-MM01
can be lower than published ones by that rule.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def cosine_distance(q: torch.Tensor, g: torch.Tensor) -> np.ndarray:
    return (1 - F.normalize(q.float(), dim=1) @ F.normalize(g.float(), dim=1).T).numpy()


def retrieval_metrics(dist: np.ndarray, q_pids, g_pids, q_cams=None, g_cams=None, max_rank: int = 10,
                      exclude: list[tuple[int, int]] | tuple = (), per_query: bool = False) -> dict:
    """``dist`` (n_q, n_g), smaller = more similar. Returns rank1 / rank5 / rank10 / map / minp (fractions) and
    ``queries`` (queries with at least one valid positive; the others are skipped, as in the benchmarks).

    With cameras, a gallery image of the query's identity and camera is not ranked; ``exclude``: pairs
    (query camera, gallery camera) whose gallery images are not ranked for such queries at all (SYSU-MM01).
    ``per_query``: also ``ap_q`` and ``hit1_q``, each kept query's AP and Rank-1 hit (what a bootstrap over the
    queries resamples)."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    n_q, n_g = dist.shape
    if n_q != len(q_pids) or n_g != len(g_pids):
        raise ValueError(f"distance matrix {dist.shape} does not match {len(q_pids)} queries × {len(g_pids)} gallery")
    # stable sort: ties keep gallery order (deterministic)
    order = np.argsort(dist, axis=1, kind="stable")
    cmc_sum = np.zeros(max_rank)
    aps, inps, hits = [], [], []
    for i in range(n_q):
        keep = np.ones(n_g, bool)
        if q_cams is not None and g_cams is not None:
            g_cam = np.asarray(g_cams)[order[i]]
            keep = ~((g_pids[order[i]] == q_pids[i]) & (g_cam == q_cams[i]))
            for qc, gc in exclude:
                if q_cams[i] == qc:
                    keep &= g_cam != gc
        match = (g_pids[order[i]] == q_pids[i])[keep]
        if not match.any():
            continue
        pos = np.flatnonzero(match)  # 0-based ranks of the positives
        cmc = np.zeros(max_rank)
        if pos[0] < max_rank:
            cmc[pos[0]:] = 1
        cmc_sum += cmc
        hits.append(float(pos[0] == 0))
        precision_at_hits = (np.arange(len(pos)) + 1) / (pos + 1)
        aps.append(precision_at_hits.mean())
        inps.append(len(pos) / (pos[-1] + 1))
    n = len(aps)
    extra = {"ap_q": [float(a) for a in aps], "hit1_q": hits} if per_query else {}
    if n == 0:
        return {"rank1": float("nan"), "rank5": float("nan"), "rank10": float("nan"), "map": float("nan"),
                "minp": float("nan"), "queries": 0, **extra}
    cmc = cmc_sum / n
    return {"rank1": float(cmc[0]), "rank5": float(cmc[min(4, max_rank - 1)]), "rank10": float(cmc[min(9, max_rank - 1)]),
            "map": float(np.mean(aps)), "minp": float(np.mean(inps)), "queries": n, **extra}


def evaluate_pairs(features: torch.Tensor, pids, cams, modality, pairs: dict[str, tuple[int, int]],
                   text: tuple[torch.Tensor, np.ndarray] | None = None, per_query: bool = False) -> dict[str, dict]:
    """Metrics per query→gallery modality pair. ``pairs``: name → (query modality code, gallery modality code);
    a query code of −1 means text queries, taken from ``text`` = (embeddings, pids)."""
    pids, cams, modality = np.asarray(pids), np.asarray(cams), np.asarray(modality)
    out = {}
    for name, (qm, gm) in pairs.items():
        g = modality == gm
        if qm < 0:
            if text is None:
                continue
            qf, qp, qc = text[0], np.asarray(text[1]), None
        else:
            q = modality == qm
            qf, qp, qc = features[torch.from_numpy(q)], pids[q], cams[q]
        out[name] = retrieval_metrics(cosine_distance(qf, features[torch.from_numpy(g)]), qp, pids[g],
                                      qc, cams[g] if qc is not None else None, per_query=per_query)
    return out


METRICS = ("rank1", "rank5", "rank10", "map", "minp")


def evaluate_split(features: torch.Tensor, split, pairs: dict[str, tuple[int, int]],
                   text: tuple[torch.Tensor, np.ndarray] | None = None, per_query: bool = False) -> dict[str, dict]:
    """Metrics per pair (as :func:`evaluate_pairs`) on a prepared validation split
    (:class:`tasks.reid.data.SplitArrays`) under its benchmark's protocol where it records one.

    The pair whose modalities are the protocol's (Market-1501: RGB → RGB; SYSU-MM01: IR → RGB) is scored on the
    recorded query images against each recorded gallery (with the protocol's excluded camera pairs), the mean over
    the galleries reported with ``trials`` (each gallery's metrics) where there are several, and ``protocol`` (its
    description). Every other pair, and every pair of a split without a protocol, is leave-one-out over the split.
    ``per_query``: each pair also gets ``ap_q`` / ``hit1_q`` per kept query (over several galleries: each query's
    mean over them — the same queries are kept in every trial).
    """
    from tasks.reid.data import MODALITY_CODE

    proto = split.protocol
    if proto is None:
        return evaluate_pairs(features, split.pids, split.cams, split.modality, pairs, text, per_query)
    codes = tuple(MODALITY_CODE[m] for m in proto["pair"])
    out = evaluate_pairs(features, split.pids, split.cams, split.modality,
                         {k: v for k, v in pairs.items() if tuple(v) != codes}, text, per_query)
    q = split.query
    qf = features[torch.from_numpy(q)]
    trials = []
    for g in split.galleries:
        r = retrieval_metrics(cosine_distance(qf, features[torch.from_numpy(g)]), split.pids[q], split.pids[g],
                              split.cams[q], split.cams[g], exclude=[tuple(e) for e in proto["exclude"]],
                              per_query=per_query)
        trials.append(r | {"gallery": int(g.sum())})
    for name, v in pairs.items():
        if tuple(v) == codes:
            out[name] = {k: float(np.mean([t[k] for t in trials])) for k in METRICS} | {
                "queries": trials[0]["queries"], "gallery": trials[0]["gallery"], "protocol": proto["description"]}
            if per_query:
                for key in ("ap_q", "hit1_q"):
                    out[name][key] = np.mean([t.pop(key) for t in trials], axis=0).tolist()
            if len(trials) > 1:
                out[name]["trials"] = trials
    return {k: out[k] for k in pairs if k in out}
