"""The detection report on a hand-written ``data/detection`` tree in the pipeline's formats: every exported model in
the runtime table with the precision its runtime used, what could not run and why, and the verdict classes of its
claims (a baseline still rising leaves the AP50-drop claim without its premise; straddling intervals are
inconclusive)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tasks.detection import report

PAPER = Path(__file__).resolve().parents[2] / "tasks" / "detection" / "paper.yaml"
PLATEAU = [0.30, 0.55, 0.70, 0.78, 0.82, 0.845, 0.846, 0.85, 0.848, 0.851, 0.849]  # the last 5 gain 0.6 point
RISING = [0.30, 0.40, 0.50, 0.60, 0.65, 0.70, 0.72, 0.74, 0.76, 0.78, 0.80]  # gains 10 points over the last 5
UNAVAILABLE = [
    {"variant": "pruned+cwd", "backend": "litert", "precision": "fp32",
     "reason": "litert-torch conversion needs a network download of its converter plugins"},
    {"variant": "pruned+cwd", "backend": "tensorrt", "precision": "fp16", "reason": "TensorRT needs a GPU; none here"},
    {"variant": "baseline", "backend": "ncnn", "precision": "int8",
     "reason": "no ncnn quantization tools in the wheels"},
]
# (backend, precision asked, precision used, latency factor vs ONNX Runtime fp32)
OURS = [("onnxruntime", "fp32", "fp32", 1.0), ("onnxruntime", "int8", "int8 (QDQ)", 0.55),
        ("openvino", "fp32", "bf16", 0.4), ("openvino", "int8", "int8 (NNCF) + bf16", 0.5),
        ("ncnn", "fp16", "fp16", 0.8)]
PEERS = [("openvino", "int8", "int8 (NNCF) + bf16", 0.45, 0.81), ("ncnn", "fp32", "fp32", 0.9, 0.83)]


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _log(path: Path, curve: list[float], distill: bool = False) -> None:
    """A Lightning CSVLogger file: step rows with the training losses (every 5 steps, 2 per epoch), then one
    validation row per epoch."""
    cols = ["epoch", "step", "train/box", "train/cls", "train/dfl", "train/loss", "train/lr", "val/map50",
            "val/map50_95"] + (["train/distill_0", "train/distill_1", "train/distill_2"] if distill else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for e, m in enumerate(curve):
            for k in range(2):
                row = {"epoch": e, "step": 10 * e + 5 * k + 4, "train/box": 2.0 - 0.1 * e, "train/cls": 3.0 - 0.2 * e,
                       "train/dfl": 1.0, "train/loss": 6.0, "train/lr": 0.01}
                if distill:  # 1.5 of 7.5 at the first step: 20 %
                    row.update({"train/distill_0": 0.5, "train/distill_1": 0.5, "train/distill_2": 0.5 - 0.01 * e})
                w.writerow(row)
            w.writerow({"epoch": e, "step": 10 * e + 9, "val/map50": m, "val/map50_95": m * 0.6})


def _latency(ms: float, sizes: list[int], spread: float = 0.02) -> dict:
    out = {}
    for s in sizes:
        k = (s / sizes[0]) ** 2
        per = {}
        for t in (1, 2):
            base = ms * k / (1.0 if t == 1 else 1.7)
            times = [round(base * (1 + spread * ((i * 7) % 11 - 5) / 5), 4) for i in range(30)]
            srt = sorted(times)
            per[str(t)] = {"p50": (srt[14] + srt[15]) / 2, "p90": srt[27], "mean": sum(times) / 30, "runs": 30,
                           "times": times}
        out[str(s)] = {"latency_ms": per, "precision_used": "fp32", "peak_mem_mb": 30.0, "size": s}
    return out


def make_tree(root: Path, *, baseline_curve=PLATEAU, ft=(0.80, 0.81, 0.79), cwd=(0.83, 0.832, 0.828),
              bn_scale=0.40, random=(0.01, 0.02, 0.005), frac_below_0_1=0.35, sizes=(256, 640), recal=None,
              speed=(10.0, 3.0), ultralytics_val_of_ours=0.848, unavailable=UNAVAILABLE) -> Path:
    """``root/data/detection`` as the pipeline writes it (only the files the report reads). ``ft`` / ``cwd``: the
    validation mAP50 of each seed (seeds 0, 1, …); ``random``: the random-prune draws' mAP50; ``speed``: ONNX
    Runtime fp32 p50 ms at 1 thread, trained size, of the baseline and of the pruned models."""
    d = root / "data" / "detection"
    sizes = list(sizes)
    imgsz = sizes[0]
    _json(d / "prepare/stats.json", {
        "source": "visdrone", "classes": ["pedestrian"] * 10, "nc": 10,
        "splits": {"train": {"images": 6471, "boxes": 343205}, "val": {"images": 548, "boxes": 38759}},
        "raw_dir": "data/detection/raw",
        "raw_splits": {"train": "VisDrone2019-DET-train", "val": "VisDrone2019-DET-val"},
        "clipped_boxes": {"train": 1234, "val": 56}, "clipped_boxes_total": 1290})
    base = baseline_curve[-1]
    _json(d / "train_teacher/metrics.json", {"val/map50": base, "val/map50_95": base * 0.6, "train_seconds": 600.0,
                                             "epochs": len(baseline_curve), "optimizer_steps": 400,
                                             "model_cfg": "yolov8n.yaml", "imgsz": imgsz, "imported_checkpoint": None})
    _log(d / "train_teacher/logs/metrics.csv", list(baseline_curve))
    gamma = {"count": 5200, "mean": 0.5, "median": 0.4, "l1": 2600.0, "frac_below_0.001": 0.0,
             "frac_below_0.01": frac_below_0_1 / 3, "frac_below_0.1": frac_below_0_1}
    _json(d / "sparse_train/metrics.json", {
        "val/map50": base + 0.01, "val/map50_95": base * 0.6, "epochs": 6, "model_cfg": "yolov8n.yaml", "imgsz": imgsz,
        "gamma": {"before": {**gamma, "mean": 1.0, "median": 1.0, "l1": 5200.0, "frac_below_0.01": 0.0,
                             "frac_below_0.1": 0.0}, "after": gamma}})
    _log(d / "sparse_train/logs/metrics.csv", [base] * 6)
    (d / "sparse_train/gamma_hist.png").write_bytes(b"\x89PNG fake")
    _json(d / "prune/prune.json", {
        "input": "data/detection/sparse_train/model.pt", "mode": "uniform", "ratio": 0.5, "params_before": 3012798,
        "params_after": 759638, "gflops_before": 1.29, "gflops_after": 0.33, "input_shape": [1, 3, imgsz, imgsz],
        "params_ratio": 0.2521, "gflops_ratio": 0.2553,
        "kept_channels": {"model.15": list(range(32)), "model.18": list(range(64)), "model.21": list(range(128))},
        "before_finetune": {"parent": {"map50": base, "map50_95": base * 0.6},
                            "bn_scale": {"map50": bn_scale, "map50_95": bn_scale * 0.6,
                                         **({"recalibrated": {"map50": recal[0], "map50_95": recal[0] * 0.6}}
                                            if recal else {})},
                            "random": [{"seed": i, "map50": m, "map50_95": m * 0.6,
                                        **({"recalibrated": {"map50": r, "map50_95": r * 0.6}} if recal else {})}
                                       for i, (m, r) in enumerate(zip(random, recal[1] if recal else random))],
                            "recalibrate_images": 128 if recal else 0}})
    for stage, vals in (("finetune", ft), ("distill", cwd)):
        seeds = list(range(len(vals)))
        runs = {str(s): {"val/map50": v, "val/map50_95": v * 0.6, "train_seconds": 300.0} for s, v in zip(seeds, vals)}
        _json(d / stage / "seeds.json", {"stage": stage, "seeds": seeds, "runs": runs})
        _json(d / stage / "metrics.json", {**runs["0"], "stage": stage, "seeds": seeds})
        for s, v in zip(seeds, vals):
            if stage == "distill":  # Lightning's copy of the module's arguments
                (d / stage / "seeds" / str(s) / "logs").mkdir(parents=True, exist_ok=True)
                (d / stage / "seeds" / str(s) / "logs/hparams.yaml").write_text(
                    "teacher_weights: data/detection/sparse_train/model.pt\n"
                    "kept_channels: data/detection/prune/prune.json\n"
                    "distill_taps: null\ncwd_tau: 1.0\ncwd_weight: 2.0\n")
            # flat over the last 5 epochs (gain 0.3 point): every seed at its plateau
            _log(d / stage / "seeds" / str(s) / "logs/metrics.csv", [v - 0.1, v - 0.003, v - 0.001, v, v - 0.002, v, v],
                 distill=stage == "distill")
    _json(d / "cwd_sweep/sweep.json", {
        "distill_cwd_weight": 2.0, "cwd_tau": 1.0, "seed": 0,
        "runs": {"w8": {"cwd_weight": 8.0, "cwd_tau": 1.0, "val/map50": cwd[0] - 0.02, "val/map50_95": 0.5,
                        "train_seconds": 300.0},
                 "t4": {"cwd_weight": 2.0, "cwd_tau": 4.0, "val/map50": cwd[0] + 0.005, "val/map50_95": 0.5,
                        "train_seconds": 300.0}}})
    _json(d / "structure/structure.json", {  # yolov8m at 640 as the `structure` stage counts it
        "model_cfg": "yolov8m.yaml", "imgsz": 640, "mode": "uniform", "ratio": 0.5, "params_before": 25862000,
        "params_after": 6479000, "gflops_before": 78.7, "gflops_after": 19.8, "input_shape": [1, 3, 640, 640],
        "params_ratio": 0.2505, "gflops_ratio": 0.2516, "gmacs_before": 39.35, "gmacs_after": 9.9,
        "tp_gmacs_before": 39.5, "tp_gmacs_after": 9.9, "flops_convention": "GFLOPs = 2 x GMACs"})
    variants, runs = {}, []
    for name, acc, params, ms in (("baseline", base, 3012798, speed[0]), ("pruned+ft", ft[0], 759638, speed[1]),
                                  ("pruned+cwd", cwd[0], 759638, speed[1])):
        g = 1.29 if name == "baseline" else 0.33
        variants[name] = {"variant": name, "params": params, "params_m": params / 1e6,
                          "gflops": {str(s): g * (s / imgsz) ** 2 for s in sizes},
                          "pytorch": {"map50": acc, "map50_95": acc * 0.6}}
        for backend, prec, used, f in OURS:
            m = acc - (0.004 if "int8" in prec else 0.0)
            runs.append({"key": f"{name}/{backend}/{prec}", "variant": name, "backend": backend, "precision": prec,
                         "producer": "edgerepro", "file_bytes": params * (1 if "int8" in prec else 4),
                         "options": {}, "map50": m, "map50_95": m * 0.6, "precision_used": used,
                         "map50_drop_vs_pytorch_points": 100 * (acc - m), "latency": _latency(ms * f, sizes),
                         "peak_mem_mb": 30.0 + f})
    for backend, prec, used, f, uval in PEERS:
        runs.append({"key": f"baseline/{backend}/{prec}", "variant": "baseline", "backend": backend, "precision": prec,
                     "producer": "ultralytics", "file_bytes": 3012798 * 4,
                     "options": {"export": backend, "ultralytics_val": {"map50": uval, "map50_95": uval * 0.6}},
                     "map50": uval - 0.002, "map50_95": uval * 0.6, "precision_used": used,
                     "latency": _latency(speed[0] * f, sizes), "peak_mem_mb": 80.0})
    _json(d / "evaluate/metrics.json", {
        "hardware": {"cpu": "Test CPU", "logical_cores": 2, "onnxruntime": "1.32.0", "torch": "2.14.1",
                     "python": "3.11.7", "openvino": "2026.4.1", "ncnn": "1.0.20261020", "litert": None,
                     "tensorrt": None},
        "imgsz": imgsz, "latency_sizes": sizes, "threads": [1, 2], "variants": variants, "runs": runs,
        "unavailable": list(unavailable),
        "peer": {"imgsz": imgsz, "latency_sizes": sizes, "ultralytics": "8.4.190",
                 "ultralytics_val": {"openvino_int8": {"map50": 0.81}, "ncnn": {"map50": 0.83}},
                 "our_onnx_ultralytics_val": {"file": "data/detection/export/baseline.onnx",
                                              "map50": ultralytics_val_of_ours, "map50_95": 0.43}}})
    return d


def claims(data: Path) -> dict[str, dict]:
    """The claims' verdicts without rendering (what the report's claims table shows)."""
    from common.reports.render import check_claims
    from common.reports.schema import load_paper

    derived, _ = report.derive(report.load_inputs(data), data)
    return {c["id"]: c for c in check_claims(load_paper(PAPER), derived, "smoke")}


def render(tmp_path: Path, **kw) -> tuple[str, dict, Path]:
    data = make_tree(tmp_path, **kw)
    out = tmp_path / "reports"
    doc = report.run(data, out, profile="smoke", paper_path=PAPER)
    return (out / "detection.md").read_text(), doc, out


def section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_runtime_table_lists_every_artifact_with_its_precision_used_and_what_could_not_run(tmp_path):
    md, doc, out = render(tmp_path)
    table = section(md, "Runtimes")
    ev = json.loads((tmp_path / "data/detection/evaluate/metrics.json").read_text())
    lines = [ln for ln in table.splitlines() if ln.startswith("| ") and not ln.startswith("| Variant")]
    assert len(lines) == len(ev["runs"]) == 3 * len(OURS) + len(PEERS)
    for r in ev["runs"]:
        producer = "ours" if r["producer"] == "edgerepro" else "ultralytics"
        row = f"| {r['variant']} | {r['backend']} | {r['precision']} → {r['precision_used']} | {producer} |"
        assert sum(ln.startswith(row) for ln in lines) == 1, row
    # ultralytics' own val beside ours on its rows; p50 at both sizes and both thread counts
    assert "| baseline | ncnn | fp32 → fp32 | ultralytics | 0.828 | 0.830 |" in table
    assert "p50 ms @256 1 thr | p50 ms @256 2 thr | p50 ms @640 1 thr | p50 ms @640 2 thr" in table
    for u in UNAVAILABLE:
        assert f"`{u['variant']}` on {u['backend']} {u['precision']}: {u['reason']}" in table
    assert doc["unavailable"] == UNAVAILABLE and len(doc["runtimes"]) == len(ev["runs"])
    # the header names the data it ran on and every runtime
    head = md.split("## Paper vs ours")[0]
    assert "VisDrone2019-DET" in head and "VisDrone2019-DET-train" in head and "1,290 boxes crossing" in head
    assert "CWD teacher `data/detection/sparse_train/model.pt` (the pruned model's parent), weight 2.0" in head
    assert "OpenVINO 2026.4.1" in head and "ncnn 1.0.20261020" in head and "LiteRT not installed" in head
    for png in ("detection.png", "detection_recovery.png", "detection_training.png", "detection_gamma.png"):
        assert (out / png).stat().st_size > 0, png
    assert sorted(p.name for p in (out / "curves/detection").iterdir()) == [
        "distill-seeds-0.csv", "distill-seeds-1.csv", "distill-seeds-2.csv", "finetune-seeds-0.csv",
        "finetune-seeds-1.csv", "finetune-seeds-2.csv", "sparse_train.csv", "train_teacher.csv"]
    # the CWD terms' share of the loss, from distill's step rows: 1.5 / 7.5 at the first step
    assert "20 % at the first logged step" in md
    structure = section(md, "Structural check at the paper's scale")
    assert "| GMACs, Torch-Pruning count_ops_and_params |  | 39.5 |  | 9.9 |" in structure
    assert doc["variants"]["pruned+cwd"]["map50"]["value"] == pytest.approx(0.83)  # root params.yaml's headline


def test_ap50_drop_needs_the_baseline_at_its_plateau(tmp_path):
    at = claims(make_tree(tmp_path / "a"))
    assert at["ap50_drop"]["verdict"] == "holds", at["ap50_drop"]  # drops 1.9, 1.7, 2.1 points: ≤ 2.4 at 95 %
    rising = claims(make_tree(tmp_path / "b", baseline_curve=RISING, cwd=(0.78, 0.785, 0.775)))
    assert rising["ap50_drop"]["verdict"] == "precondition unmet", rising["ap50_drop"]
    assert "baseline_plateau_gain_points" in rising["ap50_drop"]["reason"]
    # too short a log to tell is no premise either
    short = claims(make_tree(tmp_path / "c", baseline_curve=PLATEAU[-4:]))
    assert short["ap50_drop"]["verdict"] == "precondition unmet"
    md, doc, _ = render(tmp_path / "d", baseline_curve=RISING)
    plateau = section(md, "Plateau checks")
    assert re.search(r"\| baseline \| 11 \| 0\.800 \| 0\.700 \| 0\.800 \| \+10\.00 \| \*\*still rising\*\* \|", plateau)
    assert plateau.count("**at plateau**") == 6  # every fine-tune / distill seed (flat last 5 epochs)
    assert doc["plateau"]["runs"]["baseline"]["holds"] is False


def test_straddling_intervals_are_inconclusive(tmp_path):
    c = claims(make_tree(tmp_path, ft=(0.80, 0.80, 0.80), cwd=(0.84, 0.80, 0.77),  # CWD − fine-tune: +4, 0, −3
                         bn_scale=0.05, random=(0.01, 0.09, 0.05)))  # |γ| − random: +4, −4, 0
    for cid in ("cwd_beats_finetune", "gamma_beats_random", "ap50_drop"):  # drop: 0.9, 4.9, 7.9 points vs ≤ 2.7
        assert c[cid]["verdict"] == "inconclusive", c[cid]
        assert c[cid]["lo"] < c[cid]["ours"] < c[cid]["hi"] and c[cid]["n_seeds"] == 3


def test_sparsity_precondition_and_the_random_control(tmp_path):
    c = claims(make_tree(tmp_path / "a"))
    assert c["gamma_beats_random"]["verdict"] == "holds"
    assert c["gamma_beats_random"]["ours"] == pytest.approx(100 * (0.40 - (0.01 + 0.02 + 0.005) / 3))
    c = claims(make_tree(tmp_path / "b", frac_below_0_1=0.01))
    assert c["gamma_beats_random"]["verdict"] == "precondition unmet"
    c = claims(make_tree(tmp_path / "c", bn_scale=0.001, random=(0.10, 0.12, 0.11)))  # |γ| worse than random
    assert c["gamma_beats_random"]["verdict"] == "fails"


def test_the_random_control_reads_the_bn_recalibrated_scores_when_prune_measured_them(tmp_path):
    # as cut, both arms sit at the floor (inconclusive); recalibrated, the |γ| cut is far ahead: the claim reads that
    kw = dict(bn_scale=0.001, random=(0.0, 0.002, 0.001), recal=(0.32, (0.0, 0.01, 0.004)))
    c = claims(make_tree(tmp_path / "a", **kw))
    assert c["gamma_beats_random"]["verdict"] == "holds"
    assert c["gamma_beats_random"]["ours"] == pytest.approx(100 * (0.32 - 0.014 / 3))
    md, _, _ = render(tmp_path / "b", **kw)
    assert re.search(r"\| pruned, BN recal\. \| 0\.320 \|", md)
    assert "pruned (random), BN recal." in md and "recalibration on 128 training images" in md


def test_speed_claims_at_640_with_the_trained_size_beside(tmp_path):
    c = claims(make_tree(tmp_path / "a"))
    for cid in ("speedup", "speedup_t2"):  # 10 ms vs 3 ms, ±2 % jitter: 3.3× [≈3.2, 3.4]
        assert c[cid]["verdict"] == "holds" and 3.0 < c[cid]["lo"] < c[cid]["ours"] < c[cid]["hi"] < 3.7, c[cid]
    assert c["int8_speedup"]["verdict"] == "holds" and c["int8_speedup"]["ours"] == pytest.approx(1 / 0.55, rel=0.02)
    assert c["ultralytics_val_agrees"]["verdict"] == "holds"
    assert c["params_reduction"]["verdict"] == "holds" and c["params_reduction"]["n_seeds"] == 0
    assert c["structure_params"]["verdict"] == "holds" and c["structure_params"]["ours"] == pytest.approx(6.479)
    assert c["structure_gflops"]["verdict"] == "holds" and c["structure_gflops"]["ours"] == pytest.approx(9.9)
    slow = claims(make_tree(tmp_path / "b", speed=(10.0, 7.0)))
    assert slow["speedup"]["verdict"] == "fails"
    noisy = claims(make_tree(tmp_path / "c", speed=(10.0, 6.7)))  # 1.49×: the bootstrap interval straddles 1.5
    assert noisy["speedup"]["verdict"] == "inconclusive", noisy["speedup"]
    md, doc, _ = render(tmp_path / "d")
    speed = section(md, "Speed-ups")
    assert "| 640 px (paper's size) | 1 |" in speed and "| 256 px (trained size) | 1 |" in speed
    assert doc["derived"]["speedup_onnx_cpu_t1_at256"]["value"] == pytest.approx(10 / 3, rel=0.01)
    goal = section(md, "Goal figure: our best compressed model vs ultralytics' fastest export")
    assert "| 640 px | pruned+cwd · openvino bf16 |" in goal and "openvino int8 (NNCF) + bf16" in goal
    untimed = claims(make_tree(tmp_path / "e", sizes=(256,)))  # no 640 px measured: not testable, not guessed
    assert untimed["speedup"]["verdict"] == "not testable here"


def test_independent_check_fails_beyond_one_point(tmp_path):
    c = claims(make_tree(tmp_path, ultralytics_val_of_ours=0.70))
    assert c["ultralytics_val_agrees"]["verdict"] == "fails"
    assert c["ultralytics_val_agrees"]["ours"] == pytest.approx(100 * (PLATEAU[-1] - 0.70))


def test_one_seed_renders_with_what_its_intervals_can_cover(tmp_path):
    md, doc, _ = render(tmp_path, ft=(0.80,), cwd=(0.83,), random=(0.01,))
    c = {x["id"]: x for x in doc["claims"]}
    one = c["cwd_beats_finetune"]
    assert one["n_seeds"] == 1 and "1 seed: training noise not covered" in one["noise"]
    assert one["verdict"] == "holds"  # a zero-width interval: the one seed's difference
    assert "| pruned+cwd | 0.830 (1 seed) |" in section(md, "Ablation")
