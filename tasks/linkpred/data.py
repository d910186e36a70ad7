"""Graphs for link prediction: a deterministic synthetic growing graph (tiny/smoke), loaders for real
formats (Planetoid raw files, OGB-style edge-list CSVs, a plain edge list) with clear errors, and the edge splits.

A prepared graph is one ``.npz`` (all arrays, no pickles): ``edges`` (E, 2) undirected, each once with
u < v; ``time`` (E,) or empty; ``x`` (n, f) node features; ``y`` (n,) node labels (-1 = none); per split
``<split>_train|val|test`` (index arrays into ``edges``) and ``<split>_neg_val|neg_test`` (non-edges for
the overall metrics).
"""
from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import numpy as np

from common.data.errors import DataError, require_dir

SPLITS = ("random", "time")
FRACTIONS = (0.7, 0.1, 0.2)


# ----------------------------------------------------------------------------- synthetic
def synthetic_growing_graph(n: int, communities: int, edges_per_node: float, triadic: float, p_in: float,
                            feat_dim: int, feat_signal: float, seed: int, densify: float = 0.0) -> dict:
    """A growing graph: node i arrives at time i and links to earlier nodes, so edge time = order.

    * heterogeneous degrees: each node has a log-normal activity (how many links it makes, and how
      attractive it is) and targets are chosen ∝ (degree + 1) · activity (preferential attachment);
    * communities: a target is drawn from the newcomer's community with probability ``p_in``;
    * triadic closure: with probability ``triadic`` a link goes to a neighbour of the previous target
      (this is what makes topological concentration vary between nodes);
    * densification: after each arrival, ``densify`` links (on average) form between existing nodes, an
      active node closing a triangle (probability ``triadic``) or linking by attachment — so edges of
      the later period also join old nodes, as in a collaboration graph;
    * features: a noisy one-hot of the community in ``feat_dim`` dims; labels = community.
    Later nodes have fewer links inside the training period, so a time split shifts the distribution.
    """
    rng = np.random.default_rng(seed)
    comm = rng.integers(0, communities, n)
    activity = rng.lognormal(0.0, 0.8, n)
    adj: list[set[int]] = [set() for _ in range(n)]
    deg = np.zeros(n)
    edges, times = [], []
    members: list[list[int]] = [[] for _ in range(communities)]
    m0 = max(3, int(edges_per_node) + 1)

    def link(u: int, v: int, t: float) -> None:
        adj[u].add(v)
        adj[v].add(u)
        deg[u] += 1
        deg[v] += 1
        edges.append((min(u, v), max(u, v)))
        times.append(t)
    for i in range(n):
        if i >= m0:
            k = max(1, int(rng.poisson(edges_per_node * activity[i] / activity.mean())))
            k = min(k, i)
            last = -1
            for _ in range(k):
                j = -1
                if last >= 0 and adj[last] and rng.random() < triadic:
                    cand = [c for c in adj[last] if c != i and c not in adj[i]]
                    if cand:
                        j = int(rng.choice(cand))
                if j < 0:
                    pool = members[comm[i]] if (rng.random() < p_in and members[comm[i]]) else range(i)
                    pool = np.fromiter(pool, dtype=np.int64)
                    w = (deg[pool] + 1.0) * activity[pool]
                    j = int(pool[rng.choice(len(pool), p=w / w.sum())])
                if j == i or j in adj[i]:
                    continue
                link(i, j, i + rng.random())
                last = j
        members[comm[i]].append(i)
        for _ in range(int(rng.poisson(densify)) if i >= m0 else 0):
            w = activity[: i + 1] * (deg[: i + 1] > 0)
            u = int(rng.choice(i + 1, p=w / w.sum()))
            cand = []
            if rng.random() < triadic:
                cand = list({c for v in adj[u] for c in adj[v]} - adj[u] - {u})
            if cand:
                v = int(rng.choice(cand))
            else:
                pool = np.fromiter(members[comm[u]] if rng.random() < p_in else range(i + 1), dtype=np.int64)
                ww = (deg[pool] + 1.0) * activity[pool]
                v = int(pool[rng.choice(len(pool), p=ww / ww.sum())])
            if v == u or v in adj[u]:
                continue
            link(u, v, i + rng.random())
    x = rng.normal(0.0, 1.0, (n, feat_dim)).astype(np.float32)
    x[np.arange(n), comm % feat_dim] += feat_signal
    return {"edges": np.asarray(edges, dtype=np.int64), "time": np.asarray(times, dtype=np.float64), "x": x,
            "y": comm.astype(np.int64), "num_nodes": n}


