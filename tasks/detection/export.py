"""Stage ``export``: every model variant onto every edge runtime (``common.runtime``).

Per variant (the fused PyTorch model, Conv+BN folded as every deployment does):

* ONNX fp32, opset ≥ 17, dynamic batch and input size (checked numerically against PyTorch on validation images)
  with ultralytics' metadata (names, stride, imgsz, task), so ``YOLO("<variant>.onnx")`` and ``yolo val`` use it;
* ONNX Runtime INT8: static QDQ calibrated on training images (``common.compress.quantize``), head decoding fp32;
* OpenVINO: the IR of the ONNX file, and an INT8 IR from NNCF post-training quantization on the same calibration
  images (head decoding and sigmoids kept in floating point, as ultralytics' OpenVINO INT8 export does);
* ncnn (through pnnx): one static file pair per input size (the trained size and ``latency_sizes``), fp32 weights;
  an fp16 artifact loads the same files with ncnn's fp16 options (whether this CPU computed in fp16 is measured
  here by comparing outputs and stored with it);
* LiteRT and TensorRT where they can run (``common.runtime.available``), else their reason is recorded in the
  manifest's ``unavailable`` list, as is ncnn INT8 (no quantization tools in the wheels).

Writes ``data/detection/export/{<variant>.onnx, <variant>+int8.onnx, <variant>.xml/.bin, <variant>+int8.xml/.bin,
<variant>@<size>.ncnn.param/.bin, manifest.json}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

INT8_SUFFIX = "+int8"
DATA_DIR = "data/detection/prepare/dataset"
ALL_BACKENDS = ["onnxruntime", "openvino", "ncnn", "litert", "tensorrt"]


class Params(StageParams):
    opset: int = Field(17, ge=11, description="ONNX opset")
    int8: bool = Field(True, description="also write INT8 models (ONNX Runtime QDQ, OpenVINO NNCF)")
    calibration_images: int = Field(64, ge=1, description="training images the INT8 calibration sees")
    calibration: Literal["minmax", "percentile", "entropy"] = Field("minmax", description="ONNX Runtime INT8 "
                                                                                          "calibration method")
    per_channel: bool = Field(True, description="per-channel INT8 weights (ONNX Runtime)")
    atol: float = Field(2e-3, gt=0, description="largest |ONNX − PyTorch| accepted on validation images")
    backends: list[Literal["onnxruntime", "openvino", "ncnn", "litert", "tensorrt"]] = Field(
        ALL_BACKENDS, min_length=1, description="runtimes to export to (onnxruntime is always written: the others "
                                                "start from its file)")
    latency_sizes: list[int] = Field([640], description="input sizes, besides the trained one, the models are timed "
                                                        "at (the paper's 640 px); ncnn gets a file per size")
    variants: dict[str, str] = Field(min_length=1, description="variant name → model file (the ablation rows)")


def _ncnn_fp16_effective(param: Path, imgsz: int, check) -> bool:
    """Did loading with ncnn's fp16 options change the outputs? (x86 CPUs without fp16 storage support run fp32.)"""
    import numpy as np

    from common.runtime import Artifact, open_session

    outs = []
    for precision in ("fp32", "fp16"):
        art = Artifact("probe", "ncnn", precision, {str(imgsz): str(param)})
        outs.append(open_session(art, imgsz, 1).run(check))
    return bool(np.abs(outs[0] - outs[1]).max() > 0)


