"""Retrieval metrics of ReID: CMC Rank-k, mAP and mINP over query → gallery.

Written here because the field's protocol is not in a maintained metrics library: torchmetrics has retrieval
mAP / hit-rate but neither the ReID *junk* rule (a gallery image of the query's own person seen by the query's
own camera is removed from that query's ranking, as in Market-1501 / SYSU-MM01 evaluation) nor mINP (Ye et al.,
"Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021: INP = |positives| / rank of the
hardest positive). The mAP is checked against torchmetrics' ``RetrievalMAP`` in the tests.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def cosine_distance(q: torch.Tensor, g: torch.Tensor) -> np.ndarray:
    return (1 - F.normalize(q.float(), dim=1) @ F.normalize(g.float(), dim=1).T).numpy()


def retrieval_metrics(dist: np.ndarray, q_pids, g_pids, q_cams=None, g_cams=None, max_rank: int = 10) -> dict:
    """``dist`` (n_q, n_g), smaller = more similar. Returns rank1 / rank5 / rank10 / map / minp (fractions) and
    ``queries`` (queries with at least one valid positive; the others are skipped, as in the benchmarks)."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    n_q, n_g = dist.shape
    if n_q != len(q_pids) or n_g != len(g_pids):
        raise ValueError(f"distance matrix {dist.shape} does not match {len(q_pids)} queries × {len(g_pids)} gallery")
    # stable sort: ties keep gallery order (deterministic)
    order = np.argsort(dist, axis=1, kind="stable")
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for i in range(n_q):
        keep = np.ones(n_g, bool)
        if q_cams is not None and g_cams is not None:
            keep = ~((g_pids[order[i]] == q_pids[i]) & (np.asarray(g_cams)[order[i]] == q_cams[i]))
        match = (g_pids[order[i]] == q_pids[i])[keep]
        if not match.any():
            continue
        pos = np.flatnonzero(match)  # 0-based ranks of the positives
        cmc = np.zeros(max_rank)
        if pos[0] < max_rank:
            cmc[pos[0]:] = 1
        cmc_sum += cmc
        precision_at_hits = (np.arange(len(pos)) + 1) / (pos + 1)
        aps.append(precision_at_hits.mean())
        inps.append(len(pos) / (pos[-1] + 1))
    n = len(aps)
    if n == 0:
        return {"rank1": float("nan"), "rank5": float("nan"), "rank10": float("nan"), "map": float("nan"),
                "minp": float("nan"), "queries": 0}
    cmc = cmc_sum / n
    return {"rank1": float(cmc[0]), "rank5": float(cmc[min(4, max_rank - 1)]), "rank10": float(cmc[min(9, max_rank - 1)]),
            "map": float(np.mean(aps)), "minp": float(np.mean(inps)), "queries": n}


def evaluate_pairs(features: torch.Tensor, pids, cams, modality, pairs: dict[str, tuple[int, int]],
                   text: tuple[torch.Tensor, np.ndarray] | None = None) -> dict[str, dict]:
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
                                      qc, cams[g] if qc is not None else None)
    return out
