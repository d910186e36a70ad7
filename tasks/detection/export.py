"""Stage ``export``: every model variant → fused ONNX fp32 (opset ≥ 17, checked numerically against
PyTorch on validation images) and, when ``int8`` is on, a static INT8 QDQ model calibrated on training
images (``common.compress.quantize``). Writes ``data/detection/export/{<variant>.onnx,
<variant>+int8.onnx, manifest.json}``. Each ONNX file carries ultralytics' metadata (class names, stride, image
size, task), so ``YOLO("data/detection/export/pruned+cwd.onnx").predict(...)`` and ``yolo val model=…`` use it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

INT8_SUFFIX = "+int8"
DATA_DIR = "data/detection/prepare/dataset"


class Params(StageParams):
    opset: int = Field(17, ge=11, description="ONNX opset")
    int8: bool = Field(True, description="also write a static INT8 QDQ model per variant")
    calibration_images: int = Field(64, ge=1, description="training images the INT8 calibration sees")
    calibration: Literal["minmax", "percentile", "entropy"] = Field("minmax", description="INT8 calibration method")
    per_channel: bool = Field(True, description="per-channel INT8 weights")
    atol: float = Field(2e-3, gt=0, description="largest |ONNX − PyTorch| accepted on validation images")
    variants: dict[str, str] = Field(min_length=1, description="variant name → model file (the ablation rows)")


def run(params: Params, out_dir: Path, data_dir: str = DATA_DIR) -> dict:
    import torch

    from common.adapters.ultralytics import (InferenceWrapper, export_metadata, head_decode_nodes, load_model,
                                             model_meta)
    from common.compress.quantize import quantize_static_int8
    from common.export.onnx import export_onnx, set_onnx_metadata
    from common.io import atomic_dir, atomic_write_json
    from tasks.detection.data import letterboxed_images

    variants = params.variants
    sizes = {name: int(model_meta(path)["imgsz"]) for name, path in variants.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the variants were trained at different image sizes: {sizes}")
    imgsz = next(iter(sizes.values()))
    check = letterboxed_images(data_dir, "val", imgsz, 2)
    calib = None
    if params.int8:
        calib = letterboxed_images(data_dir, "train", imgsz, params.calibration_images).numpy()
    manifest = {}
    with atomic_dir(out_dir) as tmp:
        for name, model_path in variants.items():
            model = load_model(model_path).eval()
            model.fuse(verbose=False)  # Conv+BN folding, as every deployment does
            facts = export_onnx(InferenceWrapper(model), torch.rand(1, 3, imgsz, imgsz), tmp / f"{name}.onnx",
                                opset=params.opset, output_names=["predictions"], atol=params.atol,
                                check_samples=check)
            # ultralytics' metadata (names, stride, imgsz, task): YOLO("<variant>.onnx") and `yolo val` load it
            set_onnx_metadata(tmp / f"{name}.onnx", export_metadata(model, imgsz, variant=name, precision="fp32"))
            facts["onnx"] = str(Path(out_dir) / f"{name}.onnx")
            manifest[name] = {"model": str(model_path), "precision": "fp32", "imgsz": imgsz, **facts}
            print(f"exported {name}: max |onnx - torch| = {facts['max_abs_diff']:.2e}")
            if calib is not None:
                qname = f"{name}{INT8_SUFFIX}"
                keep_fp32 = head_decode_nodes(tmp / f"{name}.onnx", len(model.model) - 1)
                q = quantize_static_int8(tmp / f"{name}.onnx", tmp / f"{qname}.onnx",
                                         [calib[i:i + 1] for i in range(len(calib))],
                                         per_channel=params.per_channel, method=params.calibration,
                                         exclude_nodes=keep_fp32)
                q["fp32_nodes"] = len(keep_fp32)
                set_onnx_metadata(tmp / f"{qname}.onnx",
                                  export_metadata(model, imgsz, variant=qname, precision="int8"))
                manifest[qname] = {"model": str(model_path), "precision": "int8", "fp32": name, "imgsz": imgsz,
                                   "onnx": str(Path(out_dir) / f"{qname}.onnx"), "quantization": q}
                print(f"quantized {qname}: {q}")
        atomic_write_json(tmp / "manifest.json", manifest)
    return manifest


if __name__ == "__main__":
    main(__spec__.name, Params, run)