def run(params: Params, out_dir: Path, data_dir: str = DATA_DIR) -> dict:
    import torch

    from common.adapters.ultralytics import (InferenceWrapper, export_metadata, head_decode_nodes, load_model,
                                             model_meta)
    from common.compress.quantize import quantize_static_int8
    from common.export.onnx import export_onnx, set_onnx_metadata
    from common.io import atomic_dir, atomic_write_json
    from common.runtime import Artifact, available
    from tasks.detection.data import letterboxed_images

    variants = params.variants
    sizes = {name: int(model_meta(path)["imgsz"]) for name, path in variants.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the variants were trained at different image sizes: {sizes}")
    imgsz = next(iter(sizes.values()))
    all_sizes = [imgsz, *[s for s in params.latency_sizes if s != imgsz]]
    backends = list(dict.fromkeys(["onnxruntime", *params.backends]))
    reasons = {b: available(b) for b in backends}
    check = letterboxed_images(data_dir, "val", imgsz, 2)
    calib = letterboxed_images(data_dir, "train", imgsz, params.calibration_images).numpy() if params.int8 else None
    calib_list = [calib[i:i + 1] for i in range(len(calib))] if calib is not None else []
    artifacts: list[Artifact] = []
    unavailable: list[dict] = []
    facts: dict[str, dict] = {}
    out_dir = Path(out_dir)

    def skip(variant: str, backend: str, precision: str, reason: str) -> None:
        unavailable.append({"variant": variant, "backend": backend, "precision": precision, "reason": reason})
        print(f"{variant}: {backend} {precision} not exported: {reason}")

    with atomic_dir(out_dir) as tmp:
        for name, model_path in variants.items():
            model = load_model(model_path).eval()
            model.fuse(verbose=False)  # Conv+BN folding, as every deployment does
            head = model.model[-1]
            wrapper = InferenceWrapper(model).eval()
            meta = export_metadata(model, imgsz, variant=name)
            meta["args"] = {**meta["args"], "dynamic": True}
            # ONNX fp32: dynamic size (the head's anchor grid traced as operations), one file for every size
            head.dynamic = True
            onnx_facts = export_onnx(wrapper, torch.rand(1, 3, imgsz, imgsz), tmp / f"{name}.onnx",
                                     opset=params.opset, output_names=["predictions"], atol=params.atol,
                                     check_samples=check, dynamic_hw=True)
            set_onnx_metadata(tmp / f"{name}.onnx", {**meta, "precision": "fp32"})
            facts[name] = {"model": str(model_path), "imgsz": imgsz, "max_abs_diff": onnx_facts["max_abs_diff"],
                           "opset": params.opset}
            artifacts.append(Artifact(name, "onnxruntime", "fp32", {"any": str(out_dir / f"{name}.onnx")}))
            print(f"exported {name}: max |onnx - torch| = {onnx_facts['max_abs_diff']:.2e}")
            keep_fp32 = head_decode_nodes(tmp / f"{name}.onnx", len(model.model) - 1)
            if params.int8:
                q = quantize_static_int8(tmp / f"{name}.onnx", tmp / f"{name}{INT8_SUFFIX}.onnx", calib_list,
                                         per_channel=params.per_channel, method=params.calibration,
                                         exclude_nodes=keep_fp32)
                q["fp32_nodes"] = len(keep_fp32)
                set_onnx_metadata(tmp / f"{name}{INT8_SUFFIX}.onnx", {**meta, "precision": "int8"})
                artifacts.append(Artifact(name, "onnxruntime", "int8", {"any": str(out_dir / f"{name}+int8.onnx")},
                                          options={"quantization": q}))
            if "openvino" in backends:
                if reasons["openvino"]:
                    skip(name, "openvino", "fp32", reasons["openvino"])
                else:
                    from common.runtime import _openvino

                    _openvino.export_ir(tmp / f"{name}.onnx", tmp / f"{name}.xml")
                    artifacts.append(Artifact(name, "openvino", "fp32", {"any": str(out_dir / f"{name}.xml")}))
                    if params.int8:
                        q = _openvino.export_int8(tmp / f"{name}.onnx", tmp / f"{name}{INT8_SUFFIX}.xml", calib_list,
                                                  ignored_names=keep_fp32)
                        artifacts.append(Artifact(name, "openvino", "int8",
                                                  {"any": str(out_dir / f"{name}{INT8_SUFFIX}.xml")},
                                                  options={"quantization": q}))
            if "ncnn" in backends:
                if reasons["ncnn"]:
                    skip(name, "ncnn", "fp32", reasons["ncnn"])
                else:
                    from common.runtime import _ncnn

                    files = export_ncnn(wrapper, head, name, all_sizes, tmp, out_dir)
                    artifacts.append(Artifact(name, "ncnn", "fp32", files))
                    effective = _ncnn_fp16_effective(tmp / f"{name}@{imgsz}.ncnn.param", imgsz, check.numpy())
                    artifacts.append(Artifact(name, "ncnn", "fp16", files, options={"fp16_effective": effective}))
                    if params.int8:
                        skip(name, "ncnn", "int8", _ncnn.INT8_UNAVAILABLE)
            for backend in ("litert", "tensorrt"):
                if backend in backends:
                    if reasons[backend]:
                        skip(name, backend, "fp32", reasons[backend])
                    else:
                        artifacts.extend(_export_other(backend, name, wrapper, head, tmp, out_dir, all_sizes))
            head.dynamic = False
        manifest = {"imgsz": imgsz, "latency_sizes": all_sizes, "variants": facts,
                    "artifacts": [a.to_dict() for a in artifacts], "unavailable": unavailable,
                    "calibration": {"images": len(calib_list), "split": "train"}}
        atomic_write_json(tmp / "manifest.json", manifest)
    return manifest


def static_head(wrapper, head, size: int) -> None:
    """Fix the detection head's anchor grid at ``size``: ``dynamic`` off and one forward pass at that size, so the
    grid is a cached constant. A tracer that runs the model twice (pnnx checks its trace; so does litert-torch)
    otherwise records the grid's computation in the first run and the cached grid in the second, and refuses
    ("Graphs differed across invocations") whenever the size differs from the last one the head saw."""
    import torch

    head.dynamic = False
    with torch.no_grad():
        wrapper(torch.rand(1, 3, size, size))


def export_ncnn(wrapper, head, name: str, sizes: list[int], tmp: Path, out_dir: Path) -> dict[str, str]:
    """One static ncnn file pair per input size (pnnx), written to ``tmp``; returns {size: final param path}."""
    import torch

    from common.runtime import _ncnn

    files = {}
    for size in sizes:
        static_head(wrapper, head, size)  # ncnn graphs take one static size: the anchor grid is a constant
        with torch.no_grad():
            _ncnn.export(wrapper, torch.rand(1, 3, size, size), tmp / f"{name}@{size}.ncnn.param")
        files[str(size)] = str(Path(out_dir) / f"{name}@{size}.ncnn.param")
    return files


def _export_other(backend: str, name: str, wrapper, head, tmp: Path, out_dir: Path, sizes: list[int]) -> list:
    """LiteRT (litert-torch, one file per size) and TensorRT (an engine per size from the ONNX file)."""
    import torch

    from common.runtime import Artifact

    files = {}
    if backend == "litert":
        from common.runtime import _litert

        for size in sizes:
            static_head(wrapper, head, size)
            _litert.export(wrapper, torch.rand(1, 3, size, size), tmp / f"{name}@{size}.tflite")
            files[str(size)] = str(out_dir / f"{name}@{size}.tflite")
        return [Artifact(name, "litert", "fp32", files)]
    from common.runtime import _tensorrt

    out = []
    for precision in ("fp32", "fp16"):
        files = {}
        for size in sizes:
            f = f"{name}@{size}.{precision}.engine"
            _tensorrt.build_engine(tmp / f"{name}.onnx", tmp / f, size, fp16=precision == "fp16")
            files[str(size)] = str(out_dir / f)
        out.append(Artifact(name, "tensorrt", precision, files))
    return out


if __name__ == "__main__":
    main(__spec__.name, Params, run)
