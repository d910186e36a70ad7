"""Stage ``export``: every model variant → fused ONNX (opset ≥ 17), checked numerically against PyTorch on
validation images. Writes ``data/detection/export/{<variant>.onnx, manifest.json}``."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common.export.onnx import export_onnx
from common.io import atomic_dir, atomic_write_json, stage_params


def val_images(data_dir: str | Path, imgsz: int, n: int) -> torch.Tensor:
    """``n`` letterboxed validation images, exactly as the evaluator feeds them."""
    from tasks.detection.data import DetectionDataModule

    dm = DetectionDataModule(data_dir, imgsz=imgsz, batch_size=n, workers=0, validate_images=False)
    dm.setup("validate")
    try:
        batch = next(iter(dm.val_dataloader()))
    finally:
        dm.teardown()
    return batch["img"][:n].float() / 255


def run(params: dict, out_dir: str | Path, variants: dict[str, str], data_dir: str) -> dict:
    from tasks.detection.yolo import InferenceWrapper, load_model

    imgsz = params["imgsz"]
    check = val_images(data_dir, imgsz, 2)
    manifest = {}
    with atomic_dir(out_dir) as tmp:
        for name, model_path in variants.items():
            model = load_model(model_path).eval()
            model.fuse()  # Conv+BN folding, as every deployment does
            facts = export_onnx(InferenceWrapper(model), torch.rand(1, 3, imgsz, imgsz), tmp / f"{name}.onnx",
                                opset=params["opset"], output_names=["predictions"], atol=params.get("atol", 2e-3),
                                check_samples=check)
            facts["onnx"] = str(Path(out_dir) / f"{name}.onnx")
            manifest[name] = {"model": str(model_path), **facts}
            print(f"exported {name}: max |onnx - torch| = {facts['max_abs_diff']:.2e}")
        atomic_write_json(tmp / "manifest.json", manifest)
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.export", description=__doc__)
    ap.add_argument("--out", default="data/detection/export")
    ap.add_argument("--data", default="data/detection/prepare/dataset")
    ap.add_argument("--variant", action="append", metavar="NAME=MODEL.pt",
                    help="variant to export (repeatable); default: baseline=data/detection/train_teacher/model.pt")
    args = ap.parse_args(argv)
    pairs = args.variant or ["baseline=data/detection/train_teacher/model.pt"]
    variants = dict(p.split("=", 1) for p in pairs)
    run(stage_params("detection", "export"), args.out, variants, args.data)


if __name__ == "__main__":
    main()
