"""Stage ``prepare``: the graph (synthetic growing graph, or a real dataset for ``full``), cleaned, with
random and time-ordered 70/10/20 edge splits and fixed negative pairs.

``source: synthetic`` (tiny/smoke) grows a graph (``tasks.linkpred.data.synthetic_growing_graph``);
``source: planetoid`` reads the Planetoid raw files ``ind.<name>.*`` under ``raw_dir`` and ``source: ogb`` an
OGB-style raw folder (``raw/edge.csv[.gz]``: ``src,dst`` integer rows without a header, ``raw/num-node-list.csv``,
optional edge years and features). ``source: edgelist`` reads one plain edge-list file ``path`` (``src dst`` per line,
whitespace or comma, ``#`` comments, any node ids — numbered 0…N−1 in first-seen order, written to ``node_ids.txt``,
line i = node i; see :func:`tasks.linkpred.data.read_edgelist`): featureless (one constant feature per node), no
labels, and only the random split — unless ``time_from_order`` says the file is in time order (oldest edge first),
which adds the time split by line order. Dropped self-loops and (reverse) repeats are counted in ``stats.json``.
Writes ``data/linkpred/prepare/{graph.npz, stats.json}``."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main


class Params(StageParams):
    source: Literal["synthetic", "planetoid", "ogb", "edgelist"] = Field(
        description="synthetic growing graph, Planetoid raw files, an OGB-style raw folder, or a plain edge list")
    num_nodes: int = Field(3000, ge=4, description="synthetic: nodes (the first 3 seed the graph)")
    communities: int = Field(6, ge=1, description="synthetic: communities (node labels)")
    edges_per_node: float = Field(3.0, gt=0, description="synthetic: mean links an arriving node makes")
    densify: float = Field(0.0, ge=0, description="synthetic: mean links formed among existing nodes per arrival")
    triadic: float = Field(0.5, ge=0, le=1, description="synthetic: probability a link closes a triangle")
    p_in: float = Field(0.8, ge=0, le=1, description="synthetic: probability a target is from the same community")
    feat_dim: int = Field(32, ge=1, description="synthetic: node feature size")
    feat_signal: float = Field(0.5, ge=0, description="synthetic: community signal added to the noisy features")
    raw_dir: str | None = Field(None, description="planetoid / ogb: the folder holding the raw files")
    name: str | None = Field(None, description="planetoid: the dataset name (cora, citeseer, pubmed)")
    path: str | None = Field(None, description="edgelist: the edge-list file ('src dst' per line; .gz allowed)")
    time_from_order: bool = Field(False, description="edgelist: the lines are in time order (oldest first): "
                                  "add the time split by line order")
    negatives: int = Field(ge=1, description="fixed non-edges per split for the overall metrics")

    @model_validator(mode="after")
    def _check(self):
        if self.source in ("planetoid", "ogb") and not self.raw_dir:
            raise ValueError(f"source {self.source} needs raw_dir")
        if self.source == "edgelist" and not self.path:
            raise ValueError("source edgelist needs path (the edge-list file)")
        if self.source == "edgelist" and self.raw_dir:
            raise ValueError("source edgelist reads one file: set path, not raw_dir")
        if self.source != "edgelist" and (self.path or self.time_from_order):
            raise ValueError(f"path and time_from_order are for source edgelist, not {self.source}")
        if self.source == "planetoid" and not self.name:
            raise ValueError("source planetoid needs name")
        return self


def run(params: Params, out_dir: Path) -> dict:
    import numpy as np

    from common.io import atomic_dir, atomic_write_json, atomic_write_text
    from tasks.linkpred import data

    if params.source == "synthetic":
        g = data.synthetic_growing_graph(params.num_nodes, params.communities, params.edges_per_node,
                                         params.triadic, params.p_in, params.feat_dim, params.feat_signal,
                                         params.seed, params.densify)
        g.update({"dropped_self_loops": 0, "dropped_duplicates": 0})
    elif params.source == "planetoid":
        g = data.load_planetoid(params.raw_dir, params.name)
    elif params.source == "ogb":
        g = data.load_ogb_style(params.raw_dir)
    else:
        g = data.read_edgelist(params.path, params.time_from_order)
    splits = data.make_splits(g, params.seed, params.negatives)
    deg = np.bincount(g["edges"].ravel(), minlength=g["num_nodes"])
    stats = {"source": params.source, "num_nodes": g["num_nodes"], "num_edges": int(len(g["edges"])),
             "mean_degree": float(deg.mean()), "max_degree": int(deg.max()), "isolated_nodes": int((deg == 0).sum()),
             "dropped_self_loops": g["dropped_self_loops"], "dropped_duplicates": g["dropped_duplicates"],
             "splits": data.available_splits({**g, **splits}), "negatives": params.negatives}
    if "node_ids" in g:  # edgelist: the file's own ids, and the reverse repeats among the dropped duplicates
        stats["dropped_reverse_duplicates"] = g["dropped_reverse_duplicates"]
    with atomic_dir(out_dir) as tmp:
        data.save_graph(tmp / "graph.npz", g, splits)
        if "node_ids" in g:
            atomic_write_text(tmp / "node_ids.txt", "".join(f"{i}\n" for i in g["node_ids"]))
        atomic_write_json(tmp / "stats.json", stats)
    return stats


if __name__ == "__main__":
    main(__spec__.name, Params, run)
