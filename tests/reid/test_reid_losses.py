"""PCM / feature-relation / embedding-KD losses (common.distill.embedding) and the ReID retrieval metrics."""
import numpy as np
import pytest
import torch

from common.distill.embedding import (EmbeddingHintLoss, FeatureRelationLoss, PCMLoss, energy_rank,
                                      teacher_subspace)
from tasks.reid.metrics import evaluate_pairs, retrieval_metrics


def test_energy_rank_picks_the_smallest_k_reaching_tau():
    s = torch.tensor([3.0, 2.0, 1.0, 1.0, 0.0])  # energies 9, 4, 1, 1, 0 of 15
    assert energy_rank(s, 0.5) == 1  # 9/15 = 0.6
    assert energy_rank(s, 0.6) == 1  # exactly τ counts
    assert energy_rank(s, 0.61) == 2  # 13/15 = 0.867
    assert energy_rank(s, 0.9) == 3  # 14/15 = 0.933
    assert energy_rank(s, 0.99) == 4
    assert energy_rank(s, 1.0) == 4  # the zero component is never needed
    assert energy_rank(torch.zeros(4), 0.9) == 1
    with pytest.raises(ValueError):
        energy_rank(s, 0.0)


def test_adaptive_k_follows_the_teacher_rank():
    g = torch.Generator().manual_seed(0)
    low = torch.randn(64, 2, generator=g) @ torch.randn(2, 32, generator=g)  # rank 2
    _, _, k = teacher_subspace(low, 0.999)
    assert k <= 2
    full = torch.randn(64, 32, generator=g)
    _, _, k_full = teacher_subspace(full, 0.9)
    assert k_full > 16


def test_pcm_golden_value_and_subspace_only():
    # teacher features live on the first two axes, energies 16 and 4 (+ 1 on a third axis)
    t = torch.zeros(2, 3)
    t[0, 0], t[1, 1] = 4.0, 2.0
    t = torch.cat([t, torch.tensor([[0.0, 0.0, 1.0]])])  # s = 4, 2, 1 → energies 16, 4, 1 of 21
    loss = PCMLoss(3, 3, tau=0.9)  # 16/21 = 0.76, 20/21 = 0.95 → k = 2
    with torch.no_grad():
        loss.head.weight.copy_(torch.eye(3))
        loss.head.bias.zero_()
    s = t.clone()
    s[:, 2] += 5.0  # an error outside the kept subspace (axis 3) costs nothing
    assert loss(s, t).item() == pytest.approx(0.0, abs=1e-6) and loss.last_k == 2
    s2 = t.clone()
    s2[0, 0] += 1.0  # inside: ‖(s − t)V_k‖² / (n·k) = 1 / (3·2)
    assert loss(s2, t).item() == pytest.approx(1 / 6, rel=1e-5)
    # τ = 1 keeps every axis: then PCM equals the plain MSE of the mapped features
    full = PCMLoss(3, 3, tau=1.0)
    with torch.no_grad():
        full.head.weight.copy_(torch.eye(3))
        full.head.bias.zero_()
    assert full(s, t).item() == pytest.approx(torch.mean((s - t) ** 2).item(), rel=1e-5)


def test_pcm_equals_the_projection_form_and_trains_the_head():
    # ‖(h(S) − T) V_k‖² / (n·k) = ‖(h(S) − T) P_k‖² / (n·k) with P_k = V_k V_kᵀ: the loss depends on the
    # subspace only, not on the signs / basis the SVD happens to return for it
    g = torch.Generator().manual_seed(1)
    t = torch.randn(16, 8, generator=g)
    s = torch.randn(16, 5, generator=g, requires_grad=True)
    loss = PCMLoss(5, 8, tau=0.8)
    value = loss(s, t)
    u, sv, vt = np.linalg.svd(t.numpy().astype(np.float64), full_matrices=False)
    k = int(np.searchsorted(np.cumsum(sv**2) / np.sum(sv**2), 0.8 - 1e-9) + 1)
    assert loss.last_k == k
    p_k = vt[:k].T @ vt[:k]
    mapped = loss.head(s).detach().numpy().astype(np.float64)
    expect = np.sum(((mapped - t.numpy()) @ p_k) ** 2) / (16 * k)
    assert value.item() == pytest.approx(expect, rel=1e-4)
    value.backward()
    assert s.grad is not None and loss.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        loss(torch.randn(3, 5), torch.randn(4, 8))
    with pytest.raises(ValueError):
        PCMLoss(5, 8, tau=1.5)


