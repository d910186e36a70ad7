"""Stage ``cwd_sweep``: the CWD loss weight as an ablation. Re-runs the ``distill`` stage's recipe (same
pruned model, teacher, epochs and T) with each weight in ``<profile>.cwd_sweep.weights`` and keeps the
Lightning validation metrics (PyTorch, EMA weights) and logs — the same measure ``finetune`` and
``distill`` record in their ``metrics.json`` — so the report can show how the CWD-vs-fine-tune verdict
depends on the one setting the paper does not publish. Models are not kept (they are not exported).

Writes ``data/detection/cwd_sweep/{sweep.json, w<weight>/{metrics.json, logs/}}``; ``sweep.json`` also records
``distill``'s own weight, the pipeline's row.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params


def run(params: dict, weights: list[float], out_dir: str | Path) -> dict:
    from tasks.detection.train import run as train_run

    sweep = {}
    with atomic_dir(out_dir) as tmp:
        for w in weights:
            name = f"w{w:g}"
            scratch = Path(tempfile.mkdtemp(prefix="edgerepro-cwd-sweep-"))
            try:
                metrics = train_run("distill", {**params, "cwd_weight": float(w)}, scratch / name)
                shutil.copytree(scratch / name / "logs", tmp / name / "logs")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            metrics["cwd_weight"] = float(w)
            atomic_write_json(tmp / name / "metrics.json", metrics)
            sweep[name] = {k: metrics.get(k) for k in ("cwd_weight", "val/map50", "val/map50_95", "train_seconds")}
        doc = {"distill_cwd_weight": params.get("cwd_weight"), "cwd_tau": params.get("cwd_tau"), "runs": sweep}
        atomic_write_json(tmp / "sweep.json", doc)
    print(doc)
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.cwd_sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/detection/cwd_sweep")
    args = ap.parse_args(argv)
    run(stage_params("detection", "distill"), stage_params("detection", "cwd_sweep")["weights"], args.out)


if __name__ == "__main__":
    main()
