"""DVC's own views of the results work in a fresh clone, before any run: `dvc metrics show` lists a small flat file per
task (lines a person can read), `dvc plots show` loads every declared plot (the report figures and the training
curves), and nothing under data/ (absent before a run) is declared as a metric or plot."""
from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from common.reports.tables import task_metrics, write_metrics
from tests.conftest import ROOT, venv_env

TASKS = ("detection", "edges", "linkpred", "ocr", "pose", "reid", "superres")


def dvc_out(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=300)


def test_every_report_figure_and_the_curves_are_declared_plots():
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    declared = {p if isinstance(p, str) else next(iter(p)) for p in plots}
    figures = {f"reports/{p.name}" for p in (ROOT / "reports").glob("*.png")}
    assert figures <= declared, f"not declared as DVC plots in dvc.yaml: {sorted(figures - declared)}"
    assert "reports/curves" in declared


def test_nothing_under_data_is_a_declared_metric_or_plot():
    for f in [ROOT / "dvc.yaml", *sorted((ROOT / "tasks").glob("*/dvc.yaml"))]:
        doc = yaml.safe_load(f.read_text())
        top = [*(doc.get("metrics") or []), *(doc.get("plots") or [])]
        staged = [o for s in doc.get("stages", {}).values() for key in ("metrics", "plots") for o in s.get(key, [])]
        paths = [p if isinstance(p, str) else next(iter(p)) for p in [*top, *staged]]
        bad = [p for p in paths if "data/" in p]
        assert not bad, f"{f.relative_to(ROOT)} declares {bad}: absent before a run, so DVC's views fail"


def test_metrics_show_is_one_readable_table():
    out = dvc_out("metrics", "show")
    assert out.returncode == 0 and "failed" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) < 200, max(lines, key=len)
    for t in TASKS:
        assert any(line.startswith(f"reports/metrics/{t}.json") for line in lines), t


def test_plots_show_loads_every_plot(tmp_path):
    out = dvc_out("plots", "show", "--json")
    assert out.returncode == 0 and "failed" not in (out.stdout + out.stderr).lower(), out.stderr[-2000:]
    data = json.loads(out.stdout)["data"]
    assert any(k.startswith("reports/curves/") for k in data), "no training curve loaded"
    assert all(v[0]["type"] == "image" for k, v in data.items() if k.endswith(".png"))


def test_task_metrics_counts_verdicts_and_reads_headline_numbers():
    doc = {"task": "t", "profile": "smoke",
           "variants": {"a+b": {"map50": {"value": 0.5, "lo": 0.4, "hi": 0.6}}}, "derived": {"speedup": 3.0},
           "claims": [{"verdict": "holds", "lo": 1, "hi": 2}, {"verdict": "inconclusive", "lo": 0, "hi": 2},
                      {"verdict": "not testable here", "lo": None, "hi": None}, {"verdict": "fails"}]}
    m = task_metrics(doc, {"map50": "variants/a+b/map50", "speedup": "derived/speedup"}, "params.yaml: headline.t")
    assert m == {"holds": 1, "fails": 0, "inconclusive": 1, "untestable": 1, "no_interval": 1, "map50": 0.5,
                 "speedup": 3.0}
    with pytest.raises(KeyError, match=r"params.yaml: headline.t.x: 'variants/zz/map50' is not in reports/t.json"):
        task_metrics(doc, {"x": "variants/zz/map50"}, "params.yaml: headline.t")


def test_committed_metrics_files_are_what_the_reports_give(tmp_path):
    for p in (ROOT / "reports").glob("*.json"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    headline = yaml.safe_load((ROOT / "params.yaml").read_text())["headline"]
    assert set(headline) == set(TASKS)
    for path in write_metrics(tmp_path, headline):
        assert path.read_text() == (ROOT / "reports" / "metrics" / path.name).read_text(), path.name
