"""Graph formats and splits: Planetoid raw files and OGB-style CSVs written here in the real formats,
bad input, the synthetic growing graph."""
import gzip
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from common.data.errors import DataError
from tasks.linkpred.data import (available_splits, clean_edges, load_graph, load_ogb_style, load_planetoid,
                                 make_splits, read_edge_csv, save_graph, synthetic_growing_graph)


def write_planetoid(root, name="toy", duplicate=False):
    """The 8 files of Kipf's Planetoid release: pickled scipy/numpy objects + a text test index. The adjacency
    lists hold every edge in both directions (as the real files do), one self-loop and, with ``duplicate``, one
    neighbour listed twice."""
    rng = np.random.default_rng(0)
    n_train, n_test, n_rest, f, c = 4, 3, 500, 5, 2  # the reader takes 500 validation nodes after the training ones
    allx = sp.csr_matrix(rng.random((n_train + n_rest, f)))
    x = allx[:n_train]
    tx = sp.csr_matrix(rng.random((n_test, f)))
    ally = np.eye(c)[rng.integers(0, c, n_train + n_rest)]
    y, ty = ally[:n_train], np.eye(c)[rng.integers(0, c, n_test)]
    n = n_train + n_rest + n_test
    graph = {i: [(i + 1) % n, (i + 2) % n, (i - 1) % n, (i - 2) % n] for i in range(n)}
    graph[0].append(0)  # a self-loop, as real Planetoid graphs have
    if duplicate:
        graph[5].append(6)  # 5—6 listed twice in 5's list (and once in 6's): one duplicate
    for ext, obj in (("x", x), ("tx", tx), ("allx", allx), ("y", y), ("ty", ty), ("ally", ally), ("graph", graph)):
        with open(root / f"ind.{name}.{ext}", "wb") as fh:
            pickle.dump(obj, fh)
    (root / f"ind.{name}.test.index").write_text("\n".join(str(i) for i in range(n_train + n_rest, n)) + "\n")
    return n


def test_planetoid_raw_files(tmp_path):
    n = write_planetoid(tmp_path)
    g = load_planetoid(tmp_path, "toy")
    assert g["num_nodes"] == n and g["x"].shape == (n, 5) and set(np.unique(g["y"])) <= {0, 1}
    assert (g["edges"][:, 0] < g["edges"][:, 1]).all()  # undirected, once, no self-loops
    assert len(g["edges"]) == 2 * n  # the self-loop is gone (PyG's reader or ours drops it)
    # what the raw lists held: both directions of an edge are one edge, not a duplicate
    assert g["dropped_self_loops"] == 1 and g["dropped_duplicates"] == 0


def test_planetoid_counts_what_the_raw_lists_held(tmp_path):
    n = write_planetoid(tmp_path, duplicate=True)
    g = load_planetoid(tmp_path, "toy")
    assert len(g["edges"]) == 2 * n
    assert g["dropped_self_loops"] == 1 and g["dropped_duplicates"] == 1


def test_planetoid_raw_counts_rules():
    from tasks.linkpred.data import planetoid_raw_counts

    # 0—1 in both lists (one edge), 1—2 only in 1's list (one edge), 2—0 twice in 2's list and twice in 0's
    # (one duplicate edge), 3's self-loop listed twice (two self-loop entries)
    raw = {0: [1, 2, 2], 1: [0, 2], 2: [0, 0], 3: [3, 3]}
    assert planetoid_raw_counts(raw) == {"dropped_self_loops": 2, "dropped_duplicates": 1}


def test_planetoid_missing_file_named(tmp_path):
    write_planetoid(tmp_path)
    (tmp_path / "ind.toy.graph").unlink()
    with pytest.raises(DataError, match="ind.toy.graph"):
        load_planetoid(tmp_path, "toy")


def write_ogb(root, edges, num_nodes, years=None):
    raw = root / "raw"
    raw.mkdir(parents=True)
    with gzip.open(raw / "edge.csv.gz", "wt") as fh:
        fh.write("".join(f"{u},{v}\n" for u, v in edges))
    (raw / "num-node-list.csv").write_text(f"{num_nodes}\n")
    if years is not None:
        (raw / "edge_year.csv").write_text("".join(f"{y}\n" for y in years))


def test_ogb_style_with_years_dedup_and_self_loops(tmp_path):
    write_ogb(tmp_path, [(0, 1), (1, 0), (2, 2), (1, 3), (3, 4)], 5, years=[2001, 2002, 2003, 2004, 2005])
    g = load_ogb_style(tmp_path)
    assert g["edges"].tolist() == [[0, 1], [1, 3], [3, 4]]
    assert g["time"].tolist() == [2001, 2004, 2005]  # the first occurrence keeps its year
    assert g["dropped_self_loops"] == 1 and g["dropped_duplicates"] == 1


def test_edge_csv_errors_name_file_and_line(tmp_path):
    p = tmp_path / "edge.csv"
    p.write_text("0,1\n1,x\n")
    with pytest.raises(DataError, match=r"edge.csv:2.*non-numeric"):
        read_edge_csv(p)
    p.write_text("0,1\n1,2,3\n")
    with pytest.raises(DataError, match=r"edge.csv:2.*3 fields"):
        read_edge_csv(p)


def test_out_of_range_and_empty_graph(tmp_path):
    write_ogb(tmp_path, [(0, 1), (1, 7)], 5)
    with pytest.raises(DataError, match="node id 7 out of range"):
        load_ogb_style(tmp_path)
    with pytest.raises(DataError, match="no edges"):
        clean_edges(np.zeros((0, 2), dtype=np.int64), 3, "g.csv")
    with pytest.raises(DataError, match="no edges left"):
        clean_edges(np.array([[1, 1], [2, 2]]), 3, "g.csv")


def test_synthetic_graph_properties_and_splits(tmp_path):
    g = synthetic_growing_graph(400, 4, 3, 0.5, 0.8, 8, 1.0, seed=0, densify=1.0)
    again = synthetic_growing_graph(400, 4, 3, 0.5, 0.8, 8, 1.0, seed=0, densify=1.0)
    assert np.array_equal(g["edges"], again["edges"])  # deterministic
    deg = np.bincount(g["edges"].ravel(), minlength=400)
    assert deg.max() > 5 * np.median(deg)  # heterogeneous degrees
    same = (g["y"][g["edges"][:, 0]] == g["y"][g["edges"][:, 1]]).mean()
    assert same > 0.5  # communities
    s = make_splits(g, 0, 50)
    assert available_splits(s) == ["random", "time"]
    n = len(g["edges"])
    for split in ("random", "time"):
        parts = [s[f"{split}_{p}"] for p in ("train", "val", "test")]
        assert sum(map(len, parts)) == n and len(np.unique(np.concatenate(parts))) == n
        assert abs(len(parts[0]) - 0.7 * n) <= 1
    t = g["time"]
    assert t[s["time_train"]].max() <= t[s["time_test"]].min()  # time split: train before test
    existing = set(map(tuple, g["edges"].tolist()))
    assert not any(tuple(p) in existing for p in s["random_neg_test"].tolist())
    save_graph(tmp_path / "g.npz", g, s)
    back = load_graph(tmp_path / "g.npz")
    assert np.array_equal(back["time_test"], s["time_test"]) and back["num_nodes"] == 400
