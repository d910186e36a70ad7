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
    assert list(doc["variants"]) == ["alone", "kd", "pcm", "pcm_fr", "teacher"]
    for name, v in doc["variants"].items():
        for k in ("map_visual", "rank1_visual", "minp_visual"):
            assert 0 <= v[k] <= 1, (name, k, v[k])
        assert v["map_ir_rgb"] == res["models"][name]["pairs"]["ir_rgb"]["map"]
        assert v["latency_ms_torch"] > 0
        if name != "teacher":  # every student is exported, quantised, scored and timed on the profile's runtimes
            assert v["latency_ms_ort"] > 0 and v["latency_ms_ort_int8"] > 0
            assert 0 <= v["map_visual_ort_int8"] <= 1
            assert "map_text_rgb" not in v  # visual-only
    assert "map_text_rgb" in doc["variants"]["teacher"]
    assert doc["variants"]["teacher"]["params"] > 10 * doc["variants"]["pcm_fr"]["params"]
    assert {(r["variant"], r["backend"], r["precision"]) for r in res["runtimes"]} == {
        (v, "onnxruntime", p) for v in ("alone", "kd", "pcm", "pcm_fr") for p in ("fp32", "int8")}
    # tuning: each tuned weight tried on the tuning identities, the chosen value in the variants that use it
    tune = res["tune"]
    assert set(tune["chosen"]) == {"kd_weight", "pcm_weight"} and len(tune["runs"]) == 2
    assert all(0 <= t["tune_map_visual"] <= 1 and t["tune_pairs"] for t in tune["runs"].values())
    train = res["train"]
    s0 = str(res["models"]["kd"]["seeds"][0])
    assert train["kd"][s0]["reused_from"] == "tune/kd_weight@1"  # same weight and seed: the tuning run itself
    assert train["alone"][s0]["settings"]["pcm_weight"] == 0 and train["pcm_fr"][s0]["settings"]["pcm_weight"] > 0
    assert train["pcm_fr"][s0]["settings"]["fr_weight"] > 0 and train["kd"][s0]["settings"]["kd_weight"] > 0
    assert train["pcm"][s0]["pcm_k"]["min"] >= 1 and train["kd"][s0]["pcm_k"] is None
    # LoRA trains only adapters in the text encoder (+ its projection neck)
    t = train["teacher"]
    assert 0 < t["text_lora_params"] <= t["text_trainable_params"] < 0.02 * t["text_params"]
    sp = res["spectrum"]["teacher"]
    assert sp["dim"] == 256 and 1 <= sp["k"]["0.9"] <= sp["k"]["0.99"] <= 256
    assert set(res["spectrum"]["students"]) == {s0}
    # intervals: a bootstrap over the test queries (one seed at tiny)
    import numpy as np

    with np.load(tiny_repo / "data/reid/evaluate/per_query.npz") as z:
        assert f"kd@{s0}/ir_rgb/ap" in z.files and "rank_frac_090/teacher" in z.files
    claims = {c["id"]: c for c in doc["claims"]}
    assert_claim_classes(doc)
    assert set(claims) == {"pcm_fr_beats_kd", "teacher_low_rank", "teacher_lower_rank_than_trained",
                           "distillation_helps", "pcm_beats_kd", "fr_adds_to_pcm"}
    assert all(c["lo"] is not None and c["lo"] <= c["ours"] <= c["hi"] for c in claims.values())
    assert "bootstrap over" in claims["pcm_beats_kd"]["noise"]
    md = (tiny_reports(tiny_repo) / "reid.md").read_text()
    assert "profile **tiny**" in md and "Assumptions" in md and "reid_spectrum.png" in md and "65.29" in md
    assert "## Tuning the distillation weights" in md and "## Runtimes" in md and "## Seeds" in md
    for png in ("reid.png", "reid_spectrum.png"):
        assert (tiny_reports(tiny_repo) / png).stat().st_size > 5000
    t0 = time.perf_counter()
    again = dvc(tiny_repo, "repro", "tasks/reid")
    assert "Running stage" not in again  # a second repro is a no-op
    assert time.perf_counter() - t0 < first / 3  # a no-op is a fraction of a build
    assert_tiny_pipeline_time(first, startup_seconds, "ReID")
