"""FastRP (Chen et al., CIKM 2019, arXiv 1908.11512): node embeddings by very sparse random projection of
the powers of the normalised adjacency — no training.

    P = D⁻¹ A;   R ∈ R^{n×d} with entries √s · {+1 w.p. 1/2s, 0 w.p. 1 − 1/s, −1 w.p. 1/2s}, s = √n
    N_1 = P · diag(deg^β) · R;   N_k = P · N_{k−1};   embedding = standardise_columns(Σ_k a_k · N_k)

(the paper's Algorithm 1 is the weighted sum; the authors' code, GTmac/FastRP ``fastrp_merge``, then
standardises each column to zero mean and unit variance — sklearn's ``scale`` — and has an option, off in its
published configurations, to L2-normalise each power's rows before the sum: ``normalise="rows"`` here).
Link prediction scores a pair by the cosine of its two embeddings, as the authors' link-prediction notebooks do.

The DeepWalk peer (Perozzi et al., KDD 2014): uniform random walks + skip-gram with *hierarchical softmax*
(the paper's §4.2.2; gensim's ``hs=1, negative=0``), learning rate 0.025 decaying linearly, one pass over the
walks. gensim's default negative sampling is not DeepWalk: with it the vectors share a large common direction
(mean cosine of random pairs ≈ 0.35 here) and the cosine link score was at chance (AUC 0.52) on the smoke graph.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tasks.linkpred.tc import adjacency


def sparse_projection(n: int, dim: int, rng, s: float | None = None, kind: str = "sparse") -> sp.csr_matrix | np.ndarray:
    """Achlioptas/Li very sparse random projection (``kind="sparse"``, s = √n) or Gaussian (ablation)."""
    if kind == "gaussian":
        return rng.normal(0.0, 1.0, (n, dim))
    if kind != "sparse":
        raise ValueError(f"unknown projection {kind!r}; expected 'sparse' or 'gaussian'")
    s = float(s or np.sqrt(n))
    u = rng.random((n, dim))
    vals = np.where(u < 1 / (2 * s), np.sqrt(s), np.where(u < 1 / s, -np.sqrt(s), 0.0))
    return sp.csr_matrix(vals)


def fastrp(edges: np.ndarray, num_nodes: int, dim: int = 128, weights=(0.0, 1.0, 1.0, 1.0), beta: float = -0.5,
           projection: str = "sparse", normalise: str = "none", seed: int = 0) -> np.ndarray:
    """FastRP embeddings (num_nodes, dim) of the graph ``edges``; ``weights`` = (a_1, …, a_K).

    ``normalise``: ``"none"`` (the paper's weighted sum of the powers) or ``"rows"`` (each power's rows
    L2-normalised first, the authors' code's option); the sum is column-standardised either way.
    """
    if normalise not in ("none", "rows"):
        raise ValueError(f"unknown normalisation {normalise!r}; expected 'none' or 'rows'")
    if len(weights) < 1:
        raise ValueError("weights must give at least a_1")
    rng = np.random.default_rng(seed)
    a = adjacency(edges, num_nodes)
    deg = np.asarray(a.sum(1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros(num_nodes), where=deg > 0)
    p = (sp.diags(inv) @ a).tocsr()
    r = sparse_projection(num_nodes, dim, rng, kind=projection)
    scale = np.power(np.maximum(deg, 1.0), beta) * (deg > 0)
    cur = p @ (sp.diags(scale) @ r)
    cur = cur.toarray() if sp.issparse(cur) else np.asarray(cur)
    emb = np.zeros((num_nodes, dim))
    for k, w in enumerate(weights):
        if k > 0:
            cur = p @ cur
        if w:
            emb += w * (_unit_rows(cur) if normalise == "rows" else cur)
    return _standardise_columns(emb).astype(np.float32)


def _unit_rows(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def _standardise_columns(m: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (sklearn.preprocessing.scale; a constant column becomes 0)."""
    sd = m.std(0, keepdims=True)
    return np.divide(m - m.mean(0, keepdims=True), sd, out=np.zeros_like(m), where=sd > 0)


def random_walks(edges: np.ndarray, num_nodes: int, walks_per_node: int, length: int, seed: int) -> np.ndarray:
    """Uniform random walks (walks_per_node · n, length), vectorised over all walkers; a walker on a node
    without neighbours stays there."""
    rng = np.random.default_rng(seed)
    a = adjacency(edges, num_nodes)
    indptr, indices = a.indptr, a.indices
    deg = np.diff(indptr)
    cur = np.tile(np.arange(num_nodes), walks_per_node)
    rng.shuffle(cur)
    walks = np.empty((len(cur), length), dtype=np.int64)
    walks[:, 0] = cur
    for t in range(1, length):
        d = deg[cur]
        step = indptr[cur] + (rng.random(len(cur)) * np.maximum(d, 1)).astype(np.int64)
        cur = np.where(d > 0, indices[np.minimum(step, len(indices) - 1)], cur)
        walks[:, t] = cur
    return walks


def _stable_hash(text: str) -> int:
    """gensim seeds each word's initial vector with ``hashfxn(word + str(seed))``; Python's ``hash`` of a str
    changes with PYTHONHASHSEED, this does not."""
    import zlib

    return zlib.crc32(text.encode())


def deepwalk(edges: np.ndarray, num_nodes: int, dim: int = 128, walks_per_node: int = 10, length: int = 40,
             window: int = 5, epochs: int = 1, workers: int = 2, seed: int = 0) -> np.ndarray:
    """DeepWalk embeddings: uniform random walks + gensim skip-gram with hierarchical softmax (the paper's).

    Row i is the vector of the token ``str(i)``; a node no walk visits (none: every node starts walks) would keep a
    zero row. With ``workers > 1`` gensim's threads make the result vary from run to run; ``workers=1`` repeats it.
    """
    from gensim.models import Word2Vec

    walks = random_walks(edges, num_nodes, walks_per_node, length, seed)
    sentences = [list(map(str, w)) for w in walks.tolist()]
    model = Word2Vec(sentences, vector_size=dim, window=window, min_count=0, sg=1, hs=1, negative=0,
                     alpha=0.025, min_alpha=0.0001, sample=0, workers=workers, epochs=epochs, seed=seed,
                     hashfxn=_stable_hash)
    emb = np.zeros((num_nodes, dim), dtype=np.float32)
    for i in range(num_nodes):
        key = str(i)
        if key in model.wv:
            emb[i] = model.wv[key]
    return emb


def embedding_scores(emb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair's embeddings (the link score of an untrained embedding)."""
    n = np.linalg.norm(emb, axis=1, keepdims=True)
    e = np.divide(emb, n, out=np.zeros_like(emb), where=n > 0)
    return np.einsum("pd,pd->p", e[pairs[:, 0]], e[pairs[:, 1]])
