"""Topological Concentration (TC) and its approximation (ATC), arXiv 2310.04612.

Definition (the paper; reference code yuwvandy/Topo_LP_GNN ``cal_tc``): on the *training* graph, H_i^k is
the multiset of nodes at hop k of node i's computation tree — node v appears (A^k)_{iv} times, the number
of k-step walks from i to v (no self-loops, unweighted). With β = 1 / mean degree,

    I(i, j) = Σ_{k1,k2 ≤ K} β^{k1+k2−2} Σ_{v ∈ H_i^{k1} ∩ H_j^{k2}} count_{H_i^{k1}}(v)
              / Σ_{k1,k2 ≤ K} β^{k1+k2−2} |H_i^{k1}|

(multiplicity on i's side; j's multiset taken as a set; for Train-TC the (1,1) term of the normaliser
uses |H_i^1| − 1 because j itself is one of i's neighbours), and TC_i = mean of I(i, j) over i's
neighbours j in the training (Train-TC), validation (Val-TC) or test (Test-TC) edges.

Vectorised: count_{H_i^k}(v) = (A^k)_{iv} and "v ∈ H_j^k" = [(A^k)_{jv} > 0], so the numerator of one
pair is Σ_{k1,k2} β^{..} ⟨A^{k1}_{i,:}, 1[A^{k2}_{j,:} > 0]⟩ = ⟨M_i, W_j⟩ (bilinear: M and W are the
β-weighted sums of the powers and of their supports) — one row-wise product of two sparse matrices per
pair, over all pairs at once; no Python loop over nodes (scipy.sparse, written here because no graph library
ships TC).

ATC (approximated TC). The reference code has no ATC, and the paper's §3.4 text was not available offline
(only its abstract: "propose Approximated Topological Concentration (ATC) … approximating TC and reducing the
computation complexity"; design.md: "propagate random features R̂ = Σ_k α_k Â^k R and average R̂_iᵀR̂_j over
neighbours, O(K|E|d)"). So we take the form whose expectation *is* TC's numerator, divided by TC's own
normaliser:

    R ∈ R^{n×d}, R_{vc} ~ N(0, 1/d) i.i.d.  ⇒  E[R Rᵀ] = I_n;
    R̂ = Σ_{k ≤ K} β^{k−1} A^k R = M R       (A itself, not a normalised Â: A^k counts walks, i.e. multiplicities);
    ATC_i = mean over neighbours j of  R̂_i·R̂_j / (Σ_{k2} β^{k2−1} · Σ_{k1} β^{k1−1} |H_i^{k1}|  [− 1 for Train-TC]),

with |H_i^k| = (A^k 1)_i propagated the same way. E[R̂_i·R̂_j] = (M Mᵀ)_{ij} = Σ_{k1,k2} β^{k1+k2−2} (A^{k1} A^{k2})_{ij}
= ⟨M_i, M_j⟩. At K = 1 this is exactly TC's numerator, |N(i) ∩ N(j)| (A is 0/1); for K ≥ 2 it counts j's
side with multiplicity where TC takes j's multiset as a set (⟨M_i, W_j⟩ above) — the only part an O(K|E|d)
propagation cannot see without forming the supports of A^k. The estimate is unbiased with variance
≈ (‖M_i‖²‖M_j‖² + ⟨M_i, M_j⟩²)/d per pair, so its correlation with TC grows with d, and the mean of s
independent projections (seeds) is the estimate at dimension s·d. Measured on the smoke graph (Train-TC, one
projection): K = 1: r = 0.61 at d = 128, 0.92 at d = 1,024 (0.81 for the mean of 3 projections at d = 128);
K = 2: 0.92 / 0.97; K = 3: 0.74 / 0.77 (there the multiplicity on j's side, not the dimension, limits it).
The earlier form here — D^{-1/2} A D^{-1/2} and cosine of the propagated rows — estimates a degree-normalised
similarity instead, and tracked TC with r = 0.31 on the same graph (K = 1, d = 128).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def adjacency(edges: np.ndarray, num_nodes: int) -> sp.csr_matrix:
    """Symmetric 0/1 CSR adjacency of undirected ``edges`` (E, 2) without self-loops."""
    e = edges[edges[:, 0] != edges[:, 1]]
    a = sp.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                      shape=(num_nodes, num_nodes)).tocsr()
    a.data[:] = 1.0  # duplicates collapse to one edge
    return a


def neighbour_pairs(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of each undirected edge: (i, j) for every neighbour j of every i."""
    return np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]


def _row_dot(a: sp.csr_matrix, b: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray,
             block: int = 512) -> np.ndarray:
    """⟨a[rows_a[p]], b[rows_b[p]]⟩ for every pair p.

    Pairs are grouped by their ``a`` row; for a block of distinct ``a`` rows, those rows are made dense
    and each pair's product is a gather at the column indices of its (sparse) ``b`` row — O(Σ nnz(b_j))
    work, bounded memory, and no loop over single nodes (scipy's sparse∘sparse row products are
    several times slower here: they merge two index lists per pair).
    """
    order = np.argsort(rows_a, kind="stable")
    ra, rb = rows_a[order], rows_b[order]
    out = np.empty(len(ra))
    uniq, first = np.unique(ra, return_index=True)
    first = np.r_[first, len(ra)]
    for s in range(0, len(uniq), block):
        rows = uniq[s:s + block]
        p0, p1 = first[s], first[min(s + block, len(uniq))]
        dense = a[rows].toarray()
        local = np.searchsorted(rows, ra[p0:p1])
        sub = b[rb[p0:p1]]
        counts = np.diff(sub.indptr)
        vals = dense[np.repeat(local, counts), sub.indices] * sub.data
        out[p0:p1] = np.bincount(np.repeat(np.arange(p1 - p0), counts), weights=vals, minlength=p1 - p0)
    result = np.empty_like(out)
    result[order] = out
    return result


