"""Topological link-prediction heuristics, the reference a GNN is measured against (Liben-Nowell & Kleinberg,
"The link-prediction problem for social networks", 2007): common neighbours, CN(u, v) = |N(u) ∩ N(v)| on the
*training* graph, i.e. (A²)_{uv} with A the 0/1 adjacency.

The plain heuristic: ties (many pairs share a count, most of them 0) are left as they are — no degree or
random tie-breaking is added; the evaluation's own tie rules apply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


@dataclass(frozen=True)
class CommonNeighbours:
    """Common-neighbour counts of a training graph (see :func:`common_neighbours`)."""

    adjacency: sp.csr_matrix

    @property
    def num_nodes(self) -> int:
        return self.adjacency.shape[0]

    def pair_scores(self, pairs: np.ndarray) -> np.ndarray:
        """|N(u) ∩ N(v)| of each pair (u, v) of ``pairs`` (P, 2) → (P,) float64."""
        from tasks.linkpred.tc import _row_dot

        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= self.num_nodes):
            raise ValueError(f"node ids of the pairs must be in [0, {self.num_nodes - 1}], got "
                             f"[{pairs.min()}, {pairs.max()}]")
        if len(pairs) == 0:
            return np.zeros(0)
        return _row_dot(self.adjacency, self.adjacency, pairs[:, 0], pairs[:, 1])

    def score_fn(self, nodes: torch.Tensor) -> torch.Tensor:
        """Scores (len(nodes), num_nodes) of every candidate for each query node — rows of A·A, the form
        :func:`tasks.linkpred.metrics.per_node_metrics` takes."""
        idx = torch.as_tensor(nodes).long().cpu().numpy().reshape(-1)
        rows = (self.adjacency[idx] @ self.adjacency).toarray()
        return torch.from_numpy(rows).float()


def common_neighbours(train_edges: np.ndarray, num_nodes: int) -> CommonNeighbours:
    """The common-neighbours heuristic of the graph ``train_edges`` (E, 2), undirected, on ``num_nodes`` nodes."""
    from tasks.linkpred.tc import adjacency

    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    edges = np.asarray(train_edges, dtype=np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(f"node ids of the training edges must be in [0, {num_nodes - 1}], got "
                         f"[{edges.min()}, {edges.max()}]")
    return CommonNeighbours(adjacency(edges, num_nodes))
