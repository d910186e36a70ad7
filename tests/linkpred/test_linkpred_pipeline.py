"""The whole link-prediction pipeline under the tiny profile, through DVC as a user runs it."""
import json
import time

from tests.conftest import assert_claim_classes, dvc, tiny_reports


def test_dvc_repro_tiny_linkpred_end_to_end(tiny_repo):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/linkpred")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train", "concentration", "embed", "evaluate"):
        assert f"tasks/linkpred/dvc.yaml:{stage}" in log
    out = tiny_reports(tiny_repo)
    report = (out / "linkpred.md").read_text()
    doc = json.loads((out / "linkpred.json").read_text())
    assert not (tiny_repo / "reports" / "linkpred.md").exists()  # a tiny run never writes the committed reports/
    assert "profile **tiny**" in report and "## Correlation with per-node performance" in report
    assert set(doc["variants"]) >= {"gcn", "sage", "gcn_reweight", "common_neighbours", "fastrp", "deepwalk"}
    analysis = json.loads((tiny_repo / "data/linkpred/evaluate/analysis.json").read_text())
    assert doc["variants"]["gcn"]["auc"] == analysis["variants"]["gcn"]["auc"]  # the report shows what was measured
    # every seed was trained and tested, and the per-item results the bootstrap reads are there
    summary = json.loads((tiny_repo / "data/linkpred/train/summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]["gcn"]] == [0, 1] and doc["variants"]["gcn"]["seeds"] == 2
    assert all((tiny_repo / f"data/linkpred/train/gcn/seed{i}/scores.npz").is_file() for i in (0, 1))
    assert_claim_classes(doc)
    claims = {c["id"]: c for c in doc["claims"]}
    shift = claims["distribution_shift"]  # TC is computed, not trained: an interval over nodes, 0 seeds
    assert shift["verdict"] in ("holds", "fails", "inconclusive") and shift["n_seeds"] == 0 and "nodes" in shift["n_items"]
    assert claims["fastrp_faster"]["n_seeds"] == 2 and claims["fastrp_faster"]["lo"] < claims["fastrp_faster"]["hi"]
    for png in ("linkpred.png", "linkpred_tc_scatter.png", "linkpred_bins.png", "linkpred_ablations.png"):
        assert (out / png).stat().st_size > 1000
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/linkpred")
    assert "Running stage" not in log and time.perf_counter() - t0 < first / 3
    written = [p for p in (tiny_repo / "reports").rglob("*") if p.is_file() and "benchmarks" not in p.parts]
    assert written == [], written  # reports/ holds only what the copy brought (the benchmarks' JSONs)
