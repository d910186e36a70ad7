"""OpenVINO on the CPU: an IR converted from the ONNX file (fp32 weights) and an INT8 IR from NNCF's
post-training quantization on calibration images.

The fp32 IR runs at OpenVINO's default *inference precision*, which is bf16 on CPUs with AMX/AVX512-BF16 (this
is what a user shipping the IR gets); ``options["inference_precision"] = "f32"`` forces fp32. The precision the
compiled model reports is recorded as :attr:`OvSession.precision_used`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMPORTS = ("openvino",)


def unavailable() -> str | None:
    try:
        import openvino  # noqa: F401
    except ImportError as e:
        return f"openvino is not installed ({e}): pip install openvino nncf"
    return None


def version() -> str:
    import openvino

    return openvino.__version__.split("-")[0]


def export_ir(onnx_path: str | Path, xml_path: str | Path) -> Path:
    """ONNX → OpenVINO IR (fp32 weights; ``compress_to_fp16=False`` so the file is what the ONNX file is)."""
    import openvino as ov

    xml_path = Path(xml_path)
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)
    return xml_path


def export_int8(onnx_path: str | Path, xml_path: str | Path, calibration: list[np.ndarray],
                ignored_names: list[str] = (), ignored_types: list[str] = ("Sigmoid",)) -> dict:
    """NNCF post-training quantization (``nncf.quantize``, MIXED preset: symmetric weights, asymmetric
    activations) of the ONNX model, calibrated on ``calibration`` (arrays of shape (1, C, H, W)). Ops named in
    ``ignored_names`` (e.g. a detection head's box decoding) and of ``ignored_types`` stay in floating point,
    as ultralytics' own OpenVINO INT8 export keeps them."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    present = {op.get_friendly_name() for op in model.get_ordered_ops()}
    names = [n for n in ignored_names if n in present]
    scope = nncf.IgnoredScope(names=names, types=list(ignored_types), validate=False)
    batches = [np.ascontiguousarray(b, dtype=np.float32) for b in calibration]
    q = nncf.quantize(model, nncf.Dataset(batches), preset=nncf.QuantizationPreset.MIXED,
                      subset_size=len(batches), ignored_scope=scope)
    ov.save_model(q, str(xml_path))
    fq = sum(op.get_type_name() == "FakeQuantize" for op in q.get_ordered_ops())
    return {"tool": f"nncf {nncf.__version__}", "preset": "mixed", "calibration_images": len(batches),
            "fake_quantize_ops": int(fq), "ignored_ops": len(names), "ignored_types": list(ignored_types)}


class OvSession:
    backend = "openvino"

    def __init__(self, path: Path, size: int, threads: int, options: dict):
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(path))
        h, w = (size, size) if isinstance(size, int) else size
        model.reshape([1, int(model.inputs[0].partial_shape[1].get_length()), int(h), int(w)])  # static: fastest
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        if options.get("inference_precision"):
            config["INFERENCE_PRECISION_HINT"] = options["inference_precision"]
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        used = str(self.compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: '", "").rstrip("'>")
        used = {"float32": "fp32", "f32": "fp32", "bfloat16": "bf16", "bf16": "bf16", "float16": "fp16",
                "f16": "fp16"}.get(used, used)
        self.precision_used = f"int8 (NNCF) + {used}" if options.get("precision") == "int8" else used

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        outs = [self.request.infer({0: x[i:i + 1]})[0].copy() for i in range(len(x))]
        return np.concatenate(outs)

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output, in the model's order (the compiled model is static at batch 1: one image at a time)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = len(self.compiled.outputs)
        per = [self.request.infer({0: x[i:i + 1]}) for i in range(len(x))]
        return [np.concatenate([r[k].copy() for r in per]) for k in range(n)]


def open(path: Path, size: int, threads: int, options: dict) -> OvSession:  # noqa: A001 - the backend's verb
    return OvSession(path, size, threads, options)
