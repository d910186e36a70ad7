"""ONNX Runtime, CPU execution provider: fp32 files and static INT8 QDQ files (``common.compress.quantize``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMPORTS = ("onnxruntime",)


def unavailable() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"onnxruntime is not installed ({e})"
    return None


def version() -> str:
    import onnxruntime

    return onnxruntime.__version__


class OrtSession:
    backend = "onnxruntime"

    def __init__(self, path: Path, size: int, threads: int, options: dict):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        # a QDQ file runs integer kernels for the quantized ops (the head's decoding stays fp32)
        self.precision_used = "int8 (QDQ)" if options.get("precision") == "int8" else "fp32"

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_all(x)[0]

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        return self.sess.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})


def open(path: Path, size: int, threads: int, options: dict) -> OrtSession:  # noqa: A001 - the backend's verb
    return OrtSession(path, size, threads, options)
