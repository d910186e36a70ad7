"""The whole edge pipeline under the tiny profile, through DVC exactly as a user runs it."""
import json
import time

from tests.conftest import assert_claim_classes, assert_tiny_pipeline_time, dvc, tiny_reports


def test_dvc_repro_tiny_edges_end_to_end(tiny_repo, startup_seconds):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/edges")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train_autoencoder", "train_diffusion", "train_baseline", "sample", "evaluate"):
        assert f"tasks/edges/dvc.yaml:{stage}" in log
    res = json.loads((tiny_repo / "data/edges/evaluate/results.json").read_text())
    doc = json.loads((tiny_reports(tiny_repo) / "edges.json").read_text())
    expected = {"canny", "rcf", "diffusionedge@1", "diffusionedge@2", "no_aff@1", "no_ud@1", "autoencoder"}
    assert set(doc["variants"]) == expected == set(res["rows"])
    for name, v in doc["variants"].items():
        assert v["ods"] == res["rows"][name]["standard"]["ods"]
        for k in ("ods", "ois", "ap", "ods_crisp", "ois_crisp", "ac"):
            assert 0 <= v[k] <= 1, (name, k, v[k])
        if name != "autoencoder":  # the ceiling reads the ground truth: no latency
            assert v["latency_ms_torch"] > 0
    assert doc["variants"]["canny"]["params"] == 0
    for name, v in doc["variants"].items():  # every detector but Canny is exported and timed in onnxruntime
        if name not in ("canny", "autoencoder"):
            assert v["latency_ms_onnx"] > 0 and not v["onnx_error"], (name, v["onnx_error"])
    assert doc["variants"]["diffusionedge@1"]["params"] > doc["variants"]["rcf"]["params"]
    train = res["train"]
    assert train["diffusionedge"]["settings"]["aff"] and not train["no_aff"]["settings"]["aff"]
    assert train["diffusionedge"]["settings"]["ud"] and not train["no_ud"]["settings"]["ud"]
    verdicts = {c["id"]: c["point"] for c in doc["claims"]}  # point checks: no intervals in this task yet
    assert_claim_classes(doc)
    assert set(verdicts) == {"crisper_than_cnn", "better_ods_no_post", "better_ois_no_post", "aff_helps", "ud_helps",
                             "beats_canny"}
    assert all(v in ("holds", "fails") for v in verdicts.values())
    md = (tiny_reports(tiny_repo) / "edges.md").read_text()
    assert "profile **tiny**" in md and "Ablations from the paper" in md and "edges_comparison.png" in md
    assert "pyEdgeEval" in md and "9 evenly spaced thresholds" in md
    for png in ("edges.png", "edges_comparison.png", "edges_pr.png"):
        assert (tiny_reports(tiny_repo) / png).stat().st_size > 5000
    t0 = time.perf_counter()
    again = dvc(tiny_repo, "repro", "tasks/edges")
    assert "Running stage" not in again  # a second repro is a no-op
    assert time.perf_counter() - t0 < first / 3  # a no-op is a fraction of a build
    assert_tiny_pipeline_time(first, startup_seconds, "edge")
