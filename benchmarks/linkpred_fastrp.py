"""FastRP vs DeepWalk, side by side in one run on the same graph and dimension: wall time of computing the
embeddings, link-prediction AUC (cosine score, random 70/10/20 split, fixed negatives) and node
classification macro-F1 (labels = communities). Prints the speed ratio and both accuracies.

    python benchmarks/linkpred_fastrp.py [--nodes 20000] [--dim 128]

Writes ``reports/benchmarks/linkpred_fastrp.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from tasks.linkpred.data import make_splits, synthetic_growing_graph
    from tasks.linkpred.embed import node_classification
    from tasks.linkpred.fastrp import deepwalk, embedding_scores, fastrp
    from tasks.linkpred.metrics import overall_metrics

    ap = argparse.ArgumentParser(prog="python benchmarks/linkpred_fastrp.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--walks", type=int, default=10)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/linkpred_fastrp.json")
    args = ap.parse_args(argv)
    g = synthetic_growing_graph(args.nodes, 8, 3, 0.5, 0.8, 8, 1.0, seed=0, densify=2.0)
    s = make_splits(g, 0, 5000)
    n, train = args.nodes, g["edges"][s["random_train"]]
    test, neg = g["edges"][s["random_test"]], s["random_neg_test"]
    res = {}
    for name, fn in (("fastrp", lambda: fastrp(train, n, dim=args.dim)),
                     ("deepwalk", lambda: deepwalk(train, n, dim=args.dim, walks_per_node=args.walks, length=args.length))):
        t0 = time.perf_counter()
        emb = fn()
        sec = time.perf_counter() - t0
        lp = overall_metrics(torch.from_numpy(embedding_scores(emb, test)), torch.from_numpy(embedding_scores(emb, neg)))
        res[name] = {"seconds": sec, "lp_auc": lp["auc"], "nc_macro_f1": node_classification(emb, g["y"], 0)["macro_f1"]}
        print(f"{name}: {sec:.2f} s, LP AUC {lp['auc']:.3f}, NC macro-F1 {res[name]['nc_macro_f1']:.3f}")
    out = {"nodes": n, "edges": int(len(g["edges"])), "dim": args.dim, "results": res,
           "speedup": res["deepwalk"]["seconds"] / res["fastrp"]["seconds"]}
    out["summary"] = {f"FastRP speed-up over DeepWalk ({n} nodes)": out["speedup"],
                      "LP AUC, FastRP − DeepWalk": res["fastrp"]["lp_auc"] - res["deepwalk"]["lp_auc"],
                      "NC macro-F1, FastRP − DeepWalk": res["fastrp"]["nc_macro_f1"] - res["deepwalk"]["nc_macro_f1"]}
    print(f"speed-up FastRP / DeepWalk = {out['speedup']:.0f}x")
    if args.json:
        from common.io import atomic_write_json

        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
