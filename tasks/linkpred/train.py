"""Stage ``train``: every run of ``<profile>.train.runs`` (GCN, SAGE, GCN with TC-guided re-weighting), each with
``seeds`` seeds (the global seed + 0, 1, …), through LightningCLI — ``configs/gcn.yaml``, the profile's ``config``
and the run's own configuration layered on top — keeping the best-validation checkpoint (the authors' code does);
then its test metrics: overall Hits@K / MRR / AUC against the fixed negatives, and per-node Hits@k / Recall@k /
NDCG@k from ranking all nodes (k: section ``evaluate``'s, the cut-off the analyses read). The common-neighbours
heuristic is scored the same way on the same split, as a reference row (no training).

Writes ``data/linkpred/train/<run>/seed<s>/{model.pt, metrics.json, per_node.npz, scores.npz, logs/}``
(``model.pt``: ``edgerepro.linkpred``; ``scores.npz``: the scores of the test edges and of the fixed negatives,
the per-item results the evaluation bootstraps), ``common_neighbours/{metrics.json, per_node.npz, scores.npz}`` and
``summary.json``; all runs or none. An interrupted stage resumes from the last epoch of the run and seed it was in
when rerun (checkpoints in ``data/linkpred/.resume/train/<run>.seed<s>/``, removed when the stage completes).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from common.stage import Field, StageId, StageParams, load_params, main
from common.training.config import LightningConfig, check_variant_names

SID = StageId("linkpred", "train")
CONFIGS = [Path("tasks/linkpred/configs/gcn.yaml")]
GRAPH = "data/linkpred/prepare/graph.npz"


class Params(StageParams):
    config: LightningConfig = Field(default_factory=LightningConfig,
                                    description="LightningCLI configuration layered over configs/gcn.yaml "
                                                "(see `python -m tasks.linkpred fit --help`)")
    runs: dict[str, LightningConfig] = Field(min_length=1, description="run name → configuration merged over "
                                             "`config` (encoder, split, re-weighting γ …)")
    seeds: int = Field(3, ge=1, description="seeds each run is trained with (global seed + 0, 1, …): the training "
                                            "noise of every comparison")

    @field_validator("runs")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, what="run")


def test_metrics(module, dm, graph: dict, split: str, k: int) -> tuple[dict, dict, dict]:
    """(overall metrics, per-node metrics, per-item scores {pos, neg}) of a trained module on ``split``'s test edges."""
    import numpy as np
    import torch

    from tasks.linkpred.data import split_edges_of
    from tasks.linkpred.metrics import overall_metrics, per_node_metrics

    module.eval()
    batch = dm.batch
    with torch.no_grad():
        h = module.embed(batch)
        test = torch.from_numpy(split_edges_of(graph, split, "test")).t()
        neg = torch.from_numpy(graph[f"{split}_neg_test"]).t()
        pos_s, neg_s = module.score_pairs(batch, test, h), module.score_pairs(batch, neg, h)
        overall = overall_metrics(pos_s, neg_s)

        def score_fn(nodes):
            return module.model.predictor.score_all(h[nodes], h)

        per = per_node_metrics(score_fn, graph["num_nodes"], split_edges_of(graph, split, "test"),
                               [split_edges_of(graph, split, "train"), split_edges_of(graph, split, "val")], k=k,
                               chunk=32)
    overall.update({f"node_{m}@{k}_mean": float(np.nanmean(v)) for m, v in per.items()})
    return overall, per, {"pos": pos_s.numpy().astype(np.float64), "neg": neg_s.numpy().astype(np.float64)}


