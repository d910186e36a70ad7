"""The whole super-resolution pipeline under the tiny profile, through DVC exactly as a user runs it."""
import json
import time

from tests.conftest import assert_claim_classes, assert_tiny_pipeline_time, dvc, tiny_reports


def test_dvc_repro_tiny_superres_end_to_end(tiny_repo, startup_seconds):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/superres")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train_autoencoder", "train_diffusion", "train_features", "one_step", "one_step_kd",
                  "export", "evaluate"):
        assert f"tasks/superres/dvc.yaml:{stage}" in log
    res = json.loads((tiny_repo / "data/superres/evaluate/results.json").read_text())
    doc = json.loads((tiny_reports(tiny_repo) / "superres.json").read_text())
    expected = {"bicubic", "multistep-8", "multistep-2", "multistep-1", "d3sr", "dists_only", "fixed_t", "mse_only",
                "one_step_kd", "autoencoder", "autoencoder_bicubic"}
    assert set(doc["variants"]) == expected
    for name, v in doc["variants"].items():
        assert v["psnr"] == res["models"][name]["psnr"] and 5 < v["psnr"] < 60
        assert 0 <= v["ssim"] <= 1 and v["dists"] >= 0 and v["edge_l1"] >= 0
        if not name.startswith("autoencoder"):
            assert v["latency_ms_torch"] > 0 and v["latency_s"] > 0
    for name in ("bicubic", "d3sr", "one_step_kd", "multistep-8"):
        assert doc["variants"][name]["latency_ms_onnx"] > 0  # every deployed model has an ONNX graph
    # the multi-step model calls its UNet 8 times, the one-step model once
    assert doc["variants"]["multistep-8"]["latency_ms_onnx"] > 2 * doc["variants"]["d3sr"]["latency_ms_onnx"]
    train = res["train"]
    assert {"autoencoder", "diffusion", "features", "d3sr", "dists_only", "fixed_t", "mse_only", "one_step_kd"} <= set(train)
    assert train["d3sr"]["settings"]["edge_weight"] > 0 and train["dists_only"]["settings"]["edge_weight"] == 0
    assert train["fixed_t"]["settings"]["disc_timesteps"] == "fixed" and train["one_step_kd"]["settings"]["kd"]
    mse = train["mse_only"]["settings"]
    assert mse["dists_weight"] == 0 and mse["adv_weight"] == 0 and "discriminator_params" not in train["mse_only"]
    assert "perceptual_psnr_cost" in doc["derived"] and "MSE term alone" in (tiny_reports(tiny_repo) / "superres.md").read_text()
    assert train["d3sr"]["trainable_params"] < train["d3sr"]["params"] / 5  # LoRA only
    verdicts = {c["id"]: c["point"] for c in doc["claims"]}  # point checks: no intervals in this task yet
    assert_claim_classes(doc)
    assert set(verdicts) == {"one_step_speedup", "fewer_params", "d3sr_vs_kd_perceptual", "ea_dists_edges",
                             "random_t_discriminator", "beats_bicubic_psnr", "beats_bicubic_perceptual"}
    assert all(v in ("holds", "fails") for v in verdicts.values())
    md = (tiny_reports(tiny_repo) / "superres.md").read_text()
    assert "profile **tiny**" in md and "EA-DISTS vs DISTS only" in md and "superres_comparison.png" in md
    assert "not available offline" in md
    assert (tiny_reports(tiny_repo) / "superres_comparison.png").stat().st_size > 5000
    t0 = time.perf_counter()
    again = dvc(tiny_repo, "repro", "tasks/superres")
    assert "Running stage" not in again  # a second repro is a no-op
    assert time.perf_counter() - t0 < first / 3  # a no-op is a fraction of a build
    assert_tiny_pipeline_time(first, startup_seconds, "super-resolution")
