"""Exact TC vs ATC at scale, side by side in one run: a synthetic growing graph of ``--nodes`` nodes and
about ``--edges`` edges (70 % training), Train-TC and Test-TC at K = ``--k``; prints the wall time of
each, the speed-up of ATC and the correlation of ATC with TC.

    python benchmarks/linkpred_tc.py [--nodes 10000] [--edges 100000] [--k 2]

Writes ``reports/benchmarks/linkpred_tc.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from tasks.linkpred.data import make_splits, synthetic_growing_graph
    from tasks.linkpred.tc import atc_scores, tc_scores

    ap = argparse.ArgumentParser(prog="python benchmarks/linkpred_tc.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--edges", type=int, default=107_500,
                    help="edges asked of the generator (~7 %% are repeats it skips: the default gives ~100k)")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--atc-dim", type=int, default=128)
    ap.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/linkpred_tc.json")
    args = ap.parse_args(argv)
    per_node = args.edges / args.nodes / 2  # half the edges come from arrivals, half from densification
    g = synthetic_growing_graph(args.nodes, 8, per_node, 0.5, 0.8, 8, 1.0, seed=0, densify=per_node)
    s = make_splits(g, 0, 10)
    train, test = g["edges"][s["random_train"]], g["edges"][s["random_test"]]
    targets = {"train": train, "test": test}
    t0 = time.perf_counter()
    tc = tc_scores(train, args.nodes, targets, K=args.k)
    tc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    atc = atc_scores(train, args.nodes, targets, K=args.k, dim=args.atc_dim)
    atc_s = time.perf_counter() - t0
    ok = np.isfinite(tc["test"]) & np.isfinite(atc["test"])
    out = {"nodes": args.nodes, "edges": int(len(g["edges"])), "train_edges": int(len(train)), "k": args.k,
           "tc_seconds": tc_s, "atc_seconds": atc_s, "atc_speedup": tc_s / atc_s,
           "pearson_tc_atc_test": float(np.corrcoef(tc["test"][ok], atc["test"][ok])[0, 1])}
    out["summary"] = {f"exact TC seconds ({args.nodes} nodes, {len(g['edges'])} edges, K={args.k}; floor < 30)": tc_s,
                      f"ATC speed-up over exact TC (K={args.k})": out["atc_speedup"]}
    print(f"graph: {args.nodes} nodes, {len(g['edges'])} edges ({len(train)} training)")
    print(f"exact TC (train + test, K={args.k}): {tc_s:.2f} s;  ATC: {atc_s:.2f} s;  speed-up {out['atc_speedup']:.1f}x;  "
          f"r(TC, ATC) = {out['pearson_tc_atc_test']:.3f}")
    if args.json:
        from common.io import atomic_write_json

        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