def _save_npz(path: Path, arrays: dict) -> None:
    import io

    import numpy as np

    from common.io import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def common_neighbours_reference(graph: dict, k: int, out_dir: Path, split: str = "random") -> dict:
    """The common-neighbours heuristic scored like the GNNs (same test edges, negatives, per-node ranking)."""
    import numpy as np
    import torch

    from common.io import atomic_write_json
    from tasks.linkpred.data import split_edges_of
    from tasks.linkpred.heuristics import common_neighbours
    from tasks.linkpred.metrics import overall_metrics, per_node_metrics

    train = split_edges_of(graph, split, "train")
    cn = common_neighbours(train, graph["num_nodes"])
    pos = cn.pair_scores(split_edges_of(graph, split, "test"))
    neg = cn.pair_scores(graph[f"{split}_neg_test"])
    overall = overall_metrics(torch.from_numpy(pos), torch.from_numpy(neg))
    per = per_node_metrics(cn.score_fn, graph["num_nodes"], split_edges_of(graph, split, "test"),
                           [train, split_edges_of(graph, split, "val")], k=k)
    overall.update({f"node_{m}@{k}_mean": float(np.nanmean(v)) for m, v in per.items()})
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_npz(out_dir / "per_node.npz", per)
    _save_npz(out_dir / "scores.npz", {"pos": np.asarray(pos, np.float64), "neg": np.asarray(neg, np.float64)})
    rec = {"run": "common_neighbours", "split": split, "seed": None, "test": overall}
    atomic_write_json(out_dir / "metrics.json", rec)
    print(f"common_neighbours: {overall}")
    return rec


def train_run(name: str, over: LightningConfig, out_dir: Path, params: Params, graph: dict, k: int,
              graph_path: str = GRAPH, seed_index: int = 0) -> dict:
    """Fit run ``name`` (its configuration ``over`` merged over the stage's) with seed ``params.seed + seed_index``,
    keep its best-validation weights, and test it, into ``out_dir``."""
    from common.io import atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.linkpred.__main__ import CLASSES
    from tasks.linkpred.__main__ import main as cli_main
    from tasks.linkpred.module import save_model

    seed = params.seed + seed_index
    config = params.config.merged(over, {"data": {"graph": graph_path}})
    cli, fit_metrics = fit_and_validate(
        lambda a: cli_main(a, run=False), CONFIGS, config, out_dir / "logs",
        scratch=scratch_dir(StageId(SID.task, f"{SID.section}.{name}.seed{seed_index}"), params, CONFIGS,
                            extra=f"{name}/{seed}"),
        seed=seed, where=(SID.params_file, [params.profile, *SID.section.split(".")]), classes=CLASSES,
        restore_best=True)
    module, dm = cli.model, cli.datamodule
    # what was trained, read from the trained objects
    trained = {"split": dm.split, "encoder": module.model.encoder.kind, "reweight_gamma": float(dm.reweight_gamma)}
    overall, per, scores = test_metrics(module, dm, graph, dm.split, k)
    save_model(out_dir / "model.pt", module, run=name, seed=seed, **trained)
    _save_npz(out_dir / "per_node.npz", per)
    _save_npz(out_dir / "scores.npz", scores)
    rec = {"run": name, "seed": seed, **trained, "fit": fit_metrics, "test": overall}
    atomic_write_json(out_dir / "metrics.json", rec)
    print(f"{name} (seed {seed}): {overall}")
    return rec


def run(params: Params, out_dir: Path, graph_path: str = GRAPH) -> dict:
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import check_variants, clear_scratch
    from tasks.linkpred.__main__ import CLASSES
    from tasks.linkpred.data import load_graph
    from tasks.linkpred.evaluate import Params as EvaluateParams

    k = load_params(EvaluateParams, StageId("linkpred", "evaluate")).k  # the per-node cut-off the analyses read
    # every run's LightningCLI keys checked before the first one trains
    check_variants(params.runs, CLASSES, (SID.params_file, [params.profile, *SID.section.split(".")]), field="runs")
    graph = load_graph(graph_path)
    with atomic_dir(out_dir) as tmp:
        # every run and seed lands in the stage's temporary folder (all or none), summary.json beside them
        summary = {"seeds": params.seeds, "runs": {}, "reference": {}}
        for name, over in params.runs.items():
            summary["runs"][name] = [train_run(name, over, tmp / name / f"seed{s}", params, graph, k, graph_path, s)
                                     for s in range(params.seeds)]
        summary["reference"]["common_neighbours"] = common_neighbours_reference(graph, k, tmp / "common_neighbours")
        atomic_write_json(tmp / "summary.json", summary)
    clear_scratch(SID)
    return summary


if __name__ == "__main__":
    main(__spec__.name, Params, run)
