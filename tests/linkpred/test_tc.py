"""TC equals its definition (computation-tree multisets built by enumerating walks); ATC tracks it."""
from collections import Counter

import numpy as np
import pytest

from tasks.linkpred.tc import adjacency, atc_scores, clustering, tc_scores


def hop_multiset(adj: dict[int, list[int]], i: int, k: int) -> Counter:
    """H_i^k by brute force: the end nodes of every k-step walk from i (the computation tree's level k)."""
    level = [i]
    for _ in range(k):
        level = [v for u in level for v in adj[u]]
    return Counter(level)


def tc_brute(edges_train, n, target, K, beta, train_set: bool):
    adj = {u: [] for u in range(n)}
    for u, v in edges_train:
        adj[u].append(v)
        adj[v].append(u)
    nbrs = {u: [] for u in range(n)}
    for u, v in target:
        nbrs[u].append(v)
        nbrs[v].append(u)
    out = np.full(n, np.nan)
    for i in range(n):
        if not nbrs[i] or len(adj[i]) < (2 if train_set else 1):
            continue
        vals = []
        for j in nbrs[i]:
            num = den = 0.0
            for k1 in range(1, K + 1):
                hi = hop_multiset(adj, i, k1)
                for k2 in range(1, K + 1):
                    hj = hop_multiset(adj, j, k2)
                    w = beta ** (k1 + k2 - 2)
                    num += w * sum(c for v, c in hi.items() if v in hj)
                    size = sum(hi.values()) - (1 if (train_set and k1 == 1 and k2 == 1) else 0)
                    den += w * size
            vals.append(num / den)
        out[i] = np.mean(vals)
    return out


def small_graph(seed=0, n=14, m=30):
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < m:
        u, v = rng.integers(0, n, 2)
        if u != v:
            pairs.add((min(u, v), max(u, v)))
    e = np.array(sorted(pairs))
    perm = rng.permutation(len(e))
    return e[perm[:20]], e[perm[20:]], n


@pytest.mark.parametrize("K", [1, 2, 3])
def test_tc_matches_the_definition_exactly(K):
    train, test, n = small_graph()
    deg = np.bincount(train.ravel(), minlength=n)
    beta = 1.0 / deg[deg > 0].mean()
    got = tc_scores(train, n, {"train": train, "test": test}, K=K)
    for name, target in (("train", train), ("test", test)):
        ref = tc_brute(train.tolist(), n, target.tolist(), K, beta, name == "train")
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(ref))
        np.testing.assert_allclose(got[name][~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12)


def test_tc_extremes():
    # a triangle plus a pendant: a test edge closing a triangle has high TC, one to a stranger has 0
    train = np.array([[0, 1], [1, 2], [3, 4]])
    tc = tc_scores(train, 5, {"test": np.array([[0, 2], [0, 3]])}, K=1)["test"]
    assert tc[2] == pytest.approx(1.0)  # node 2's only test neighbour 0 shares its one neighbour (1)
    assert tc[3] == 0.0 and np.isnan(tc[1])  # no shared neighbour; node 1 has no test edge


def test_clustering_matches_networkx():
    import networkx as nx

    train, _, n = small_graph(1)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(train.tolist())
    ref = np.array([nx.clustering(g, i) for i in range(n)])
    np.testing.assert_allclose(clustering(train, n), ref)


def test_atc_correlates_with_tc_on_a_community_graph():
    from tasks.linkpred.data import make_splits, synthetic_growing_graph

    g = synthetic_growing_graph(600, 4, 4, 0.6, 0.8, 8, 1.0, 0)
    s = make_splits(g, 0, 50)
    train, test = g["edges"][s["random_train"]], g["edges"][s["random_test"]]
    tc = tc_scores(train, 600, {"test": test}, K=2)["test"]
    atc = atc_scores(train, 600, {"test": test}, K=2, dim=256)["test"]
    ok = ~np.isnan(tc) & ~np.isnan(atc)
    assert np.corrcoef(tc[ok], atc[ok])[0, 1] > 0.4


def test_adjacency_symmetric_without_self_loops():
    a = adjacency(np.array([[0, 1], [1, 0], [2, 2]]), 3)
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0 and a.nnz == 2
