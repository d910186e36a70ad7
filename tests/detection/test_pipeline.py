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
                  "export", "evaluate"):
        assert f"tasks/detection/dvc.yaml:{stage}" in log
    report = (tiny_reports(tiny_repo) / "detection.md").read_text()
    assert "profile **tiny**" in report and "| baseline |" in report
    sweep = json.loads((tiny_repo / "data/detection/cwd_sweep/sweep.json").read_text())
    assert sweep["distill_cwd_weight"] == 10.0 and set(sweep["runs"]) == {"w1"}
    assert "## CWD weight ablation" in report and "| CWD weight 1 |" in report
    doc = json.loads((tiny_reports(tiny_repo) / "detection.json").read_text())
    base = doc["variants"]["baseline"]
    ev = json.loads((tiny_repo / "data/detection/evaluate/baseline.json").read_text())
    assert base["map50"] == ev["map50"] and base["params"] == ev["params"]  # the report shows what evaluate measured
    assert base["params"] > 1e6 and base["latency_ms"]["1"]["p50"] > 0 and base["max_abs_diff_export"] < 2e-3
    # every ablation row, fp32 and INT8, measured by evaluate; every claim has a verdict from our numbers
    rows = ("baseline", "sparse", "pruned", "pruned+ft", "pruned+cwd")
    assert set(doc["variants"]) == set(rows) | {f"{r}+int8" for r in rows}
    for r in rows:
        assert doc["variants"][r]["params"] == json.loads((tiny_repo / f"data/detection/evaluate/{r}.json").read_text())["params"]
    assert doc["variants"]["pruned+cwd"]["params"] < 0.3 * base["params"]
    assert doc["variants"]["pruned+cwd+int8"]["onnx_bytes"] < 0.5 * doc["variants"]["pruned+cwd"]["onnx_bytes"]
    verdicts = {c["id"]: c["point"] for c in doc["claims"]}  # point checks: no intervals in this task yet
    assert_claim_classes(doc)
    assert verdicts["params_reduction"] == "holds" and verdicts["structure_params"] == "holds"
    assert all(v in ("holds", "fails") for v in verdicts.values()), verdicts
    for png in ("detection_gamma.png", "detection_recovery.png"):
        assert (tiny_reports(tiny_repo) / png).stat().st_size > 1000
    assert "## Structural check" in report and "| pruned+ft |" in report
    assert (tiny_reports(tiny_repo) / "detection.png").stat().st_size > 1000
    assert "## Training" in report and (tiny_reports(tiny_repo) / "detection_training.png").stat().st_size > 1000
    curves = sorted(p.name for p in (tiny_reports(tiny_repo) / "curves" / "detection").iterdir())  # DVC plots
    assert curves == ["distill.csv", "finetune.csv", "sparse_train.csv", "train_teacher.csv"]

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
