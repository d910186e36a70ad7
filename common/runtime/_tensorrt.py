"""TensorRT: the paper's own deployment runtime. It needs an NVIDIA GPU and the ``tensorrt`` package; on a CPU
machine :func:`unavailable` says so and the caller records the reason (the ``full`` profile on a GPU runs it).

Engines are built from the ONNX file (explicit batch, static input size) at fp32 or fp16 and run on CUDA
through torch tensors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMPORTS = ("tensorrt", "torch")


def unavailable() -> str | None:
    try:
        import torch
    except ImportError as e:
        return f"torch is not installed ({e})"
    if not torch.cuda.is_available():
        return "TensorRT needs an NVIDIA GPU; this machine has none (the full profile on a GPU runs it)"
    try:
        import tensorrt  # noqa: F401
    except ImportError as e:
        return f"tensorrt is not installed ({e}): pip install tensorrt"
    return None


def version() -> str:
    import tensorrt

    return tensorrt.__version__


def build_engine(onnx_path: str | Path, engine_path: str | Path, size: int, channels: int = 3,
                 fp16: bool = False) -> Path:
    reason = unavailable()
    if reason:
        from common.runtime import Unavailable

        raise Unavailable(reason)
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT could not parse it: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    shape = (1, channels, size, size)
    profile.set_shape(name, shape, shape, shape)
    config.add_optimization_profile(profile)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"{onnx_path}: TensorRT failed to build an engine")
    Path(engine_path).write_bytes(bytes(engine))
    return Path(engine_path)


class TrtSession:
    backend = "tensorrt"

    def __init__(self, path: Path, size: int, threads: int, options: dict):
        reason = unavailable()
        if reason:
            from common.runtime import Unavailable

            raise Unavailable(reason)
        import tensorrt as trt
        import torch

        self.torch = torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        self.context = self.engine.create_execution_context()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.precision_used = options.get("precision", "fp32")
        self.stream = torch.cuda.Stream()

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        outs = []
        for i in range(len(x)):
            inp = torch.from_numpy(np.ascontiguousarray(x[i:i + 1], dtype=np.float32)).cuda()
            self.context.set_input_shape(self.names[0], tuple(inp.shape))
            out = torch.empty(tuple(self.context.get_tensor_shape(self.names[1])), device="cuda")
            self.context.set_tensor_address(self.names[0], inp.data_ptr())
            self.context.set_tensor_address(self.names[1], out.data_ptr())
            self.context.execute_async_v3(self.stream.cuda_stream)
            self.stream.synchronize()
            outs.append(out.cpu().numpy())
        return np.concatenate(outs)


def open(path: Path, size: int, threads: int, options: dict) -> TrtSession:  # noqa: A001 - the backend's verb
    return TrtSession(path, size, threads, options)
