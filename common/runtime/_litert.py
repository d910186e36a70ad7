"""LiteRT (formerly TensorFlow Lite) on the CPU: a ``.tflite`` file converted from PyTorch by ``litert-torch``
(one static input size per file), run by ``ai_edge_litert``'s interpreter (XNNPACK delegate).

Where the converter cannot be installed beside the project's pins, :func:`unavailable` gives the reason and the
caller records it (see the README's section on runtimes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMPORTS = ("ai_edge_litert.interpreter",)


def unavailable() -> str | None:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError as e:
        return (f"ai-edge-litert is not installed ({e}); its converter litert-torch pins pydantic and "
                f"typing_extensions below the project's versions and pulls jax and torchao, so it is not among the "
                f"project's extras")
    try:
        import litert_torch  # noqa: F401
    except ImportError as e:
        return f"litert-torch (the PyTorch → LiteRT converter) is not installed ({e})"
    return None


def version() -> str:
    from importlib.metadata import version as v

    return v("ai-edge-litert")


def export(module, sample, path: str | Path) -> Path:
    import litert_torch

    path = Path(path)
    litert_torch.convert(module.eval(), (sample,)).export(str(path))
    return path


class LiteRTSession:
    backend = "litert"

    def __init__(self, path: Path, size: int, threads: int, options: dict):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]
        self.precision_used = options.get("precision", "fp32")

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(len(x)):
            self.interp.set_tensor(self.inp, np.ascontiguousarray(x[i:i + 1], dtype=np.float32))
            self.interp.invoke()
            outs.append(self.interp.get_tensor(self.out).copy())
        return np.concatenate(outs)


def open(path: Path, size: int, threads: int, options: dict) -> LiteRTSession:  # noqa: A001 - the backend's verb
    return LiteRTSession(path, size, threads, options)
