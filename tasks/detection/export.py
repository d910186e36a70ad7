"""Stage ``export``: every model variant → fused ONNX fp32 (opset ≥ 17, checked numerically against
PyTorch on validation images) and, when ``int8`` is on, a static INT8 QDQ model calibrated on training
images (``common.compress.quantize``). Writes ``data/detection/export/{<variant>.onnx,
<variant>+int8.onnx, manifest.json}``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common.export.onnx import export_onnx
from common.io import atomic_dir, atomic_write_json, stage_params

INT8_SUFFIX = "+int8"


def head_decode_nodes(onnx_path: Path, head_index: int) -> list[str]:
    """ONNX nodes of the Detect head's decoding (DFL softmax, box arithmetic, class sigmoid, the final
    concat of pixel boxes with class probabilities). They stay fp32 in the INT8 model: one uint8 scale
    cannot hold box coordinates in pixels and probabilities in [0, 1] at once (class scores would all
    round to 0). The head's convs (cv2/cv3 branches) are quantized like the rest."""
    import onnx

    prefix = f"/model.{head_index}/"
    return [n.name for n in onnx.load(str(onnx_path), load_external_data=False).graph.node
            if prefix in n.name and "/cv2." not in n.name and "/cv3." not in n.name]


def run(params: dict, out_dir: str | Path, variants: dict[str, str], data_dir: str) -> dict:
    from common.compress.quantize import quantize_static_int8
    from tasks.detection.data import letterboxed_images
    from tasks.detection.yolo import InferenceWrapper, load_model

    imgsz = params["imgsz"]
    check = letterboxed_images(data_dir, "val", imgsz, 2)
    calib = None
    if params.get("int8"):
        n = params.get("calibration_images", 64)
        calib = letterboxed_images(data_dir, "train", imgsz, n).numpy()
    manifest = {}
    with atomic_dir(out_dir) as tmp:
        for name, model_path in variants.items():
            model = load_model(model_path).eval()
            model.fuse(verbose=False)  # Conv+BN folding, as every deployment does
            facts = export_onnx(InferenceWrapper(model), torch.rand(1, 3, imgsz, imgsz), tmp / f"{name}.onnx",
                                opset=params["opset"], output_names=["predictions"], atol=params.get("atol", 2e-3),
                                check_samples=check)
            facts["onnx"] = str(Path(out_dir) / f"{name}.onnx")
            manifest[name] = {"model": str(model_path), "precision": "fp32", **facts}
            print(f"exported {name}: max |onnx - torch| = {facts['max_abs_diff']:.2e}")
            if calib is not None:
                qname = f"{name}{INT8_SUFFIX}"
                keep_fp32 = head_decode_nodes(tmp / f"{name}.onnx", len(model.model) - 1)
                q = quantize_static_int8(tmp / f"{name}.onnx", tmp / f"{qname}.onnx",
                                         [calib[i:i + 1] for i in range(len(calib))],
                                         per_channel=params.get("per_channel", True),
                                         method=params.get("calibration", "minmax"), exclude_nodes=keep_fp32)
                q["fp32_nodes"] = len(keep_fp32)
                manifest[qname] = {"model": str(model_path), "precision": "int8", "fp32": name,
                                   "onnx": str(Path(out_dir) / f"{qname}.onnx"), "quantization": q}
                print(f"quantized {qname}: {q}")
        atomic_write_json(tmp / "manifest.json", manifest)
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.export", description=__doc__)
    ap.add_argument("--out", default="data/detection/export")
    ap.add_argument("--data", default="data/detection/prepare/dataset")
    ap.add_argument("--variant", action="append", metavar="NAME=MODEL.pt",
                    help="variant to export (repeatable); default: the profile's `variants` in params.yaml")
    args = ap.parse_args(argv)
    params = stage_params("detection", "export")
    variants = dict(p.split("=", 1) for p in args.variant) if args.variant else dict(params["variants"])
    run(params, args.out, variants, args.data)


if __name__ == "__main__":
    main()
