"""The common-neighbours reference: exact counts on a hand graph, its two scoring forms agree, and it ranks the held-out
neighbours of a community graph far above chance."""
import numpy as np
import pytest
import torch

from tasks.linkpred.heuristics import common_neighbours

# 0—1, 0—2, 1—2 (a triangle), 2—3, 3—4, 1—3; node 5 isolated
HAND = np.array([[0, 1], [0, 2], [1, 2], [2, 3], [3, 4], [1, 3]])


def test_counts_on_a_hand_graph():
    cn = common_neighbours(HAND, 6)
    pairs = np.array([[0, 3], [0, 1], [1, 2], [2, 4], [0, 4], [4, 5], [5, 5], [3, 0]])
    # N(0)={1,2}, N(1)={0,2,3}, N(2)={0,1,3}, N(3)={1,2,4}, N(4)={3}, N(5)={}
    np.testing.assert_array_equal(cn.pair_scores(pairs), [2, 1, 2, 1, 0, 0, 0, 2])
    rows = cn.score_fn(torch.tensor([0, 4]))
    assert rows.dtype == torch.float32 and rows.shape == (2, 6)
    np.testing.assert_array_equal(rows.numpy(), [[2, 1, 1, 2, 0, 0], [0, 1, 1, 0, 1, 0]])


def test_score_rows_equal_pair_scores_and_duplicates_do_not_count_twice():
    rng = np.random.default_rng(0)
    e = rng.integers(0, 30, (80, 2))
    cn = common_neighbours(np.r_[e, e[:, ::-1]], 30)  # each edge listed in both directions
    rows = cn.score_fn(torch.arange(30)).numpy()
    u, v = np.meshgrid(np.arange(30), np.arange(30), indexing="ij")
    np.testing.assert_array_equal(rows.ravel(), cn.pair_scores(np.c_[u.ravel(), v.ravel()]))
    a = np.zeros((30, 30))
    a[e[:, 0], e[:, 1]] = a[e[:, 1], e[:, 0]] = 1
    np.fill_diagonal(a, 0)
    np.testing.assert_array_equal(rows, a @ a)


def test_bad_node_ids_are_refused():
    with pytest.raises(ValueError, match=r"in \[0, 3\]"):
        common_neighbours(HAND, 4)
    with pytest.raises(ValueError, match=r"in \[0, 5\]"):
        common_neighbours(HAND, 6).pair_scores(np.array([[0, 6]]))


def test_ranks_held_out_neighbours_far_above_chance():
    from tasks.linkpred.data import make_splits, synthetic_growing_graph
    from tasks.linkpred.metrics import per_node_metrics

    g = synthetic_growing_graph(200, 3, 3, 0.6, 0.8, 4, 1.0, seed=0, densify=1.0)
    s = make_splits(g, 0, 50)
    train, val, test = (g["edges"][s[f"random_{p}"]] for p in ("train", "val", "test"))
    cn = common_neighbours(train, 200)
    ndcg = np.nanmean(per_node_metrics(cn.score_fn, 200, test, [train, val], k=10)["ndcg"])
    gen = torch.Generator().manual_seed(0)
    chance = np.nanmean(per_node_metrics(lambda nodes: torch.rand(len(nodes), 200, generator=gen), 200, test,
                                         [train, val], k=10)["ndcg"])
    assert ndcg > 3 * chance, (ndcg, chance)
