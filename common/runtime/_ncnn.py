"""ncnn (Tencent's mobile inference library) on the CPU, the runtime ultralytics' ``format="ncnn"`` export targets.

Models reach it through pnnx (PyTorch → pnnx → ncnn ``.param`` + ``.bin``), traced at one static input size
(ncnn's YOLO graphs bake the anchor grid in, as ultralytics' export does), so an artifact holds one file pair per
size. fp16: the same files loaded with ncnn's fp16 storage/arithmetic options; whether the CPU actually used
fp16 is measured at export (outputs compared with the fp32 load) and stored as ``options["fp16_effective"]``.
INT8 needs ncnn's ``ncnn2table`` / ``ncnn2int8`` tools, which the ncnn and pnnx wheels do not ship
(:data:`INT8_UNAVAILABLE`)."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

IMPORTS = ("ncnn",)
INT8_UNAVAILABLE = ("ncnn INT8 needs the ncnn2table and ncnn2int8 calibration tools, which the ncnn and pnnx "
                    "wheels on PyPI do not ship (they come with a source build of ncnn)")


def unavailable() -> str | None:
    try:
        import ncnn  # noqa: F401
        import pnnx  # noqa: F401
    except ImportError as e:
        return f"ncnn/pnnx is not installed ({e}): pip install ncnn pnnx"
    return None


def version() -> str:
    import ncnn

    return ncnn.__version__


def export(module, sample, param_path: str | Path) -> Path:
    """Trace ``module`` at ``sample``'s shape with pnnx and write ``<stem>.ncnn.param`` / ``.ncnn.bin`` (fp32
    weights) at ``param_path``. pnnx writes intermediate files into its working directory: it runs in a
    temporary one."""
    import pnnx

    param_path = Path(param_path).resolve()
    if not param_path.name.endswith(".ncnn.param"):
        raise ValueError(f"{param_path}: an ncnn param file name ends with .ncnn.param")
    bin_path = param_path.with_name(param_path.name[: -len(".param")] + ".bin")
    with tempfile.TemporaryDirectory(prefix="pnnx-") as td, contextlib.chdir(td):
        files = {"ncnnparam": "m.ncnn.param", "ncnnbin": "m.ncnn.bin", "ncnnpy": "m_ncnn.py",
                 "pnnxparam": "m.pnnx.param", "pnnxbin": "m.pnnx.bin", "pnnxpy": "m_pnnx.py",
                 "pnnxonnx": "m.pnnx.onnx"}
        try:
            pnnx.export(module, "m.pt", (sample,), fp16=False, **files)
        except Exception:  # noqa: BLE001 - pnnx imports its generated python file last; the ncnn files decide
            if not (Path("m.ncnn.param").exists() and Path("m.ncnn.bin").exists()):
                raise
        if not Path("m.ncnn.param").exists():
            raise RuntimeError(f"pnnx wrote no ncnn model for {param_path.name} (see its log above)")
        param_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move("m.ncnn.param", param_path)
        shutil.move("m.ncnn.bin", bin_path)
    return param_path


class NcnnSession:
    backend = "ncnn"

    def __init__(self, path: Path, size: int, threads: int, options: dict):
        import ncnn

        fp16 = options.get("precision") == "fp16"
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.num_threads = threads
        opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = fp16
        opt.use_bf16_storage = False
        opt.use_vulkan_compute = False
        self.net.load_param(str(path))
        self.net.load_model(str(path.with_name(path.name[: -len(".param")] + ".bin")))
        self.threads = threads
        effective = options.get("fp16_effective")
        self.precision_used = ("fp16" if effective else "fp32 (fp16 requested; this CPU computed fp32)"
                               if effective is False else "fp16 (requested)") if fp16 else "fp32"

    def _one(self, img: np.ndarray) -> np.ndarray:
        import ncnn

        ex = self.net.create_extractor()  # takes net.opt.num_threads; older ncnn wheels also had a per-extractor setter
        if hasattr(ex, "set_num_threads"):
            ex.set_num_threads(self.threads)
        ex.input("in0", ncnn.Mat(np.ascontiguousarray(img, dtype=np.float32)).clone())
        _, out = ex.extract("out0")
        return np.array(out)[None]

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self._one(x[i]) for i in range(len(x))])


def open(path: Path, size: int, threads: int, options: dict) -> NcnnSession:  # noqa: A001 - the backend's verb
    return NcnnSession(path, size, threads, options)
