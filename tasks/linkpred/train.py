"""Stage ``train``: every run of ``<profile>.train.runs`` (GCN, SAGE, GCN with TC-guided re-weighting) through
LightningCLI — ``configs/gcn.yaml``, the profile's ``config`` and the run's own configuration layered on top —
then its test metrics: overall Hits@K / MRR / AUC against the fixed negatives, and per-node Hits@k / Recall@k /
NDCG@k from ranking all nodes (k: section ``evaluate``'s, the cut-off the analyses read).

Writes ``data/linkpred/train/<run>/{model.pt, metrics.json, per_node.npz, logs/}`` (``model.pt``:
``edgerepro.linkpred.v1``) and ``summary.json``; all runs or none. An interrupted stage resumes from the last
epoch of the run it was in when rerun (checkpoints in ``data/linkpred/.resume/train/<run>/``, removed when the
stage completes).
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

    @field_validator("runs")
    @classmethod
    def _names(cls, v: dict) -> dict:
        return check_variant_names(v, what="run")


def test_metrics(module, dm, graph: dict, split: str, k: int) -> tuple[dict, dict]:
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
        overall = overall_metrics(module.score_pairs(batch, test, h), module.score_pairs(batch, neg, h))

        def score_fn(nodes):
            return module.model.predictor.score_all(h[nodes], h)

        per = per_node_metrics(score_fn, graph["num_nodes"], split_edges_of(graph, split, "test"),
                               [split_edges_of(graph, split, "train"), split_edges_of(graph, split, "val")], k=k,
                               chunk=32)
    overall.update({f"node_{m}@{k}_mean": float(np.nanmean(v)) for m, v in per.items()})
    return overall, per


def train_run(name: str, over: LightningConfig, out_dir: Path, params: Params, graph: dict, k: int,
              graph_path: str = GRAPH) -> dict:
    """Fit run ``name`` (its configuration ``over`` merged over the stage's) and test it, into ``out_dir``."""
    import io

    import numpy as np

    from common.io import atomic_write_bytes, atomic_write_json
    from common.training.stage import fit_and_validate, scratch_dir
    from tasks.linkpred.__main__ import CLASSES
    from tasks.linkpred.__main__ import main as cli_main
    from tasks.linkpred.module import save_model

    config = params.config.merged(over, {"data": {"graph": graph_path}})
    cli, fit_metrics = fit_and_validate(
        lambda a: cli_main(a, run=False), CONFIGS, config, out_dir / "logs",
        scratch=scratch_dir(StageId(SID.task, f"{SID.section}.{name}"), params, CONFIGS, extra=name),
        seed=params.seed, where=(SID.params_file, [params.profile, *SID.section.split(".")]), classes=CLASSES)
    module, dm = cli.model, cli.datamodule
    # what was trained, read from the trained objects
    trained = {"split": dm.split, "encoder": module.model.encoder.kind, "reweight_gamma": float(dm.reweight_gamma)}
    overall, per = test_metrics(module, dm, graph, dm.split, k)
    save_model(out_dir / "model.pt", module, run=name, **trained)
    buf = io.BytesIO()
    np.savez_compressed(buf, **per)
    atomic_write_bytes(out_dir / "per_node.npz", buf.getvalue())
    rec = {"run": name, **trained, "fit": fit_metrics, "test": overall}
    atomic_write_json(out_dir / "metrics.json", rec)
    print(f"{name}: {overall}")
    return rec


def run(params: Params, out_dir: Path, graph_path: str = GRAPH) -> dict:
    from common.io import atomic_dir, atomic_write_json
    from common.training.stage import clear_scratch
    from common.training.variants import train_variants
    from tasks.linkpred.data import load_graph
    from tasks.linkpred.evaluate import Params as EvaluateParams

    k = load_params(EvaluateParams, StageId("linkpred", "evaluate")).k  # the per-node cut-off the analyses read
    graph = load_graph(graph_path)
    with atomic_dir(out_dir) as tmp:
        # the runs land in the stage's temporary folder (all or none), summary.json beside them: one output
        summary = train_variants(tmp, params.runs,
                                 lambda name, over, d: train_run(name, over, d, params, graph, k, graph_path))
        atomic_write_json(tmp / "summary.json", summary)
    clear_scratch(SID)
    return summary


if __name__ == "__main__":
    main(__spec__.name, Params, run)
