"""Training throughput, side by side in one run: our Lightning training step (``tasks.detection`` through
``common.training``) vs ultralytics' own trainer, on the same model (YOLOv8 from its YAML), data, image
size, batch size and data-loader workers. Prints images/s of each and the ratio ours / ultralytics.

    python benchmarks/detection_train_throughput.py [--data data/detection/prepare/dataset] [--rounds 2]

Both loops include data loading, augmentation (mosaic), forward, loss, backward and the optimizer step;
the first ``--skip`` batches of each run are excluded (worker start-up). Rounds alternate the trainers so
that machine noise hits both alike; the median of each is reported.

On a CPU ultralytics' trainer forces ``workers=0`` (loading in the training process) and
``torch.set_num_threads(cpu_count - 1)``. The headline ratio is therefore *matched*: ours with the same
loader and thread settings, so that it compares the training loops themselves. The second ratio is
*defaults*: ours with ``--workers`` loader processes and all cores, as the smoke pipeline runs it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ours(data_dir: Path, args, tmp: Path, workers: int, threads: int) -> float:
    import torch

    from common.training.callbacks import BatchTimer
    from tasks.detection.__main__ import main
    from tasks.detection.train import teacher_config

    torch.set_num_threads(threads)
    timer = BatchTimer(skip=args.skip)
    cli = main(["-c", str(ROOT / "tasks/detection/configs/teacher.yaml"), "-c", teacher_config("smoke"), "--trainer.max_epochs=1",
                f"--data.data_dir={data_dir}", f"--data.imgsz={args.imgsz}", f"--data.batch_size={args.batch}",
                f"--data.workers={workers}", f"--model.init_args.model_cfg={args.model}",
                "--trainer.limit_val_batches=0", "--trainer.logger=false",
                f"--trainer.default_root_dir={tmp}", f"--trainer.limit_train_batches={args.batches}",
                "--trainer.enable_progress_bar=false"], run=False)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.images_per_second


def theirs(data_dir: Path, args, tmp: Path) -> float:
    from common.adapters.ultralytics import ultralytics_train

    stamps: list[float] = []

    def on_batch_end(trainer):
        stamps.append(time.perf_counter())
        if len(stamps) >= args.batches:
            trainer.stop = True  # ultralytics checks this flag; stop after the same number of batches

    ultralytics_train(data_dir, tmp, args.model, callbacks={"on_train_batch_end": on_batch_end}, epochs=1,
                      imgsz=args.imgsz, batch=args.batch, workers=args.workers, val=False, seed=0)
    s = args.skip
    return args.batch * (len(stamps) - s - 1) / (stamps[-1] - stamps[s])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "data/detection/prepare/dataset")
    ap.add_argument("--model", default="yolov8n.yaml")
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=30, help="training batches timed per run")
    ap.add_argument("--skip", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/detection_train_throughput.json",
                    help="where to record the result (default: reports/benchmarks/…)")
    args = ap.parse_args()
    sys.argv = sys.argv[:1]  # the trainers below parse their own arguments
    if not (args.data / "data.yaml").is_file():
        sys.exit(f"{args.data}: no dataset; run `dvc repro tasks/detection/dvc.yaml:prepare` first")
    import os

    from ultralytics.utils import NUM_THREADS  # what ultralytics' CPU training uses

    cores = os.cpu_count() or 1
    res = {"ours_matched": [], "ultralytics": [], "ours_defaults": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            res["ours_matched"].append(ours(args.data, args, Path(tmp) / f"m{r}", workers=0, threads=NUM_THREADS))
            res["ultralytics"].append(theirs(args.data, args, Path(tmp) / f"u{r}"))
            res["ours_defaults"].append(ours(args.data, args, Path(tmp) / f"d{r}", workers=args.workers,
                                             threads=cores))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f} img/s" for k, v in res.items()), flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    out = {"model": args.model, "imgsz": args.imgsz, "batch": args.batch, "batches_timed": args.batches - args.skip - 1,
           "ultralytics_cpu_settings": {"workers": 0, "torch_threads": NUM_THREADS},
           "ours_defaults_settings": {"workers": args.workers, "torch_threads": cores},
           "rounds": res, "median_img_s": med,
           "ratio_matched": med["ours_matched"] / med["ultralytics"],
           "ratio_defaults": med["ours_defaults"] / med["ultralytics"]}
    out["summary"] = {
        "training images/s, ours / ultralytics' trainer (same loader + threads)": out["ratio_matched"],
        "training images/s, ours (2 loader workers, all cores) / ultralytics (its CPU defaults)": out["ratio_defaults"],
    }
    print(json.dumps(out, indent=2))
    print(f"throughput ratio ours / ultralytics (matched loader + threads) = {out['ratio_matched']:.3f}")
    print(f"throughput ratio ours (defaults) / ultralytics (its CPU defaults) = {out['ratio_defaults']:.3f}")
    if args.json:
        from common.io import atomic_write_json

        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
