"""One exported ONNX model onto the CPU runtimes every task deploys to, as :class:`~common.runtime.Artifact` s.

:func:`export_runtimes` takes a task's fp32 ONNX file (dynamic size, checked against PyTorch by
``common.export.onnx.export_onnx``) and writes, beside it:

============== ============================== ====================================================================
backend        fp32                           int8
============== ============================== ====================================================================
onnxruntime    the ONNX file itself            ``<name>+int8.onnx``: static QDQ on calibration inputs
                                              (``common.compress.quantize``)
openvino       ``<name>.xml/.bin`` (IR)        ``<name>+int8.xml/.bin``: NNCF post-training quantization on the
                                              same calibration inputs (``common.runtime._openvino``)
============== ============================== ====================================================================

A backend or precision that cannot be produced here is returned in ``unavailable`` with its reason (the report
prints it), never skipped silently. Detection keeps its own export stage (ncnn/LiteRT files per input size,
ultralytics' metadata and head-decoding exclusions); pose, ReID and the other tasks use this one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.runtime import Artifact, available

INT8_SUFFIX = "+int8"
CPU_BACKENDS = ("onnxruntime", "openvino")


def export_runtimes(onnx_path: str | Path, calibration: list[np.ndarray] | None, *, name: str | None = None,
                    backends: tuple[str, ...] | list[str] = CPU_BACKENDS, files_dir: str | Path | None = None,
                    ort_exclude_nodes: list[str] | None = None, ov_ignored_names: list[str] = (),
                    ov_ignored_types: list[str] = ("Sigmoid",)) -> tuple[list[Artifact], list[dict], dict]:
    """fp32 and (with ``calibration``, a list of (1, C, H, W) float32 arrays) INT8 artifacts of ``onnx_path`` on
    ``backends``, written beside it. ``files_dir``: where the files will live once the caller's atomic output
    folder is renamed into place (the artifacts record that path; default: the ONNX file's folder).
    Returns (artifacts, unavailable [{variant, backend, precision, reason}], facts {backend/precision: …})."""
    from common.compress.quantize import quantize_static_int8

    onnx_path = Path(onnx_path)
    name = name or onnx_path.stem
    here = onnx_path.parent
    final = Path(files_dir) if files_dir is not None else here
    unknown = [b for b in backends if b not in CPU_BACKENDS]
    if unknown:
        raise ValueError(f"export_runtimes writes {CPU_BACKENDS}; got {unknown} (detection's export stage writes the "
                         f"static-size runtimes)")
    artifacts: list[Artifact] = []
    unavailable: list[dict] = []
    facts: dict[str, dict] = {}

    def skip(backend: str, precision: str, reason: str) -> None:
        unavailable.append({"variant": name, "backend": backend, "precision": precision, "reason": reason})
        print(f"{name}: {backend} {precision} not exported: {reason}")

    for backend in backends:
        reason = available(backend)
        if reason:
            skip(backend, "fp32", reason)
            if calibration:
                skip(backend, "int8", reason)
            continue
        if backend == "onnxruntime":
            artifacts.append(Artifact(name, "onnxruntime", "fp32", {"any": str(final / onnx_path.name)}))
            if calibration:
                out = here / f"{name}{INT8_SUFFIX}.onnx"
                facts["onnxruntime/int8"] = quantize_static_int8(onnx_path, out, calibration,
                                                                 exclude_nodes=ort_exclude_nodes)
                artifacts.append(Artifact(name, "onnxruntime", "int8", {"any": str(final / out.name)}))
        else:
            from common.runtime import _openvino

            try:
                _openvino.export_ir(onnx_path, here / f"{name}.xml")
                artifacts.append(Artifact(name, "openvino", "fp32", {"any": str(final / f"{name}.xml")}))
            except Exception as e:  # noqa: BLE001 - recorded with its cause for the report
                skip("openvino", "fp32", f"conversion failed: {type(e).__name__}: {e}")
            if calibration:
                try:
                    facts["openvino/int8"] = _openvino.export_int8(
                        onnx_path, here / f"{name}{INT8_SUFFIX}.xml", calibration,
                        ignored_names=list(ov_ignored_names), ignored_types=list(ov_ignored_types))
                    artifacts.append(Artifact(name, "openvino", "int8", {"any": str(final / f"{name}{INT8_SUFFIX}.xml")}))
                except Exception as e:  # noqa: BLE001
                    skip("openvino", "int8", f"NNCF quantization failed: {type(e).__name__}: {e}")
    return artifacts, unavailable, facts


def at(art: Artifact, folder: str | Path) -> Artifact:
    """``art`` with its files read from ``folder`` instead (same file names): score the files in a stage's
    temporary output folder before it is renamed into place."""
    return Artifact(art.name, art.backend, art.precision, {k: str(Path(folder) / Path(v).name) for k, v in art.files.items()},
                    art.producer, dict(art.options))
