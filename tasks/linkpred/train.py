"""Stage ``train``: every run of ``<profile>.train.runs`` (GCN, SAGE, GCN with TC-guided re-weighting)
through LightningCLI (``configs/gcn.yaml`` + overrides), then its test metrics: overall Hits@K / MRR /
AUC against the fixed negatives, and per-node Hits@K / Recall@K / NDCG@K from ranking all nodes.

Writes ``data/linkpred/train/<run>/{model.pt, metrics.json, per_node.npz, logs/}`` and ``summary.json``.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, stage_params

CONFIG = Path("tasks/linkpred/configs/gcn.yaml")


def test_metrics(module, dm, graph: dict, split: str, k: int) -> tuple[dict, dict]:
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


def run(params: dict, out_dir: str | Path, graph_path: str = "data/linkpred/prepare/graph.npz") -> dict:
    from common.training.stage import fit_and_validate
    from tasks.linkpred.__main__ import main as cli_main
    from tasks.linkpred.data import load_graph

    graph = load_graph(graph_path)
    summary = {}
    with atomic_dir(out_dir) as tmp:
        for name, spec in params["runs"].items():
            split = spec.get("split", "random")
            overrides = [f"--trainer.max_epochs={params['epochs']}", f"--data.graph={graph_path}",
                         f"--data.split={split}", f"--data.steps_per_epoch={params['steps_per_epoch']}",
                         f"--data.reweight_gamma={spec.get('reweight_gamma', 0.0)}",
                         f"--model.init_args.encoder={spec['encoder']}", f"--model.init_args.eval_k={params['eval_k']}",
                         f"--seed_everything={params['seed']}",
                         f"--trainer.default_root_dir=data/linkpred/runs/{name}"]
            cli, fit_metrics = fit_and_validate(lambda a: cli_main(a, run=False), CONFIG, overrides, tmp / name / "logs",
                                                checkpoints_to=Path("data/linkpred/runs") / name / "checkpoints")
            overall, per = test_metrics(cli.model, cli.datamodule, graph, split, params["k"])
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in cli.model.model.state_dict().items()}, buf)
            atomic_write_bytes(tmp / name / "model.pt", buf.getvalue())
            buf = io.BytesIO()
            np.savez_compressed(buf, **per)
            atomic_write_bytes(tmp / name / "per_node.npz", buf.getvalue())
            rec = {"run": name, "split": split, **spec, "fit": fit_metrics, "test": overall}
            atomic_write_json(tmp / name / "metrics.json", rec)
            summary[name] = rec
            print(f"{name}: {overall}")
        atomic_write_json(tmp / "summary.json", summary)
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.linkpred.train", description=__doc__)
    ap.add_argument("--out", default="data/linkpred/train")
    args = ap.parse_args(argv)
    p = stage_params("linkpred", "train")
    p.setdefault("k", stage_params("linkpred", "evaluate")["k"])
    run(p, args.out)
if __name__ == "__main__":
    main()
