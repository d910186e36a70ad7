"""Own data for link prediction through prepare's ``run``: a plain edge list (``source: edgelist``: any node ids,
whitespace or commas, comments, dropped self-loops and repeats counted), its errors with file and line, and an
OGB-style ``src,dst`` CSV folder."""
import gzip
import json

import numpy as np
import pytest
from pydantic import ValidationError

from common.data.errors import DataError
from tasks.linkpred.data import load_graph
from tasks.linkpred.prepare import Params, run

EDGES = """\ufeff# a SNAP-style header
# FromNodeId\tToNodeId
alice bob
bob,carol
carol\tdave   # a comment after the pair

bob alice
alice  bob
eve eve
10 alice
dave , 10
carol 10\r
"""


def _prepare(tmp_path, text=EDGES, name="edges.txt", **kw):
    path = tmp_path / name
    path.write_bytes(text.encode()) if not name.endswith(".gz") else path.write_bytes(gzip.compress(text.encode()))
    return run(Params(source="edgelist", path=str(path), negatives=kw.pop("negatives", 3), **kw), tmp_path / "out")


def test_an_edge_list_with_any_ids_becomes_the_graph(tmp_path):
    stats = _prepare(tmp_path)
    out = tmp_path / "out"
    # ids numbered in first-seen order; eve is met only in a self-loop: a node without edges
    assert (out / "node_ids.txt").read_text().splitlines() == ["alice", "bob", "carol", "dave", "eve", "10"]
    g = load_graph(out / "graph.npz")
    assert g["edges"].tolist() == [[0, 1], [1, 2], [2, 3], [0, 5], [3, 5], [2, 5]]  # u < v, file order
    assert g["num_nodes"] == 6 and g["x"].shape == (6, 1) and (g["y"] == -1).all() and g["time"].size == 0
    assert stats == json.loads((out / "stats.json").read_text())
    assert (stats["num_edges"], stats["dropped_self_loops"], stats["dropped_duplicates"],
            stats["dropped_reverse_duplicates"], stats["isolated_nodes"]) == (6, 1, 2, 1, 1)
    assert stats["splits"] == ["random"]  # no times: the random split only
    parts = [g[f"random_{p}"] for p in ("train", "val", "test")]
    assert sorted(np.concatenate(parts).tolist()) == list(range(6)) and [len(p) for p in parts] == [4, 1, 1]
    for neg in (g["random_neg_val"], g["random_neg_test"]):
        assert len(neg) == 3 and not {tuple(e) for e in neg.tolist()} & {tuple(e) for e in g["edges"].tolist()}


def test_time_from_line_order_adds_the_time_split(tmp_path):
    stats = _prepare(tmp_path, name="edges.txt.gz", time_from_order=True)
    g = load_graph(tmp_path / "out" / "graph.npz")
    assert stats["splits"] == ["random", "time"]
    assert g["time"].tolist() == [0, 1, 2, 6, 7, 8]  # positions among the pairs; a repeat keeps the first
    assert g["time_train"].tolist() == [0, 1, 2, 3] and g["time_test"].tolist() == [5]  # oldest edges train


@pytest.mark.parametrize("line, problem", [
    ("alice bob carol", "3 fields in 'alice bob carol'"),
    ("alice", "1 fields in 'alice'"),
    ("alice,,bob", "3 fields"),
    ("alice,", "an empty field"),
])
def test_a_line_without_two_ids_names_file_and_line(tmp_path, line, problem):
    text = EDGES.replace("eve eve\n", f"{line}\n")
    with pytest.raises(DataError, match=problem) as e:
        _prepare(tmp_path, text)
    assert e.value.line == 9 and "edges.txt:9: " in str(e.value)
    assert not (tmp_path / "out").exists()


def test_edge_list_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"edges\.txt:4: not valid UTF-8"):
        (tmp_path / "edges.txt").write_bytes(b"a b\nb c\n# ok\ncaf\xe9 a\n")
        run(Params(source="edgelist", path=str(tmp_path / "edges.txt"), negatives=1), tmp_path / "out")
    with pytest.raises(DataError, match="no edges"):
        _prepare(tmp_path, "# nothing here\n\n")
    with pytest.raises(DataError, match="no edges left after removing self-loops"):
        _prepare(tmp_path, "a a\nb b\n")
    with pytest.raises(DataError, match=r"nowhere\.txt: file not found"):
        run(Params(source="edgelist", path=str(tmp_path / "nowhere.txt"), negatives=1), tmp_path / "out")
    with pytest.raises(ValueError, match="4 negatives .* has only 3: lower `negatives`"):
        _prepare(tmp_path, "a b\nb c\nc d\n", negatives=4)  # 4 nodes, 3 edges: 3 non-edges (no endless draw)


def test_edge_list_params_refuse_bad_combinations():
    with pytest.raises(ValidationError, match="needs path"):
        Params(source="edgelist", negatives=1)
    with pytest.raises(ValidationError, match="set path, not raw_dir"):
        Params(source="edgelist", path="e.txt", raw_dir="d", negatives=1)
    with pytest.raises(ValidationError, match="for source edgelist, not ogb"):
        Params(source="ogb", raw_dir="d", time_from_order=True, negatives=1)
    with pytest.raises(ValidationError, match="source ogb needs raw_dir"):
        Params(source="ogb", negatives=1)


def test_ogb_style_src_dst_csv_through_prepare(tmp_path):
    raw = tmp_path / "ogbl-toy" / "raw"
    raw.mkdir(parents=True)
    (raw / "edge.csv").write_text("0,1\n1,2\n2,3\n3,0\n1,0\n4,4\n0,2\n")
    (raw / "num-node-list.csv").write_text("6\n")
    (raw / "edge_year.csv").write_text("2001\n2002\n2003\n2004\n2005\n2006\n2000\n")
    stats = run(Params(source="ogb", raw_dir=str(tmp_path / "ogbl-toy"), negatives=2), tmp_path / "out")
    g = load_graph(tmp_path / "out" / "graph.npz")
    assert g["edges"].tolist() == [[0, 1], [1, 2], [2, 3], [0, 3], [0, 2]] and g["num_nodes"] == 6
    assert (stats["dropped_self_loops"], stats["dropped_duplicates"], stats["isolated_nodes"]) == (1, 1, 2)
    assert stats["splits"] == ["random", "time"] and g["time_train"].tolist() == [0, 1, 2, 4]  # years order the split
    assert not (tmp_path / "out" / "node_ids.txt").exists()
    (raw / "edge.csv").write_text("src,dst\n0,1\n")
    with pytest.raises(DataError, match=r"edge\.csv:1: non-numeric"):
        run(Params(source="ogb", raw_dir=str(tmp_path / "ogbl-toy"), negatives=2), tmp_path / "out2")
