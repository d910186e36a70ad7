"""The link-prediction stages' skeleton: parameters refused before any work, and link-prediction model files."""
import pytest
import torch

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, copy_repo, \
    run_with_params


@pytest.mark.parametrize("stage, section, right, wrong, where", [
    ("tasks.linkpred.prepare", "tiny.prepare", "feat_signal", "feat_signl", "{source: synthetic"),
    ("tasks.linkpred.train", "tiny.train", "runs", "rns", "  train:\n    config:"),
    ("tasks.linkpred.concentration", "tiny.concentration", "atc_seeds", "atc_seed", "concentration: {"),
    ("tasks.linkpred.embed", "tiny.embed.deepwalk", "walks_per_node", "walk_per_node", "deepwalk: {"),
    ("tasks.linkpred.evaluate", "tiny.evaluate", "poor_fraction", "poor_frac", "evaluate: {"),
])
def test_a_misspelt_key_is_refused_with_file_section_key_and_suggestion(
        module_repo, stage, section, right, wrong, where):
    # `where` opens the first such section: the tiny profile's
    assert_misspelt_key_refused(module_repo, "linkpred", f"{right}:", f"{wrong}:", [stage], f"`{section}.{wrong}`",
                                f"did you mean `{right}`?", after=where)


def test_evaluate_refuses_a_tc_hop_count_that_concentration_did_not_compute(module_repo):
    out = run_with_params(module_repo, "linkpred", "evaluate: {k: 10, k_tc: 1,", "evaluate: {k: 10, k_tc: 5,",
                          "tasks.linkpred.evaluate")
    assert out.returncode == 2, out.stderr
    assert "`tiny.evaluate.k_tc`" in out.stderr and "`tiny.concentration.K`" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tasks.linkpred.module import LinkPredModule, save_model

    torch.manual_seed(0)
    module = LinkPredModule(encoder="sage", in_dim=8, hidden=16, layers=2, predictor_layers=3)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, module, run="sage", split="random")
    return path, module


def test_a_model_file_round_trips(model_file):
    from tasks.linkpred.module import load_model

    path, module = model_file
    net, ck = load_model(path)
    assert ck["arch"] == {"encoder": "sage", "in_dim": 8, "hidden": 16, "layers": 2, "predictor_layers": 3,
                          "dropout": 0.0, "embedding_dim": 0, "num_nodes": 0, "sage_normalize": False}
    assert ck["meta"] == {"run": "sage", "split": "random"} and not net.training
    want = module.model.state_dict()
    assert all(torch.equal(want[k], v) for k, v in net.state_dict().items()) and set(want) == set(net.state_dict())


def test_a_damaged_model_file_is_named(model_file, tmp_path):
    from tasks.linkpred.module import load_model

    assert_damaged_model_files_named(load_model, model_file[0], tmp_path)


@pytest.mark.parametrize("arch", [
    {"encoder": "os.system", "in_dim": 8, "hidden": 16, "layers": 1, "predictor_layers": 2, "dropout": 0.0,
     "embedding_dim": 0, "num_nodes": 0, "sage_normalize": False},
    {"encoder": "gcn", "in_dim": "__import__('os')", "hidden": 16, "layers": 1, "predictor_layers": 2, "dropout": 0.0,
     "embedding_dim": 0, "num_nodes": 0, "sage_normalize": False},
    {"encoder": "gcn", "in_dim": 8, "hidden": 16, "layers": 1, "predictor_layers": 2, "dropout": 0.0, "act": 3},
])
def test_a_model_file_builds_only_known_networks_from_plain_values(tmp_path, arch):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.linkpred.module import FORMAT, load_model

    path = tmp_path / "crafted.pt"
    save_model_file(path, FORMAT, "linkpred", arch=arch, state_dict={}, meta={})
    with pytest.raises(ModelFileError, match="not a known link-prediction network"):
        load_model(path)


def test_each_run_trains_its_configuration_and_resumes_on_its_own(monkeypatch, tmp_path):
    """Every run gets the stage's configuration with its own merged over it and the prepared graph, the global seed,
    and its own resume folder."""
    import common.training.stage as training_stage
    from common.stage import StageId, load_params
    from tasks.linkpred import train

    class Stop(Exception):
        pass

    seen = {}

    def fake_fit(cli_main, configs, config, log_dir, scratch=None, seed=None, restore_best=False, **kw):
        assert restore_best  # the best-validation checkpoint is the one tested
        seen[current] = (config.as_dict(), seed, str(scratch))
        raise Stop  # no training: what the run would be given is all this test needs

    monkeypatch.setattr(training_stage, "fit_and_validate", fake_fit)
    monkeypatch.chdir(copy_repo(tmp_path / "repo"))
    params = load_params(train.Params, StageId("linkpred", "train"))
    assert list(params.runs) == ["gcn", "sage", "gcn_reweight"]
    assert params.seeds == 2
    for name, over in params.runs.items():
        for i in range(params.seeds):
            current = (name, i)
            with pytest.raises(Stop):
                train.train_run(name, over, tmp_path / "out" / name / f"seed{i}", params, graph={}, k=10, seed_index=i)
    assert {n: (c["model"]["init_args"]["encoder"], c["data"].get("reweight_gamma")) for (n, i), (c, _, _) in seen.items()
            if i == 0} == {"gcn": ("gcn", None), "sage": ("sage", None), "gcn_reweight": ("gcn", 1.0)}
    assert all(c["data"]["graph"] == train.GRAPH and c["trainer"]["max_epochs"] == 2 and c["data"]["steps_per_epoch"] == 3
               and c["model"]["init_args"]["eval_k"] == 10 and s == i for (_, i), (c, s, _) in seen.items())
    # each run and seed resumes on its own
    assert all(d.startswith(f"data/linkpred/.resume/train/{n}/seed{i}/") for (n, i), (_, _, d) in seen.items())
    assert len({d for _, _, d in seen.values()}) == len(seen) == 6


def test_the_bootstrap_statistics_match_the_metrics_they_resample():
    """On the identity resample, the vectorised statistics of ``evaluate`` equal the reported metrics."""
    import numpy as np
    from sklearn.metrics import f1_score

    from tasks.linkpred.evaluate import macro_f1_on, overall_on, pearson, pearson_rows
    from tasks.linkpred.metrics import overall_metrics

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 300), np.round(rng.normal(0, 1, 500), 1)  # rounded: ties between negatives
    pos[:5] = neg[:5]  # … and between positives and negatives
    ref = overall_metrics(torch.from_numpy(pos), torch.from_numpy(neg), ks=(50,))
    got = overall_on(pos, neg, np.arange(300)[None], np.arange(500)[None], 50)
    assert {m: got[m][0] for m in got} == pytest.approx({m: ref[m] for m in ("hits@50", "mrr", "auc")}, abs=1e-6)
    true, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    idx = rng.integers(0, 200, (3, 200))
    want = [f1_score(true, pred, average="macro", sample_weight=np.bincount(i, minlength=200)) for i in idx]
    assert macro_f1_on(true, pred, idx) == pytest.approx(want)
    x, y = rng.random((2, 50)), rng.random((2, 50))
    assert pearson_rows(x, y) == pytest.approx([pearson(x[0], y[0]), pearson(x[1], y[1])])