# ----------------------------------------------------------------------------- real formats
def clean_edges(edges: np.ndarray, num_nodes: int, source: str | Path, time: np.ndarray | None = None) -> dict:
    """Undirected, deduplicated, self-loop-free edges (u < v); counts what was dropped. The first
    occurrence of a duplicated edge is kept (with its time)."""
    if edges.size == 0:
        raise DataError(source, "the graph has no edges", expected="at least one edge")
    bad = (edges < 0) | (edges >= num_nodes)
    if bad.any():
        row = int(np.argwhere(bad.any(1))[0, 0])
        raise DataError(source, f"node id {int(edges[row][bad[row]][0])} out of range", line=None,
                        expected=f"node ids in [0, {num_nodes - 1}] (edge #{row + 1})")
    self_loops = edges[:, 0] == edges[:, 1]
    e = np.sort(edges[~self_loops], axis=1)
    t = time[~self_loops] if time is not None and time.size else None
    _, first = np.unique(e, axis=0, return_index=True)
    first = np.sort(first)
    out = {"edges": e[first], "time": t[first] if t is not None else np.zeros(0),
           "dropped_self_loops": int(self_loops.sum()), "dropped_duplicates": int(len(e) - len(first))}
    if len(out["edges"]) == 0:
        raise DataError(source, "no edges left after removing self-loops", expected="at least one edge between two nodes")
    return out


def _open_text(path: Path):
    return gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="")


