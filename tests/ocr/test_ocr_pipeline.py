"""The whole OCR pipeline under the tiny profile, through DVC exactly as a user runs it, with the real peers."""
import json
import time

from tests.conftest import assert_claim_classes, assert_tiny_pipeline_time, dvc, tiny_reports


def test_dvc_repro_tiny_ocr_end_to_end(tiny_repo, startup_seconds):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/ocr")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train_det", "train_teacher", "train_student", "train_student_nokd", "export", "evaluate"):
        assert f"tasks/ocr/dvc.yaml:{stage}" in log
    doc = json.loads((tiny_reports(tiny_repo) / "ocr.json").read_text())
    assert set(doc["variants"]) == {"ours-int8", "ours-fp32", "big-model", "tesseract", "rapidocr"}
    res = json.loads((tiny_repo / "data/ocr/evaluate/results.json").read_text())
    for name, v in doc["variants"].items():
        e = res["engines"][name]
        assert v["f1"] == e["overall"]["f1"] and 0 <= v["f1"] <= 1 and v["latency_ms_p50"] > 0
        assert v["usd_per_1000_images"] > 0 and v["peak_rss_mb"] > 0
        assert set(e["per_edge_case"]) and set(e["per_language"])
    # Tesseract is a real peer: it reads something on the tiny set's clean English/Latin words
    assert res["engines"]["tesseract"]["version"]
    verdicts = {c["id"]: c["point"] for c in doc["claims"]}  # point checks: no intervals in this task yet
    assert_claim_classes(doc)
    assert set(verdicts) >= {"edge_best_f1", "edge_f1_per_second", "edge_cost", "big_best_precision",
                             "student_vs_tesseract_edge_cases", "kd_helps"}
    assert all(v in ("holds", "fails") for v in verdicts.values())
    md = (tiny_reports(tiny_repo) / "ocr.md").read_text()
    assert "profile **tiny**" in md and "Word F1 per edge case" in md and "Word F1 per language" in md
    assert (tiny_reports(tiny_repo) / "ocr_breakdown.png").stat().st_size > 1000
    t0 = time.perf_counter()
    again = dvc(tiny_repo, "repro", "tasks/ocr")
    assert "Running stage" not in again  # a second repro is a no-op
    assert time.perf_counter() - t0 < first / 3  # a no-op is a fraction of a build
    assert_tiny_pipeline_time(first, startup_seconds, "OCR")
