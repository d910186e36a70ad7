"""Stage ``prepare``: the graph (synthetic growing graph, or a real dataset for ``full``), cleaned, with
random and time-ordered 70/10/20 edge splits and fixed negative pairs.
Writes ``data/linkpred/prepare/{graph.npz, stats.json}``."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common.io import atomic_dir, atomic_write_json, stage_params


def run(params: dict, out_dir: str | Path) -> dict:
    from tasks.linkpred import data

    src = params["source"]
    if src == "synthetic":
        g = data.synthetic_growing_graph(params["num_nodes"], params["communities"], params["edges_per_node"],
                                         params["triadic"], params["p_in"], params["feat_dim"], params["feat_signal"],
                                         params["seed"], params.get("densify", 0.0))
        g.update({"dropped_self_loops": 0, "dropped_duplicates": 0})
    elif src == "planetoid":
        g = data.load_planetoid(params["raw_dir"], params["name"])
    elif src == "ogb":
        g = data.load_ogb_style(params["raw_dir"])
    else:
        raise SystemExit(f"unknown source {src!r}; expected synthetic, planetoid or ogb")
    splits = data.make_splits(g, params["seed"], params["negatives"])
    deg = np.bincount(g["edges"].ravel(), minlength=g["num_nodes"])
    stats = {"source": src, "num_nodes": g["num_nodes"], "num_edges": int(len(g["edges"])),
             "mean_degree": float(deg.mean()), "max_degree": int(deg.max()), "isolated_nodes": int((deg == 0).sum()),
             "dropped_self_loops": g["dropped_self_loops"], "dropped_duplicates": g["dropped_duplicates"],
             "splits": data.available_splits({**g, **splits}), "negatives": params["negatives"]}
    with atomic_dir(out_dir) as tmp:
        data.save_graph(tmp / "graph.npz", g, splits)
        atomic_write_json(tmp / "stats.json", stats)
    print(stats)
    return stats


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.linkpred.prepare", description=__doc__)
    ap.add_argument("--out", default="data/linkpred/prepare")
    args = ap.parse_args(argv)
    run(stage_params("linkpred", "prepare"), args.out)


if __name__ == "__main__":
    main()
