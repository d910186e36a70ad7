"""The whole ReID pipeline under the tiny profile, through DVC exactly as a user runs it."""
import json
import time

from tests.conftest import assert_claim_classes, assert_tiny_pipeline_time, dvc, tiny_reports


def test_dvc_repro_tiny_reid_end_to_end(tiny_repo, startup_seconds):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/reid")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train_teacher", "train_student", "evaluate"):
        assert f"tasks/reid/dvc.yaml:{stage}" in log
    res = json.loads((tiny_repo / "data/reid/evaluate/results.json").read_text())
    doc = json.loads((tiny_reports(tiny_repo) / "reid.json").read_text())
    assert list(doc["variants"]) == ["alone", "kd", "pcm", "fr", "pcm_fr", "teacher", "alone_s1"]
    for name, v in doc["variants"].items():
        for k in ("map_visual", "rank1_visual", "minp_visual"):
            assert 0 <= v[k] <= 1, (name, k, v[k])
        assert v["map_ir_rgb"] == res["models"][name]["pairs"]["ir_rgb"]["map"]
        assert v["latency_ms_torch"] > 0
        if name != "teacher":  # every student is exported, quantised and timed
            assert v["latency_ms_onnx"] > 0 and v["latency_ms_onnx_int8"] > 0
            assert "map_text_rgb" not in v  # visual-only
    assert "map_text_rgb" in doc["variants"]["teacher"]
    assert doc["variants"]["teacher"]["params"] > 10 * doc["variants"]["pcm_fr"]["params"]
    # distillation settings reached the right variants; PCM logged its adaptive k
    train = res["train"]
    assert train["alone"]["settings"]["pcm_weight"] == 0 and train["pcm_fr"]["settings"]["pcm_weight"] > 0
    assert train["pcm_fr"]["settings"]["fr_weight"] > 0 and train["kd"]["settings"]["kd_weight"] > 0
    assert train["pcm"]["pcm_k"]["min"] >= 1 and train["kd"]["pcm_k"] is None
    # LoRA trains only adapters in the text encoder (+ its projection neck)
    t = train["teacher"]
    assert 0 < t["text_lora_params"] <= t["text_trainable_params"] < 0.02 * t["text_params"]
    sp = res["spectrum"]["teacher"]
    assert sp["dim"] == 256 and 1 <= sp["k"]["0.9"] <= sp["k"]["0.99"] <= 256
    verdicts = {c["id"]: c["point"] for c in doc["claims"]}  # point checks: no intervals in this task yet
    assert_claim_classes(doc)
    assert set(verdicts) == {"pcm_fr_beats_kd", "teacher_low_rank", "distillation_helps", "pcm_beats_kd", "fr_adds_to_pcm"}
    assert all(v in ("holds", "fails") for v in verdicts.values())
    md = (tiny_reports(tiny_repo) / "reid.md").read_text()
    assert "profile **tiny**" in md and "Assumptions" in md and "reid_spectrum.png" in md and "65.29" in md
    for png in ("reid.png", "reid_spectrum.png"):
        assert (tiny_reports(tiny_repo) / png).stat().st_size > 5000
    t0 = time.perf_counter()
    again = dvc(tiny_repo, "repro", "tasks/reid")
    assert "Running stage" not in again  # a second repro is a no-op
    assert time.perf_counter() - t0 < first / 3  # a no-op is a fraction of a build
    assert_tiny_pipeline_time(first, startup_seconds, "ReID")
