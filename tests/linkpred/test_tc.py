"""TC equals its definition (computation-tree multisets built by enumerating walks); ATC is an unbiased estimate of
its numerator; the concentration stage writes every signal it promises."""
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


def exact_atc_expectation(train, n, target, K, beta, train_set: bool):
    """E[ATC] by dense algebra: mean over neighbours of ⟨M_i, M_j⟩ / TC's normaliser, M = Σ_k β^(k−1) A^k."""
    a = adjacency(train, n).toarray()
    powers = [np.linalg.matrix_power(a, k) for k in range(1, K + 1)]
    m = sum(beta ** (k - 1) * p for k, p in enumerate(powers, start=1))
    sizes = sum(beta ** (k - 1) * p.sum(1) for k, p in enumerate(powers, start=1))
    denom = sum(beta ** (k - 1) for k in range(1, K + 1)) * sizes - (1.0 if train_set else 0.0)
    nbrs = {u: [] for u in range(n)}
    for u, v in target:
        nbrs[u].append(v)
        nbrs[v].append(u)
    deg = a.sum(1)
    out = np.full(n, np.nan)
    for i in range(n):
        if nbrs[i] and deg[i] >= (2 if train_set else 1):
            out[i] = np.mean([m[i] @ m[j] / denom[i] for j in nbrs[i]])
    return out


@pytest.mark.parametrize("K", [1, 2])
def test_atc_estimates_its_expectation_and_equals_tc_at_one_hop(K):
    train, test, n = small_graph()
    deg = np.bincount(train.ravel(), minlength=n)
    beta = 1.0 / deg[deg > 0].mean()
    targets = {"train": train, "test": test}
    tc = tc_scores(train, n, targets, K=K)
    # the mean of independent projections is the estimate at a larger dimension: 8 × 4,000 ≈ 32,000
    atc = {p: np.mean([atc_scores(train, n, targets, K=K, dim=4000, seed=s)[p] for s in range(8)], axis=0)
           for p in targets}
    for p, target in targets.items():
        want = exact_atc_expectation(train, n, target.tolist(), K, beta, p == "train")
        ok = ~np.isnan(want)
        np.testing.assert_array_equal(np.isnan(atc[p]), ~ok)  # undefined exactly where TC is
        assert np.corrcoef(atc[p][ok], want[ok])[0, 1] > 0.95
        np.testing.assert_allclose(atc[p][ok], want[ok], atol=0.05)
        if K == 1:  # one hop: E[R̂_i·R̂_j] = |N(i) ∩ N(j)|, TC's numerator itself
            np.testing.assert_allclose(want[ok], tc[p][ok], rtol=1e-12)
            assert np.corrcoef(atc[p][ok], tc[p][ok])[0, 1] > 0.95


def test_atc_is_reproducible_per_seed_and_validates_its_arguments():
    train, test, n = small_graph()
    a = atc_scores(train, n, {"test": test}, dim=16, seed=3)["test"]
    b = atc_scores(train, n, {"test": test}, dim=16, seed=3)["test"]
    c = atc_scores(train, n, {"test": test}, dim=16, seed=4)["test"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(c))
    with pytest.raises(ValueError, match="K must be"):
        atc_scores(train, n, {"test": test}, K=0)
    with pytest.raises(ValueError, match="dim must be"):
        atc_scores(train, n, {"test": test}, dim=0)


def test_concentration_writes_every_signal_and_timing():
    from tasks.linkpred.concentration import Params, atc_key, node_topology
    from tasks.linkpred.data import make_splits, synthetic_growing_graph

    g = synthetic_growing_graph(120, 3, 3, 0.5, 0.8, 4, 1.0, seed=0, densify=1.0)
    g.update(make_splits(g, 0, 20))
    out, timing = node_topology(g, "random", [1, 2], [4, 8], atc_seeds=2, seed=5, repeats=3)
    want = {"degree", "clustering"} | {f"tc_{p}_k{K}" for p in ("train", "val", "test") for K in (1, 2)} \
        | {atc_key(p, K, d, s) for p in ("train", "val", "test") for K in (1, 2) for d in (4, 8) for s in (0, 1)}
    assert set(out) == want and all(v.shape == (120,) for v in out.values())
    assert set(timing) == {"tc_k1_s", "tc_k2_s", "atc_k1_d4_s", "atc_k1_d8_s", "atc_k2_d4_s", "atc_k2_d8_s"}
    assert all(len(v) == 3 and min(v) > 0 for v in timing.values())
    # projection s uses seed + s
    train = g["edges"][g["random_train"]]
    again = atc_scores(train, 120, {"val": g["edges"][g["random_val"]]}, K=2, dim=8, seed=6)["val"]
    np.testing.assert_array_equal(out[atc_key("val", 2, 8, 1)], again)
    assert not np.array_equal(np.nan_to_num(out[atc_key("val", 2, 8, 0)]), np.nan_to_num(again))
    # the parameters: at least one dimension, each ≥ 1; seeds and repeats ≥ 1
    ok = {"K": [1], "atc_dims": [64]}
    assert Params.model_validate(ok).atc_seeds == 3 and Params.model_validate(ok).repeats == 3
    for bad in ({"atc_dims": []}, {"atc_dims": [0]}, {"atc_seeds": 0}, {"repeats": 0}):
        with pytest.raises(ValueError):
            Params.model_validate({**ok, **bad})


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
