"""Inference latency of the compressed detector, side by side in one run: pruned vs baseline and INT8 vs
fp32, with onnxruntime on the CPU at 1 and 2 intra-op threads, batch 1.

    python benchmarks/detection_compression.py [--export data/detection/export] [--runs 200] [--rounds 3]

Reads the ONNX files the pipeline exported (``dvc repro tasks/detection`` first). All sessions are created
in this one process and timed in interleaved rounds (baseline, pruned, … in turn, then again), so that
machine noise hits every model alike; the median over rounds of each model's p50 is reported, and the
ratios are formed from those medians. Writes ``reports/benchmarks/detection_compression.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAIRS = {  # ratio name → (reference, candidate): speed-up = latency(reference) / latency(candidate)
    "pruned+cwd vs baseline (fp32)": ("baseline", "pruned+cwd"),
    "baseline INT8 vs fp32": ("baseline", "baseline+int8"),
    "pruned+cwd INT8 vs fp32": ("pruned+cwd", "pruned+cwd+int8"),
    "pruned+cwd INT8 vs baseline fp32 (whole chain)": ("baseline", "pruned+cwd+int8"),
}


def session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def p50_ms(sess, x: np.ndarray, runs: int) -> float:
    name = sess.get_inputs()[0].name
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python benchmarks/detection_compression.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", type=Path, default=ROOT / "data/detection/export")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=200, help="timed runs per model per round")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/detection_compression.json")
    args = ap.parse_args(argv)

    manifest_path = args.export / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path}: not found — run `dvc repro tasks/detection` first")
    manifest = json.loads(manifest_path.read_text())
    models = sorted({m for pair in PAIRS.values() for m in pair})
    missing = [m for m in models if m not in manifest]
    if missing:
        raise SystemExit(f"{manifest_path}: variants {missing} were not exported (expected {models})")
    paths = {m: args.export / Path(manifest[m]["onnx"]).name for m in models}

    import onnx

    dims = [d.dim_value or 1 for d in onnx.load(str(paths["baseline"]), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).random(dims, dtype=np.float32)
    out = {"input_shape": dims, "runs": args.runs, "rounds": args.rounds, "threads": {}}
    for t in args.threads:
        sessions = {m: session(paths[m], t) for m in models}
        for m, s in sessions.items():
            p50_ms(s, x, args.warmup)
        per = {m: [] for m in models}
        for _ in range(args.rounds):
            for m, s in sessions.items():
                per[m].append(p50_ms(s, x, args.runs))
        med = {m: statistics.median(v) for m, v in per.items()}
        ratios = {name: med[a] / med[b] for name, (a, b) in PAIRS.items()}
        out["threads"][str(t)] = {"p50_ms_rounds": per, "p50_ms": med, "speedup": ratios}
        print(f"\n{t} thread(s): p50 latency (ms) " + ", ".join(f"{m} {v:.2f}" for m, v in med.items()))
        for name, r in ratios.items():
            print(f"  speed-up {name}: {r:.2f}x")
    out["summary"] = {f"ONNX CPU speed-up, {name}, {t} thr": out["threads"][t]["speedup"][name]
                      for t in out["threads"] for name in PAIRS}
    if args.json:
        from common.io import atomic_write_json

        atomic_write_json(args.json, out)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