def test_feature_relation_golden_value():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # orthogonal: cos 0
    t = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # identical: cos 1
    # matrices [[1,0],[0,1]] vs [[1,1],[1,1]] → two entries differ by 1 → mean 2/4
    assert FeatureRelationLoss()(s, t).item() == pytest.approx(0.5)
    assert FeatureRelationLoss()(t[:, :2] * 3, t).item() == pytest.approx(0.0, abs=1e-7)  # scale-free


def test_embedding_hint_is_mse_after_the_head():
    loss = EmbeddingHintLoss(2, 2, head=False)
    loss.head = torch.nn.Identity()
    assert loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(2.5)


def test_retrieval_metrics_against_hand_computed_rankings():
    # query 0 (pid 1): gallery ranked by distance → pids [1, 2, 1, 3] → positives at ranks 1 and 3
    # AP = (1/1 + 2/3) / 2 = 0.8333; INP = 2 / 3; rank-1 hit
    # query 1 (pid 2): ranked → [1, 3, 2, 1] → positive at rank 3: AP = 1/3, INP = 1/3, rank-1 miss
    g_pids = np.array([1, 2, 1, 3])
    dist = np.array([[0.1, 0.2, 0.3, 0.4],
                     [0.1, 0.3, 0.4, 0.2]])  # query 1's order: g0 (1), g3 (3), g1 (2), g2 (1)
    r = retrieval_metrics(dist, [1, 2], g_pids)
    assert r["rank1"] == pytest.approx(0.5)
    assert r["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 3) / 2)
    assert r["minp"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert r["rank5"] == pytest.approx(1.0) and r["queries"] == 2


def test_junk_rule_and_queries_without_positives():
    g_pids, g_cams = np.array([1, 1, 2]), np.array([0, 1, 0])
    dist = np.array([[0.1, 0.5, 0.3]])
    # the same person from the same camera (g0) is junk: ranking → g2 (2), g1 (1) → AP 1/2, rank-1 miss
    r = retrieval_metrics(dist, [1], g_pids, [0], g_cams)
    assert r["map"] == pytest.approx(0.5) and r["rank1"] == 0.0
    r = retrieval_metrics(dist, [7], g_pids)  # nobody to find: skipped
    assert r["queries"] == 0 and np.isnan(r["map"])


def test_map_agrees_with_torchmetrics():
    from torchmetrics.retrieval import RetrievalMAP

    rng = np.random.default_rng(0)
    q = torch.from_numpy(rng.normal(size=(12, 8))).float()
    g = torch.from_numpy(rng.normal(size=(30, 8))).float()
    qp, gp = rng.integers(0, 5, 12), rng.integers(0, 5, 30)
    feats = torch.cat([q, g])
    pids = np.concatenate([qp, gp])
    mods = np.array([1] * 12 + [0] * 30)
    ours = evaluate_pairs(feats, pids, np.zeros(42, int) + mods, mods, {"q": (1, 0)})["q"]
    sim = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).T
    sim = sim + 2  # torchmetrics counts a positive with a score ≤ 0 as not relevant: shift cosines into (0, 3]
    keep = [i for i in range(12) if (gp == qp[i]).any()]
    tm = RetrievalMAP()(sim[keep].flatten(), torch.from_numpy(gp[None, :] == qp[keep][:, None]).flatten(),
                        indexes=torch.arange(len(keep)).repeat_interleave(30))
    assert ours["map"] == pytest.approx(float(tm), abs=1e-6)
