"""The whole detection pipeline under the tiny profile, through DVC exactly as a user runs it."""
import json
import time

import pytest

from tests.conftest import assert_claim_classes, dvc, tiny_reports


def test_dvc_repro_tiny_detection_end_to_end(tiny_repo):
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/detection")
    first = time.perf_counter() - t0
    for stage in ("prepare", "train_teacher", "sparse_train", "prune", "structure", "finetune", "distill", "cwd_sweep",
                  "export", "peer", "evaluate"):
        assert f"tasks/detection/dvc.yaml:{stage}" in log
    data = tiny_repo / "data/detection"
    sweep = json.loads((data / "cwd_sweep/sweep.json").read_text())
    assert sweep["distill_cwd_weight"] == 1.0 and set(sweep["runs"]) == {"w3"}
    prune = json.loads((data / "prune/prune.json").read_text())
    assert set(prune["kept_channels"]) == {"model.15", "model.18", "model.21"}
    assert [len(v) for v in prune["kept_channels"].values()] == [32, 64, 128]  # yolov8n's 64/128/256, halved
    bf = prune["before_finetune"]
    assert len(bf["random"]) == 1 and "map50" in bf["bn_scale"]
    assert bf["recalibrate_images"] == 24  # every training image of tiny (fewer than the 128 asked for)
    assert "map50" in bf["bn_scale"]["recalibrated"] and "map50" in bf["random"][0]["recalibrated"]
    assert json.loads((data / "distill/seeds.json").read_text())["seeds"] == [0]
    # every deployable variant on ONNX Runtime (tiny), fp32 and INT8, each scored and timed; ultralytics' export too
    ev = json.loads((data / "evaluate/metrics.json").read_text())
    runs = {(r["variant"], r["backend"], r["precision"], r["producer"]): r for r in ev["runs"]}
    for v in ("baseline", "pruned+ft", "pruned+cwd"):
        for backend in ("onnxruntime",):
            for precision in ("fp32", "int8"):
                r = runs[(v, backend, precision, "edgerepro")]
                assert 0 <= r["map50"] <= 1 and r["latency"]["128"]["latency_ms"]["1"]["p50"] > 0
                assert ("int8" in r["precision_used"]) == (precision == "int8")
    assert runs[("baseline", "openvino", "fp32", "ultralytics")]["options"]["export"] == "openvino"
    # peak memory is the measuring process's own: a tiny INT8 model adds tens of MB, not the parent's hundreds
    assert runs[("pruned+cwd", "onnxruntime", "int8", "edgerepro")]["peak_mem_mb"] < 100
    assert ev["variants"]["pruned+cwd"]["params"] < 0.3 * ev["variants"]["baseline"]["params"]
    assert runs[("baseline", "openvino", "fp32", "ultralytics")]["precision_used"] in ("fp32", "bf16")
    peer = json.loads((data / "peer/manifest.json").read_text())
    assert 0 <= peer["our_onnx_ultralytics_val"]["map50"] <= 1
    report = (tiny_reports(tiny_repo) / "detection.md").read_text()
    assert "profile **tiny**" in report and "| baseline |" in report
    doc = json.loads((tiny_reports(tiny_repo) / "detection.json").read_text())
    assert_claim_classes(doc)
    assert (tiny_reports(tiny_repo) / "detection.png").stat().st_size > 1000
    curves = sorted(p.name for p in (tiny_reports(tiny_repo) / "curves" / "detection").iterdir())  # DVC plots
    assert "train_teacher.csv" in curves and "sparse_train.csv" in curves

    # every export (fp32 and INT8) carries ultralytics' metadata: ultralytics loads it with the data's classes
    import yaml
    from ultralytics import YOLO

    from common.export.onnx import onnx_metadata

    names = yaml.safe_load((tiny_repo / "data/detection/prepare/dataset/data.yaml").read_text())["names"]
    for onnx in sorted((tiny_repo / "data/detection/export").glob("*.onnx")):
        meta = onnx_metadata(onnx)
        assert yaml.safe_load(meta["names"]) == names and meta["task"] == "detect", onnx.name
        assert meta["precision"] == ("int8" if onnx.stem.endswith("+int8") else "fp32")
    img = sorted((tiny_repo / "data/detection/prepare/dataset/images/val").iterdir())[0]
    res = YOLO(str(tiny_repo / "data/detection/export/pruned+cwd+int8.onnx"), task="detect").predict(
        str(img), imgsz=128, conf=0.001, verbose=False)[0]
    assert res.names == names

    # the index renders from the reports present (the whole graph — every task's tiny pipeline, which each
    # task's own test already runs — is the slow test below); a second repro of the task is a no-op
    from common.reports.tables import render_index

    assert "[detection](detection.md)" in render_index(tiny_reports(tiny_repo))
    t0 = time.perf_counter()
    log = dvc(tiny_repo, "repro", "tasks/detection")
    noop = time.perf_counter() - t0
    assert "Running stage" not in log
    assert noop < first / 5  # a no-op costs a small fraction of a real run

    # a change to one stage's params reruns that stage and what follows, not prepare
    p = tiny_repo / "tasks/detection/params.yaml"
    p.write_text(p.read_text().replace("evaluate: {warmup: 2, runs: 5", "evaluate: {warmup: 2, runs: 6"))
    log = dvc(tiny_repo, "repro", "tasks/detection")
    assert "Running stage 'tasks/detection/dvc.yaml:evaluate'" in log
    assert "Running stage 'tasks/detection/dvc.yaml:prepare'" not in log
    assert "Running stage 'tasks/detection/dvc.yaml:train_teacher'" not in log
    assert "Running stage 'tasks/detection/dvc.yaml:distill'" not in log


@pytest.mark.slow
def test_dvc_repro_tiny_whole_graph(tiny_repo):
    """Every task's tiny pipeline and the ``tables`` index in one ``dvc repro``; then nothing is left to do."""
    dvc(tiny_repo, "repro", timeout=1800)
    index = (tiny_reports(tiny_repo) / "README.md").read_text()
    for task in ("detection", "linkpred", "pose", "ocr", "superres", "edges", "reid"):
        assert f"[{task}]({task}.md)" in index
    log = dvc(tiny_repo, "repro")
    assert "Running stage" not in log and "up to date" in log.lower()