def read_edge_csv(path: str | Path, columns: int = 2) -> np.ndarray:
    """OGB-style edge list: one ``src,dst`` per line (no header; OGB's ``raw/edge.csv[.gz]``), or with a
    ``columns``-wide row (e.g. ``edge_year.csv`` has 1 column). Non-numeric lines fail with their number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", expected="an edge list CSV")
    rows = []
    with _open_text(path) as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != columns:
                raise DataError(path, f"{len(row)} fields", line=lineno, expected=f"{columns} comma-separated integers")
            try:
                rows.append([int(float(c)) if "." in c else int(c) for c in row])
            except ValueError:
                raise DataError(path, f"non-numeric value in {row}", line=lineno,
                                expected=f"{columns} comma-separated integers") from None
    return np.asarray(rows, dtype=np.int64).reshape(-1, columns)


def load_ogb_style(root: str | Path) -> dict:
    """An OGB link-prediction raw folder: ``raw/edge.csv[.gz]``, ``raw/num-node-list.csv``, optional
    ``raw/edge_year.csv[.gz]`` (edge times → time split) and ``raw/node-feat.csv[.gz]``."""
    root = require_dir(Path(root), "OGB-style dataset folder")
    raw = root / "raw" if (root / "raw").is_dir() else root

    def find(name):
        for cand in (raw / name, raw / f"{name}.gz"):
            if cand.is_file():
                return cand
        return None

    edge_file, nn_file = find("edge.csv"), find("num-node-list.csv")
    if edge_file is None or nn_file is None:
        raise DataError(raw, "edge.csv or num-node-list.csv missing", expected="raw/edge.csv[.gz] and raw/num-node-list.csv")
    num_nodes = int(read_edge_csv(nn_file, 1).sum())
    edges = read_edge_csv(edge_file)
    year_file = find("edge_year.csv")
    time = read_edge_csv(year_file, 1)[:, 0].astype(np.float64) if year_file else None
    if time is not None and len(time) != len(edges):
        raise DataError(year_file, f"{len(time)} rows", expected=f"one time per edge ({len(edges)})")
    feat_file = find("node-feat.csv")
    if feat_file is not None:
        with _open_text(feat_file) as f:
            x = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
        if len(x) != num_nodes:
            raise DataError(feat_file, f"{len(x)} rows", expected=f"one feature row per node ({num_nodes})")
    else:
        x = np.ones((num_nodes, 1), dtype=np.float32)
    out = clean_edges(edges, num_nodes, edge_file, time)
    out.update({"x": x, "y": -np.ones(num_nodes, dtype=np.int64), "num_nodes": num_nodes})
    return out


EDGELIST_FIELDS = re.compile(r"\s*,\s*|\s+")  # a comma (spaces around it allowed) or a run of whitespace


def read_edgelist(path: str | Path, time_from_order: bool = False) -> dict:
    """A plain edge list: one ``src dst`` pair per line, separated by whitespace or one comma (``1 2``, ``1\t2``,
    ``1,2``, ``alice, bob``); ``#`` starts a comment (whole line or line end); blank lines are skipped; ``.gz``
    is read compressed. Node ids are any tokens without spaces, commas or ``#`` (integers or strings, compared as
    text: ``7`` and ``07`` are two nodes), numbered 0…N−1 in first-seen order (``node_ids[i]`` is node i's id).
    Undirected: self-loops, repeated edges and reverse repeats (``b a`` after ``a b``) are dropped and counted
    (``dropped_self_loops``, ``dropped_duplicates`` — reverse repeats included — and ``dropped_reverse_duplicates``);
    a node met only in self-loops stays, isolated. A line with other than 2 fields is a :class:`DataError` with
    its line number. No times, unless ``time_from_order``: the file lists the edges oldest first, and an edge's
    time is its line's position (a repeat keeps its first position) — that enables the time split."""
    import zlib

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", expected="an edge list: one 'src dst' pair per line")
    ids: dict[str, int] = {}
    edges, orient = [], {}
    reverse = 0
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            for lineno, data in enumerate(f, start=1):  # bytes, decoded per line: a bad byte's line is exact
                try:
                    raw = data.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(path, f"not valid UTF-8 ({e.reason} at byte {e.start} of the line)", line=lineno,
                                    expected="a UTF-8 text file") from None
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                fields = EDGELIST_FIELDS.split(line)
                if len(fields) != 2 or not all(fields):
                    what = f"{len(fields)} fields" if len(fields) != 2 else "an empty field"
                    raise DataError(path, f"{what} in {raw.rstrip()!r}", line=lineno,
                                    expected="2 node ids per line, separated by whitespace or a comma ('src dst')")
                u, v = (ids.setdefault(t, len(ids)) for t in fields)
                edges.append((u, v))
                key = (min(u, v), max(u, v))
                if u != v and orient.setdefault(key, (u, v)) != (u, v):
                    reverse += 1
    except (OSError, EOFError, zlib.error) as e:  # e.g. a damaged .gz
        raise DataError(path, f"unreadable ({e})", expected="a plain or gzip-compressed text file") from None
    if not edges:
        raise DataError(path, "no edges (only blank or comment lines)", expected="one 'src dst' pair per line")
    e = np.asarray(edges, dtype=np.int64)
    out = clean_edges(e, len(ids), path, np.arange(len(e), dtype=np.float64) if time_from_order else None)
    n = len(ids)
    out.update({"x": np.ones((n, 1), dtype=np.float32), "y": -np.ones(n, dtype=np.int64), "num_nodes": n,
                "dropped_reverse_duplicates": reverse, "node_ids": list(ids)})
    return out


def planetoid_raw_counts(graph_dict: dict) -> dict:
    """Self-loops and duplicate entries of a Planetoid adjacency dict (``ind.<name>.graph``: node → neighbour list).

    The lists hold each undirected edge in both directions, and that is one edge, not a duplicate; a neighbour
    listed k > 1 times in one list is k − 1 duplicates (an edge repeated in both lists counts once:
    max of its two listings − 1). Every self-loop entry is counted as a dropped self-loop.
    """
    rows = np.fromiter((u for u, nbrs in graph_dict.items() for _ in nbrs), dtype=np.int64)
    cols = np.fromiter((int(v) for nbrs in graph_dict.values() for v in nbrs), dtype=np.int64)
    loop = rows == cols
    r, c = rows[~loop], cols[~loop]
    directed, counts = np.unique(np.c_[r, c], axis=0, return_counts=True)
    listed = {(int(u), int(v)): int(k) for (u, v), k in zip(directed, counts)}
    undirected = {(min(u, v), max(u, v)) for u, v in listed}
    dup = sum(max(listed.get((u, v), 0), listed.get((v, u), 0)) - 1 for u, v in undirected)
    return {"dropped_self_loops": int(loop.sum()), "dropped_duplicates": int(dup)}


def load_planetoid(root: str | Path, name: str) -> dict:
    """Planetoid raw files ``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` from a local folder,
    read by torch_geometric's reader (nothing is downloaded). No edge times: only the random split.

    torch_geometric's reader already drops self-loops and repeated entries, so what was dropped is counted on
    the raw adjacency dict, read by torch_geometric's own ``read_file`` (see :func:`planetoid_raw_counts`)."""
    from torch_geometric.io import read_planetoid_data
    from torch_geometric.io.planetoid import read_file

    root = require_dir(Path(root), f"Planetoid raw folder for {name}")
    need = [f"ind.{name.lower()}.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]
    missing = [f for f in need if not (root / f).is_file()]
    if missing:
        raise DataError(root, f"missing {missing}", expected="the 8 Planetoid raw files")
    graph_file = root / f"ind.{name.lower()}.graph"
    raw = read_file(str(root), name.lower(), "graph")
    if not isinstance(raw, dict):
        raise DataError(graph_file, f"a pickled {type(raw).__name__}", expected="a dict node → list of neighbours")
    data = read_planetoid_data(str(root), name.lower())
    n = int(data.num_nodes)
    out = clean_edges(data.edge_index.t().numpy().astype(np.int64), n, graph_file)
    out.update(planetoid_raw_counts(raw))  # clean_edges would count each reverse direction as a duplicate
    out.update({"x": data.x.numpy().astype(np.float32), "y": data.y.numpy().astype(np.int64), "num_nodes": n})
    return out


# ----------------------------------------------------------------------------- splits
def split_edges(num_edges: int, order: np.ndarray) -> dict[str, np.ndarray]:
    n_tr = int(round(FRACTIONS[0] * num_edges))
    n_va = int(round(FRACTIONS[1] * num_edges))
    return {"train": np.sort(order[:n_tr]), "val": np.sort(order[n_tr:n_tr + n_va]),
            "test": np.sort(order[n_tr + n_va:])}


def sample_non_edges(edges: np.ndarray, num_nodes: int, count: int, rng) -> np.ndarray:
    """``count`` distinct node pairs (u < v) that are not edges of the full graph (a graph with fewer is a
    ``ValueError`` naming both numbers, not an endless draw)."""
    available = num_nodes * (num_nodes - 1) // 2 - len(edges)
    if count > available:
        raise ValueError(f"{count} negatives (non-edges) asked for, but the graph of {num_nodes} nodes and "
                         f"{len(edges)} edges has only {available}: lower `negatives`")
    existing = set(map(tuple, edges.tolist()))
    out = set()
    while len(out) < count:
        u, v = rng.integers(0, num_nodes, 2)
        if u == v:
            continue
        pair = (min(u, v), max(u, v))
        if pair not in existing:
            out.add(pair)
    return np.asarray(sorted(out), dtype=np.int64)


def make_splits(graph: dict, seed: int, negatives: int) -> dict:
    """Random 70/10/20 and (when edges have times) time-ordered 70/10/20 splits + fixed negatives."""
    rng = np.random.default_rng(seed)
    e = graph["edges"]
    out = {}
    orders = {"random": rng.permutation(len(e))}
    if graph["time"].size:
        orders["time"] = np.argsort(graph["time"], kind="stable")
    for name, order in orders.items():
        for part, idx in split_edges(len(e), order).items():
            out[f"{name}_{part}"] = idx
        out[f"{name}_neg_val"] = sample_non_edges(e, graph["num_nodes"], negatives, rng)
        out[f"{name}_neg_test"] = sample_non_edges(e, graph["num_nodes"], negatives, rng)
    return out


def save_graph(path: str | Path, graph: dict, splits: dict) -> None:
    import io

    from common.io import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, edges=graph["edges"], time=graph["time"], x=graph["x"], y=graph["y"],
                        num_nodes=np.asarray(graph["num_nodes"]), **splits)
    atomic_write_bytes(path, buf.getvalue())


def load_graph(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prepared graph not found (run `dvc repro tasks/linkpred/dvc.yaml:prepare`)")
    with np.load(path, allow_pickle=False) as z:
        g = {k: z[k] for k in z.files}
    g["num_nodes"] = int(g["num_nodes"])
    return g


def available_splits(graph: dict) -> list[str]:
    return [s for s in SPLITS if f"{s}_train" in graph]


def split_edges_of(graph: dict, split: str, part: str) -> np.ndarray:
    return graph["edges"][graph[f"{split}_{part}"]]