def _mean_over_neighbours(i: np.ndarray, pair_values: np.ndarray, defined: np.ndarray, num_nodes: int) -> np.ndarray:
    """Per node, the mean of ``pair_values`` over its pairs (i, ·); NaN for nodes without pairs or not ``defined``."""
    total = np.bincount(i, weights=pair_values, minlength=num_nodes)
    count = np.bincount(i, minlength=num_nodes)
    out = np.full(num_nodes, np.nan)
    ok = (count > 0) & defined
    out[ok] = total[ok] / count[ok]
    return out


def tc_scores(train_edges: np.ndarray, num_nodes: int, target_edges: dict[str, np.ndarray], K: int = 1,
              beta: float | None = None) -> dict[str, np.ndarray]:
    """Per-node TC for each named neighbour set (e.g. {"train": …, "test": …}); NaN where undefined.

    Undefined (NaN): a node without neighbours in that set, or without training neighbours (Train-TC
    needs at least 2, as in the reference).
    """
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    a = adjacency(train_edges, num_nodes)
    deg = np.asarray(a.sum(1)).ravel()
    if beta is None:
        beta = 1.0 / deg[deg > 0].mean() if (deg > 0).any() else 1.0
    powers = [a]
    for _ in range(K - 1):
        powers.append((powers[-1] @ a).tocsr())
    sizes = [np.asarray(p.sum(1)).ravel() for p in powers]  # |H_i^k|
    # the double sum is bilinear: Σ_{k1,k2} β^{k1+k2−2} ⟨A^{k1}_i, S^{k2}_j⟩ = ⟨M_i, W_j⟩ with
    # M = Σ_k β^{k−1} A^k (counts) and W = Σ_k β^{k−1} 1[A^k > 0] (supports): one row product per pair
    m = sum(beta ** (k - 1) * powers[k - 1] for k in range(1, K + 1)).tocsr()
    w = sum(beta ** (k - 1) * (powers[k - 1] > 0).astype(np.float64) for k in range(1, K + 1)).tocsr()
    wsum = sum(beta ** (k2 - 1) for k2 in range(1, K + 1))
    denom = wsum * sum(beta ** (k1 - 1) * sizes[k1 - 1] for k1 in range(1, K + 1))
    out = {}
    for name, edges in target_edges.items():
        i, j = neighbour_pairs(edges)
        num = _row_dot(m, w, i, j)
        d = denom[i] - (1.0 if name == "train" else 0.0)  # (1,1) term: |H_i^1| − 1 for Train-TC
        with np.errstate(invalid="ignore", divide="ignore"):
            pair = np.where(d > 0, num / d, np.nan)
        out[name] = _mean_over_neighbours(i, np.nan_to_num(pair), deg >= (2 if name == "train" else 1), num_nodes)
    return out


def atc_scores(train_edges: np.ndarray, num_nodes: int, target_edges: dict[str, np.ndarray], K: int = 1,
               dim: int = 64, beta: float | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-node ATC (see the module docstring) for each named neighbour set; NaN where TC is undefined.

    O(K·|E|·d) to propagate, O(P·d) for the P neighbour pairs; the same β and normaliser as :func:`tc_scores`.
    """
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    a = adjacency(train_edges, num_nodes)
    deg = np.asarray(a.sum(1)).ravel()
    if beta is None:
        beta = 1.0 / deg[deg > 0].mean() if (deg > 0).any() else 1.0
    r = np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(dim), (num_nodes, dim))
    h, acc = r, np.zeros_like(r)
    walks, sizes = np.ones(num_nodes), np.zeros(num_nodes)  # (A^k 1)_i = |H_i^k|
    for k in range(1, K + 1):
        h = a @ h
        walks = a @ walks
        acc += beta ** (k - 1) * h
        sizes += beta ** (k - 1) * walks
    denom = sum(beta ** (k2 - 1) for k2 in range(1, K + 1)) * sizes
    out = {}
    for name, edges in target_edges.items():
        i, j = neighbour_pairs(edges)
        num = np.einsum("pd,pd->p", acc[i], acc[j])
        d = denom[i] - (1.0 if name == "train" else 0.0)  # as TC: |H_i^1| − 1 in the (1,1) term for Train-TC
        with np.errstate(invalid="ignore", divide="ignore"):
            pair = np.where(d > 0, num / d, np.nan)
        out[name] = _mean_over_neighbours(i, np.nan_to_num(pair), deg >= (2 if name == "train" else 1), num_nodes)
    return out


def clustering(train_edges: np.ndarray, num_nodes: int) -> np.ndarray:
    """Local clustering coefficient: triangles through i / (d_i (d_i − 1) / 2); 0 for degree < 2."""
    a = adjacency(train_edges, num_nodes)
    deg = np.asarray(a.sum(1)).ravel()
    tri = np.asarray((a @ a).multiply(a).sum(1)).ravel() / 2.0
    pairs = deg * (deg - 1) / 2.0
    return np.divide(tri, pairs, out=np.zeros(num_nodes), where=pairs > 0)
