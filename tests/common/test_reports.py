import json

import pytest

from common.reports.render import render_task_report
from common.reports.schema import FAILS, HOLDS, NO_INTERVAL, NOT_TESTABLE, load_paper
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
    derived = {"params_reduction": {"value": 0.75, "lo": 0.72, "hi": 0.78}, "baseline_map50": 0.31}
    verdicts = {c.id: c.verdict(derived)[0] for c in pp.claims}
    assert verdicts == {"a": HOLDS, "b": NO_INTERVAL, "c": NOT_TESTABLE}
    assert pp.claims[1].judge(derived)["point"] == FAILS


def test_claim_schema_keys(tmp_path):
    text = PAPER.replace('source: abstract}', 'source: abstract, compares: [pruned, baseline], '
                         'preconditions: [{check: "baseline_map50 >= 0.1", why: "the baseline learned"}]}', 1)
    c = paper(tmp_path, text).claims[0]
    assert c.compares == ["pruned", "baseline"] and str(c.preconditions[0][0]) == "baseline_map50 >= 0.1"
    with pytest.raises(ValueError, match=r"claims\[0\] has unknown key\(s\) \['precondition'\]"):
        paper(tmp_path, PAPER.replace('source: abstract}', 'source: abstract, precondition: "x >= 1"}', 1))
    with pytest.raises(ValueError, match=r"claims\[0\].preconditions\[0\].check 'x >= y'"):
        paper(tmp_path, PAPER.replace('source: abstract}', 'source: abstract, preconditions: ["x >= y"]}', 1))
    with pytest.raises(ValueError, match="not_testable must say why"):
        paper(tmp_path, PAPER.replace('source: abstract}', 'source: abstract, not_testable: ""}', 1))


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
    assert ("1 task report(s), 3 claim(s): 0 holds, 0 fails, 0 inconclusive, 2 not testable here, "
            "0 precondition unmet, 1 no interval yet") in index
    assert "| [toy](toy.md) | 0 | 0 | 0 | 2 | 0 | 1 |" in index  # the classes counted per task


def test_render_intervals_and_legacy_reports_in_the_index(tmp_path):
    from common.evaluate.intervals import Estimate

    pp = paper(tmp_path)
    e = Estimate(0.75, 0.72, 0.78, 3, "500 images", "bootstrap over 500 images; 3 seeds")
    render_task_report(task="toy", paper=pp, profile="smoke", hardware={}, variants={"baseline": {"map50": e}},
                       derived={"params_reduction": e}, columns=[("map50", "AP50", ".2f")],
                       plot={"x": "map50", "y": "map50", "xlabel": "x", "ylabel": "y"}, out_dir=tmp_path / "r")
    md = (tmp_path / "r" / "toy.md").read_text()
    assert "| 0.75 [0.72, 0.78] | 3 | 500 images | **holds** |" in md
    assert "| baseline | 0.75 ± 0.03 |" in md  # our table: value ± half-width
    assert "`a`: bootstrap over 500 images; 3 seeds" in md
    # a report from before verdict classes (point verdicts only): never counted as holds in the index
    legacy = {"task": "old", "paper": {"title": "P", "arxiv": "1"}, "profile": "smoke",
              "claims": [{"text": "x", "paper": None, "ours": 1.0, "verdict": "holds"},
                         {"text": "y", "paper": None, "ours": None, "verdict": "not measurable at this profile"}]}
    (tmp_path / "r" / "old.json").write_text(json.dumps(legacy))
    index = render_index(tmp_path / "r")
    assert "| x | — | 1 | no interval yet (point check: holds) | smoke |" in index
    assert "not testable here (not measured at profile `smoke`)" in index
    assert "| [old](old.md) | 0 | 0 | 0 | 1 | 0 | 1 |" in index and "| [toy](toy.md) | 1 | 0 | 0 | 2 | 0 | 0 |" in index


@pytest.mark.parametrize("profile, reports, explicit, refused", [
    ("tiny", "reports", None, True),              # another profile aimed at the committed reports
    ("tiny", "data/reports/tiny", None, False),
    ("tiny", "data/reports/tiny", "reports", True),  # … also through a report stage's --out
    ("tiny", "data/reports/tiny", "./reports/", True),
    ("smoke", "reports", None, False),
])
def test_only_the_committed_profile_writes_the_committed_reports(tmp_path, profile, reports, explicit, refused):
    from common.reports import report_dir
    from common.stage import ParamsError

    (tmp_path / "params.yaml").write_text(f"profile: {profile}\nseed: 0\nreports: {reports}\n")
    if refused:
        with pytest.raises(ParamsError, match=rf"params.yaml:3: profile `{profile}` would overwrite the committed "
                                              r"`smoke` reports in reports/; set `reports: data/reports/tiny`"):
            report_dir(explicit, root=tmp_path)
    else:
        assert report_dir(explicit, root=tmp_path) == __import__("pathlib").Path(explicit or reports)
