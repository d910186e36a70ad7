"""Accuracy parity, side by side in one run: the same YOLOv8 trained for the same epochs on the same data by
(a) our Lightning recipe (``tasks.detection`` via ``common.training``) and (b) ultralytics' own trainer with
its defaults. Both final (EMA) models are scored by the same evaluator (COCO mAP50 / mAP50-95 by
faster-coco-eval after ultralytics NMS) on the validation split. Prints both and the ratio ours / theirs.

    python benchmarks/detection_accuracy_parity.py [--epochs 15] [--json reports/benchmarks/x.json]

Slow (two full trainings); run by hand. Uses the smoke dataset from the prepare stage.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(model, data_dir: Path, imgsz: int) -> dict:
    from tasks.detection.evaluate import val_map

    model = model.float().eval()

    def predict(img):
        out = model(img)
        return out[0] if isinstance(out, (tuple, list)) else out

    return val_map(predict, data_dir, imgsz)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "data/detection/prepare/dataset")
    ap.add_argument("--model", default="yolov8n.yaml")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/detection_accuracy_parity.json")
    args = ap.parse_args()
    sys.argv = sys.argv[:1]
    import torch

    from tasks.detection.__main__ import main as cli_main
    from tasks.detection.train import teacher_config
    from common.adapters.ultralytics import ultralytics_train

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.set_num_threads(2)
        t0 = time.perf_counter()
        cli = cli_main(["-c", str(ROOT / "tasks/detection/configs/teacher.yaml"), "-c", teacher_config("smoke"), f"--trainer.max_epochs={args.epochs}",
                        f"--data.data_dir={args.data}", f"--data.imgsz={args.imgsz}", f"--data.batch_size={args.batch}",
                        f"--model.init_args.model_cfg={args.model}", "--trainer.logger=false",
                        "--trainer.check_val_every_n_epoch=1000", f"--trainer.default_root_dir={tmp / 'ours'}",
                        "--trainer.enable_progress_bar=false"], run=False)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        res["ours"] = {**score(cli.model.model, args.data, args.imgsz), "train_s": time.perf_counter() - t0}
        print("ours", res["ours"], flush=True)

        t0 = time.perf_counter()
        yolo = ultralytics_train(args.data, tmp / "u", args.model, epochs=args.epochs, imgsz=args.imgsz,
                                 batch=args.batch, val=False, seed=0)
        # our own run's checkpoint (trusted, written a moment ago): ultralytics pickles the model object
        ckpt = torch.load(Path(yolo.trainer.save_dir) / "weights" / "last.pt", map_location="cpu", weights_only=False)
        model = (ckpt.get("ema") or ckpt["model"])
        res["ultralytics"] = {**score(model, args.data, args.imgsz), "train_s": time.perf_counter() - t0}
        print("ultralytics", res["ultralytics"], flush=True)
    res.update({"epochs": args.epochs, "model": args.model, "imgsz": args.imgsz,
                "ratio_map50": res["ours"]["map50"] / max(res["ultralytics"]["map50"], 1e-9),
                "ratio_map50_95": res["ours"]["map50_95"] / max(res["ultralytics"]["map50_95"], 1e-9)})
    res["summary"] = {f"mAP50 after {args.epochs} epochs, ours / ultralytics' trainer": res["ratio_map50"],
                      f"mAP50-95 after {args.epochs} epochs, ours / ultralytics' trainer": res["ratio_map50_95"]}
    print(json.dumps(res, indent=2))
    print(f"mAP50 ours / ultralytics = {res['ratio_map50']:.3f}; mAP50-95 ratio = {res['ratio_map50_95']:.3f}")
    if args.json:
        from common.io import atomic_write_json

        atomic_write_json(args.json, res)


if __name__ == "__main__":
    main()
