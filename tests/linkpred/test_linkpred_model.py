"""The link predictor (features or a learnable node embedding), its metrics, FastRP and DeepWalk on small inputs."""
import random

import numpy as np
import pytest
import torch

from tasks.linkpred.fastrp import deepwalk, embedding_scores, fastrp, random_walks, sparse_projection
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


def test_fastrp_is_the_column_standardised_weighted_sum_of_the_powers():
    rng = np.random.default_rng(1)
    e = np.array(sorted({(min(u, v), max(u, v)) for u, v in rng.integers(0, 30, (90, 2)) if u != v}))
    n, dim, w, beta = 30, 16, (0.5, 1.0, 2.0), -0.5
    a = np.zeros((n, n))
    a[e[:, 0], e[:, 1]] = a[e[:, 1], e[:, 0]] = 1
    deg = a.sum(1)
    p = a / np.where(deg > 0, deg, 1)[:, None]
    r = sparse_projection(n, dim, np.random.default_rng(7)).toarray()  # fastrp's first draw from its generator
    powers = [p @ np.diag(np.where(deg > 0, np.maximum(deg, 1) ** beta, 0)) @ r]
    for _ in w[1:]:
        powers.append(p @ powers[-1])

    def standardise(m):
        return (m - m.mean(0)) / m.std(0)

    want = standardise(sum(wk * nk for wk, nk in zip(w, powers)))
    got = fastrp(e, n, dim=dim, weights=w, beta=beta, seed=7)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(got.std(0), 1, atol=1e-4)
    unit = [nk / np.linalg.norm(nk, axis=1, keepdims=True) for nk in powers]
    np.testing.assert_allclose(fastrp(e, n, dim=dim, weights=w, beta=beta, normalise="rows", seed=7),
                               standardise(sum(wk * uk for wk, uk in zip(w, unit))), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unknown normalisation 'columns'"):
        fastrp(e, n, normalise="columns")


def test_deepwalk_cosine_separates_held_out_edges_from_non_edges():
    from sklearn.metrics import roc_auc_score

    from tasks.linkpred.data import make_splits, synthetic_growing_graph

    # heterogeneous degrees and communities: with skip-gram's negative sampling instead of DeepWalk's hierarchical
    # softmax the vectors share one direction and this AUC falls below 0.5
    g = synthetic_growing_graph(300, 3, 3, 0.5, 0.8, 4, 1.0, seed=0, densify=2.0)
    s = make_splits(g, 0, 300)
    train, test, neg = g["edges"][s["random_train"]], g["edges"][s["random_test"]], s["random_neg_test"]
    emb = deepwalk(train, 300, dim=32, walks_per_node=10, length=20, window=5, workers=1, seed=0)
    again = deepwalk(train, 300, dim=32, walks_per_node=10, length=20, window=5, workers=1, seed=0)
    np.testing.assert_array_equal(emb, again)  # one worker: repeatable, whatever PYTHONHASHSEED
    auc = roc_auc_score(np.r_[np.ones(len(test)), np.zeros(len(neg))],
                        np.r_[embedding_scores(emb, test), embedding_scores(emb, neg)])
    assert auc > 0.6, auc


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    from tasks.linkpred.data import make_splits, save_graph, synthetic_growing_graph

    g = synthetic_growing_graph(60, 2, 3, 0.5, 0.8, 4, 1.0, seed=0, densify=1.0)
    path = tmp_path_factory.mktemp("graph") / "graph.npz"
    save_graph(path, g, make_splits(g, 0, 20))
    return path


@pytest.mark.parametrize("encoder, gamma", [("gcn", 0.0), ("sage", 0.0), ("gcn", 1.0)])
def test_a_learnable_node_embedding_replaces_the_features_and_learns(tiny_graph, tmp_path, encoder, gamma):
    from tasks.linkpred.module import LinkPredDataModule, LinkPredModule, load_model, save_model

    dm = LinkPredDataModule(str(tiny_graph), reweight_gamma=gamma, edge_batch_size=64)
    torch.manual_seed(0)
    module = LinkPredModule(encoder=encoder, in_dim=dm.in_dim, hidden=16, embedding_dim=8, num_nodes=dm.num_nodes,
                            sage_normalize=encoder == "sage")
    batch = dm.batch
    assert (batch["edge_weight"] is not None) == (gamma > 0)  # TC-guided re-weighting reaches the GCN
    assert module.model.embedding.weight.shape == (60, 8) and module.model.encoder.convs[0].in_channels == 8
    h = module.embed(batch)
    assert torch.equal(h, module.embed({**batch, "x": torch.zeros_like(batch["x"])}))  # the features are not read

    def full_loss():  # all training edges against the same sampled negatives (PyG samples with `random`)
        random.seed(1)
        torch.manual_seed(1)
        with torch.no_grad():
            return float(module.task_loss(batch)[0])

    before = full_loss()
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(5):
        for step in dm.train_dataloader():  # 10 steps of 64 training edges each
            loss, _ = module.task_loss(step)
            opt.zero_grad()
            loss.backward()
            assert module.model.embedding.weight.grad.abs().sum() > 0
            opt.step()
    assert full_loss() < 0.7 * before
    # the model file records the embedding and rebuilds the same network
    save_model(tmp_path / "model.pt", module, run=encoder)
    net, ck = load_model(tmp_path / "model.pt")
    assert ck["arch"]["embedding_dim"] == 8 and ck["arch"]["num_nodes"] == 60
    assert ck["arch"]["sage_normalize"] == (encoder == "sage")
    module.eval()
    with torch.no_grad():
        assert torch.allclose(net.encode(batch["x"], batch["edge_index"], batch["edge_weight"]), module.embed(batch))


def test_a_learnable_embedding_needs_the_graph_it_was_built_for(tiny_graph):
    from tasks.linkpred.module import LinkPredDataModule, LinkPredModule

    with pytest.raises(ValueError, match="needs num_nodes >= 1.*data.num_nodes"):
        LinkPredModule(encoder="sage", in_dim=4, embedding_dim=8)
    with pytest.raises(ValueError, match="embedding_dim must be >= 0"):
        LinkPredModule(encoder="sage", in_dim=4, embedding_dim=-1)
    module = LinkPredModule(encoder="sage", in_dim=4, hidden=8, embedding_dim=8, num_nodes=50)
    dm = LinkPredDataModule(str(tiny_graph))
    dm.setup()
    with pytest.raises(ValueError, match="50 rows but the graph has 60 nodes"):
        module.embed(dm.batch)


def test_edge_batches_draw_training_edges(tiny_graph):
    from tasks.linkpred.module import LinkPredDataModule

    full = LinkPredDataModule(str(tiny_graph), steps_per_epoch=3)
    full.setup()
    assert [b["pos"].shape[1] for b in full.train_dataloader()] == [full.batch["pos"].shape[1]] * 3
    dm = LinkPredDataModule(str(tiny_graph), steps_per_epoch=4, edge_batch_size=5)
    dm.setup()
    train = set(map(tuple, dm.batch["pos"].t().tolist()))
    torch.manual_seed(0)
    draws = [b["pos"] for b in dm.train_dataloader()]
    assert len(draws) == 4 and all(d.shape == (2, 5) for d in draws)
    assert all(len(set(map(tuple, d.t().tolist()))) == 5 and set(map(tuple, d.t().tolist())) <= train for d in draws)
    assert not all(torch.equal(draws[0], d) for d in draws[1:])
    assert all(b["edge_index"] is dm.batch["edge_index"] for b in dm.train_dataloader())  # the whole graph encoded
    with pytest.raises(ValueError, match="edge_batch_size"):
        LinkPredDataModule(str(tiny_graph), edge_batch_size=0)


def test_sage_normalize_is_the_sage_layers_l2_normalisation(tmp_path):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.linkpred.module import FORMAT, Encoder, load_model

    torch.manual_seed(0)
    enc = Encoder("sage", 8, 16, sage_normalize=True)
    x, ei = torch.randn(10, 8), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert torch.allclose(enc(x, ei).norm(dim=1), torch.ones(10))
    with pytest.raises(ValueError, match="SAGE encoder only"):
        Encoder("gcn", 8, 16, sage_normalize=True)
    arch = {"encoder": "sage", "in_dim": 8, "hidden": 16, "layers": 1, "predictor_layers": 2, "dropout": 0.0,
            "embedding_dim": 0, "num_nodes": 0}
    for bad in ({**arch, "sage_normalize": "yes"}, {**arch, "sage_normalize": 1},
                {**arch, "encoder": "gcn", "sage_normalize": True}, {**arch, "sage_normalize": False, "num_nodes": True}):
        save_model_file(tmp_path / "m.pt", FORMAT, "linkpred", arch=bad, state_dict={}, meta={})
        with pytest.raises(ModelFileError, match="not a known link-prediction network"):
            load_model(tmp_path / "m.pt")
