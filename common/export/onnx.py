"""PyTorch → ONNX (TorchScript exporter, opset ≥ 17) with a numeric check.

After export the same sample inputs go through onnxruntime (CPU) and PyTorch; the largest absolute
difference of every output is recorded and a difference above ``atol`` is an error, so a broken export
cannot reach the evaluation stage.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    raise TypeError(f"unsupported output type {type(out).__name__}")


def export_onnx(
    model: nn.Module,
    sample: torch.Tensor,
    path: str | Path,
    *,
    opset: int = 17,
    input_name: str = "images",
    output_names: list[str] | None = None,
    dynamic_batch: bool = True,
    dynamic_hw: bool = False,
    simplify: bool = True,
    atol: float = 1e-3,
    check_samples: torch.Tensor | None = None,
) -> dict:
    """Export ``model`` (in eval mode) to ``path``; return export facts including ``max_abs_diff``.

    ``dynamic_hw``: the input's height and width (and the outputs' last axis) are dynamic too, so one file runs at
    the trained size and at another (latency at the paper's input size); the model must trace its size-dependent
    constants as operations (ultralytics' ``Detect.dynamic = True``)."""
    import onnx
    import onnxruntime as ort

    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with torch.no_grad():
        ref = _flatten(model(sample))
    output_names = output_names or [f"output{i}" for i in range(len(ref))]
    dynamic_axes = None
    if dynamic_batch or dynamic_hw:
        in_axes = {**({0: "batch"} if dynamic_batch else {}), **({2: "height", 3: "width"} if dynamic_hw else {})}
        out_axes = {**({0: "batch"} if dynamic_batch else {}), **({ref[0].dim() - 1: "anchors"} if dynamic_hw else {})}
        dynamic_axes = {input_name: in_axes, **{n: dict(out_axes) for n in output_names}}
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / path.name
        torch.onnx.export(model, (sample,), str(tmp_path), opset_version=opset, input_names=[input_name],
                          output_names=output_names, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True)
        proto = onnx.load(str(tmp_path))
        if simplify:
            import onnxslim

            proto = onnxslim.slim(proto)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp_path))
        tmp_path.replace(path)

    check = check_samples if check_samples is not None else sample
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        torch_out = _flatten(model(check))
    ort_out = sess.run(None, {input_name: check.numpy()})
    diffs = [float(np.abs(o - t.numpy()).max()) for o, t in zip(ort_out, torch_out)]
    max_diff = max(diffs)
    if not np.isfinite(max_diff) or max_diff > atol:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{path}: ONNX output differs from PyTorch by {max_diff:.3g} > atol {atol}")
    return {
        "onnx": str(path),
        "opset": opset,
        "input_shape": list(sample.shape),
        "outputs": output_names,
        "max_abs_diff": max_diff,
        "check_batch": int(check.shape[0]),
        "file_bytes": path.stat().st_size,
    }


def set_onnx_metadata(path: str | Path, metadata: dict) -> None:
    """Store ``metadata`` in the ONNX file's ``metadata_props`` (string values: ``str(v)``, the convention
    ultralytics' exporter uses and its loaders parse back with ``ast.literal_eval``). Rewrites the file atomically;
    an existing key is replaced."""
    import onnx

    from common.io import atomic_write_bytes

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    keep = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = str(k), str(v)
    atomic_write_bytes(path, model.SerializeToString())


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict of strings."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
