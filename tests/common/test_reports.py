import json

import pytest

from common.reports.render import render_task_report
from common.reports.schema import FAILS, HOLDS, NOT_MEASURABLE, load_paper
from common.reports.tables import render_index

PAPER = """
paper: {title: "A Paper", short: "Paper", arxiv: "1234.5678"}
metrics:
  params_m: {label: "Params (M)", fmt: ".2f"}
  map50: {label: "AP50 (%)", fmt: ".1f", ours_scale: 100}
rows:
  - {method: baseline, dataset: D, metric: params_m, value: 25.85, unit: M, source: "Table 1"}
  - {method: baseline, dataset: D, metric: map50, value: 50.6, unit: "%", source: "Table 1"}
claims:
  - {id: a, text: "small", check: "params_reduction >= 0.7", paper: 0.735, source: abstract}
  - {id: b, text: "accurate", check: "baseline_map50 >= 0.5", paper: 0.5, source: abstract}
  - {id: c, text: "fast", check: "speedup < 1e1", source: abstract}
"""


def paper(tmp_path, text=PAPER):
    p = tmp_path / "paper.yaml"
    p.write_text(text)
    return load_paper(p)


def test_claim_verdicts(tmp_path):
    pp = paper(tmp_path)
    derived = {"params_reduction": 0.75, "baseline_map50": 0.31}
    verdicts = {c.id: c.verdict(derived)[0] for c in pp.claims}
    assert verdicts == {"a": HOLDS, "b": FAILS, "c": NOT_MEASURABLE}


@pytest.mark.parametrize("bad, match", [
    ("check: \"params_reduction >= 0.7\"", None),
    ("check: \"__import__('os') >= 1\"", "is not '<metric> <op> <number>'"),
    ("check: \"x >= y\"", "is not '<metric> <op> <number>'"),
])
def test_checks_are_parsed_not_evaluated(tmp_path, bad, match):
    text = PAPER.replace('check: "params_reduction >= 0.7"', bad)
    if match is None:
        paper(tmp_path, text)
    else:
        with pytest.raises(ValueError, match=match):
            paper(tmp_path, text)


def test_schema_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"paper.yaml: rows\[0\] lacks required key 'source'"):
        paper(tmp_path, PAPER.replace(', source: "Table 1"}', "}", 1))
    with pytest.raises(ValueError, match="not declared under metrics"):
        paper(tmp_path, PAPER.replace("metric: params_m", "metric: fps", 1))


def test_render_side_by_side_and_index(tmp_path):
    pp = paper(tmp_path)
    variants = {"baseline": {"params_m": 3.01, "map50": 0.612, "latency_ms_t1": 20.0}}
    doc = render_task_report(task="toy", paper=pp, profile="smoke", hardware={"cpu": "X"}, variants=variants,
                             derived={"baseline_map50": 0.612}, columns=[("params_m", "Params", ".2f")],
                             plot={"x": "latency_ms_t1", "y": "map50", "xlabel": "ms", "ylabel": "mAP50"},
                             out_dir=tmp_path / "reports")
    md = (tmp_path / "reports" / "toy.md").read_text()
    assert "| baseline | 25.85 | 3.01 | 50.6 | 61.2 |" in md  # paper beside ours, ours scaled to %
    assert (tmp_path / "reports" / "toy.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "reports" / "toy.json").read_text())["claims"] == doc["claims"]
    index = render_index(tmp_path / "reports")
    assert "1 task report(s), 3 claim(s): 1 hold, 0 fail, 2 not measurable" in index
