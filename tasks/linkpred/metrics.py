"""Link-prediction metrics.

* overall, OGB-style: Hits@K = fraction of positive test edges scored above the K-th best of a fixed set
  of negative pairs; MRR of each positive among the negatives; AUC (torchmetrics);
* per node (the TC paper's evaluation): rank *all* nodes for each node with test neighbours (itself and
  its training/validation neighbours masked) and score the ranking against its test neighbours with
  torchmetrics' retrieval metrics — Hits@K, Recall@K, NDCG@K.
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional import auroc
from torchmetrics.functional.retrieval import retrieval_hit_rate, retrieval_normalized_dcg, retrieval_recall


def overall_metrics(pos: torch.Tensor, neg: torch.Tensor, ks=(10, 50, 100)) -> dict:
    pos, neg = pos.float().flatten(), neg.float().flatten()
    out = {}
    for k in ks:
        if len(neg) >= k:
            thr = torch.topk(neg, k).values[-1]
            out[f"hits@{k}"] = float((pos > thr).float().mean())
    rank = 1 + (neg[None, :] >= pos[:, None]).sum(1)  # ties count against the positive
    out["mrr"] = float((1.0 / rank.float()).mean())
    target = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).long()
    out["auc"] = float(auroc(torch.cat([pos, neg]), target, task="binary"))
    return out


def per_node_metrics(score_fn, num_nodes: int, target_edges: np.ndarray, masked_edges: list[np.ndarray],
                     k: int = 10, chunk: int = 256) -> dict[str, np.ndarray]:
    """Per-node Hits@k / Recall@k / NDCG@k (NaN for nodes without target neighbours).

    ``score_fn(nodes) -> (len(nodes), num_nodes)`` scores every candidate for a block of query nodes.
    ``masked_edges``: known edges (training, validation) removed from the candidates.
    """
    tgt = {i: [] for i in range(num_nodes)}
    for u, v in target_edges.tolist():
        tgt[u].append(v)
        tgt[v].append(u)
    masked = {i: [i] for i in range(num_nodes)}
    for e in masked_edges:
        for u, v in e.tolist():
            masked[u].append(v)
            masked[v].append(u)
    queries = [i for i in range(num_nodes) if tgt[i]]
    out = {m: np.full(num_nodes, np.nan) for m in ("hits", "recall", "ndcg")}
    for s in range(0, len(queries), chunk):
        block = queries[s:s + chunk]
        with torch.no_grad():
            scores = score_fn(torch.tensor(block)).float()
        for row, i in enumerate(block):
            sc = scores[row].clone()
            sc[masked[i]] = -torch.inf
            keep = torch.isfinite(sc)
            target = torch.zeros(num_nodes, dtype=torch.bool)
            target[tgt[i]] = True
            p, t = sc[keep], target[keep]
            out["hits"][i] = float(retrieval_hit_rate(p, t, top_k=k))
            out["recall"][i] = float(retrieval_recall(p, t, top_k=k))
            out["ndcg"][i] = float(retrieval_normalized_dcg(p, t, top_k=k))
    return out
