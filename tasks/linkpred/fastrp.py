"""FastRP (Chen et al., CIKM 2019, arXiv 1908.11512): node embeddings by very sparse random projection of
the powers of the normalised adjacency — no training.

    P = D⁻¹ A;   R ∈ R^{n×d} with entries √s · {+1 w.p. 1/2s, 0 w.p. 1 − 1/s, −1 w.p. 1/2s}, s = √n
    N_1 = P · diag(deg^β) · R;   N_k = P · N_{k−1};   embedding = Σ_k a_k · N_k
Each N_k is normalised before the weighted sum (the paper normalises each power's rows; ``normalise``
picks rows or columns-standardised), so that the weights a_k compare like with like.

The DeepWalk peer (Perozzi et al. 2014): uniform random walks + skip-gram (gensim's Word2Vec).
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
           projection: str = "sparse", normalise: str = "rows", seed: int = 0) -> np.ndarray:
    """FastRP embeddings (num_nodes, dim) of the graph ``edges``; ``weights`` = (a_1, …, a_K)."""
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
            emb += w * _normalise(cur, normalise)
    return emb.astype(np.float32)


def _normalise(m: np.ndarray, how: str) -> np.ndarray:
    if how == "rows":
        n = np.linalg.norm(m, axis=1, keepdims=True)
        return np.divide(m, n, out=np.zeros_like(m), where=n > 0)
    if how == "columns":
        sd = m.std(0, keepdims=True)
        return np.divide(m - m.mean(0, keepdims=True), sd, out=np.zeros_like(m), where=sd > 0)
    raise ValueError(f"unknown normalisation {how!r}; expected 'rows' or 'columns'")


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


def deepwalk(edges: np.ndarray, num_nodes: int, dim: int = 128, walks_per_node: int = 10, length: int = 40,
             window: int = 5, epochs: int = 1, workers: int = 2, seed: int = 0) -> np.ndarray:
    """DeepWalk embeddings: random walks + gensim skip-gram (negative sampling)."""
    from gensim.models import Word2Vec

    walks = random_walks(edges, num_nodes, walks_per_node, length, seed)
    sentences = [list(map(str, w)) for w in walks.tolist()]
    model = Word2Vec(sentences, vector_size=dim, window=window, min_count=0, sg=1, negative=5, workers=workers,
                     epochs=epochs, seed=seed)
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
