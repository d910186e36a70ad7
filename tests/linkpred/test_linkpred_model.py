"""The link predictor, its metrics and FastRP on small inputs."""
import numpy as np
import pytest
import torch

from tasks.linkpred.fastrp import deepwalk, fastrp, random_walks, sparse_projection
from tasks.linkpred.metrics import overall_metrics, per_node_metrics
from tasks.linkpred.module import Predictor, concentration_weights


def test_score_all_equals_pairwise_forward():
    torch.manual_seed(0)
    p, h = Predictor(16, 3), torch.randn(20, 16)
    q = torch.tensor([0, 5, 7])
    pair = p(h[q][:, None, :].expand(-1, 20, -1), h[None].expand(3, -1, -1))
    assert torch.allclose(p.score_all(h[q], h), pair, atol=1e-5)


def test_overall_metrics_golden():
    pos, neg = torch.tensor([0.9, 0.5, 0.1]), torch.tensor([0.8, 0.4, 0.3, 0.2])
    m = overall_metrics(pos, neg, ks=(2,))
    assert m["hits@2"] == pytest.approx(2 / 3)  # 0.9 and 0.5 beat the 2nd-best negative (0.4)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)
    assert m["auc"] == pytest.approx((4 + 3 + 0) / 12)


def test_per_node_metrics_perfect_and_masked():
    n = 6
    target = np.array([[0, 1], [0, 2]])
    train = np.array([[0, 3]])
    # node 0 scores 1 and 2 highest after masking itself and its training neighbour 3 (scored highest)
    scores = torch.tensor([[9.0, 5.0, 4.0, 10.0, 1.0, 0.0]] + [[0.0] * n] * (n - 1))

    def score_fn(nodes):
        return scores[nodes]

    out = per_node_metrics(score_fn, n, target, [train], k=2)
    assert out["hits"][0] == 1.0 and out["recall"][0] == 1.0 and out["ndcg"][0] == pytest.approx(1.0)
    assert np.isnan(out["ndcg"][4])  # no test neighbour


def test_concentration_weights():
    ei = torch.tensor([[0, 1, 1, 2, 0, 2], [1, 0, 2, 1, 2, 0]])  # a triangle, both directions
    w = concentration_weights(ei, 3, gamma=1.0)
    assert torch.allclose(w, torch.full((6,), 1.5))  # each u shares 1 of its 2 neighbours with i


def test_sparse_projection_density():
    r = sparse_projection(400, 64, np.random.default_rng(0))
    s = np.sqrt(400)
    assert abs(r.nnz / (400 * 64) - 1 / s) < 0.01 and set(np.unique(r.data)) <= {-np.sqrt(s), np.sqrt(s)}


def test_fastrp_separates_communities_and_walks_follow_edges():
    rng = np.random.default_rng(0)
    a = [(i, j) for i in range(20) for j in range(i + 1, 20) if rng.random() < 0.5]
    b = [(i + 20, j + 20) for i, j in a]
    e = np.array(a + b + [(0, 20)])
    emb = fastrp(e, 40, dim=32, weights=(1.0, 1.0))
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = emb @ emb.T
    assert sim[:20, :20].mean() > sim[:20, 20:].mean() + 0.2
    w = random_walks(e, 40, 2, 6, 0)
    adj = set(map(tuple, e.tolist())) | {(v, u) for u, v in e.tolist()}
    assert all((int(x), int(y)) in adj for walk in w for x, y in zip(walk[:-1], walk[1:]))
    assert deepwalk(e, 40, dim=8, walks_per_node=2, length=5, window=2).shape == (40, 8)
