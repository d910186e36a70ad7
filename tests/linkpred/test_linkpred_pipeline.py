"""The whole link-prediction pipeline under the tiny profile, through DVC as a user runs it."""
import json
import time

from tests.conftest import dvc


def test_dvc_repro_tiny_linkpred_end_to_end(tiny_repo):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/linkpred")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train", "concentration", "embed", "evaluate"):
        assert f"tasks/linkpred/dvc.yaml:{stage}" in log
    report = (tiny_repo / "reports" / "linkpred.md").read_text()
    doc = json.loads((tiny_repo / "reports" / "linkpred.json").read_text())
    assert "profile **tiny**" in report and "## Correlation with per-node performance" in report
    assert set(doc["variants"]) >= {"gcn", "sage", "gcn_reweight", "fastrp", "deepwalk"}
    analysis = json.loads((tiny_repo / "data/linkpred/evaluate/analysis.json").read_text())
    assert doc["variants"]["gcn"]["auc"] == analysis["summary"]["gcn"]["auc"]  # the report shows what was measured
    verdicts = {c["id"]: c["verdict"] for c in doc["claims"]}
    assert verdicts["fastrp_faster"] in ("holds", "fails") and verdicts["distribution_shift"] in ("holds", "fails")
    for png in ("linkpred.png", "linkpred_tc_scatter.png", "linkpred_bins.png"):
        assert (tiny_repo / "reports" / png).stat().st_size > 1000
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/linkpred")
    assert "Running stage" not in log and time.perf_counter() - t0 < first / 3
