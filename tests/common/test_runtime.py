"""``common.runtime``: every edge runtime behind one interface gives PyTorch's outputs (fp32 closely, INT8 and
OpenVINO's default precision loosely), artifacts describe their files, ``measure`` times a model in a fresh
process, and a backend that cannot run here says why (TensorRT without a GPU)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from common.runtime import Artifact, Unavailable, available, measure, open_session, run_batched
from tests.conftest import has

SIZES = (16, 32, 64)
NCNN_SIZE = 32


class TinyNet(nn.Module):
    """Conv-BN-ReLU × 3 and a 1×1 conv head, flattened to (N, K, H·W) as a detection head's output is."""

    def __init__(self) -> None:
        super().__init__()
        layers, c = [], 3
        for out, stride in ((8, 1), (16, 2), (16, 1)):
            layers += [nn.Conv2d(c, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten(2)


def _net() -> TinyNet:
    torch.manual_seed(0)
    net = TinyNet()
    with torch.no_grad():  # non-trivial BN statistics, so folding them is exercised
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def _inputs(size: int, n: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)


def _torch(net: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def _rel(out: np.ndarray, ref: np.ndarray) -> float:
    """‖out − ref‖ / ‖ref‖."""
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The tiny net and its ONNX file (dynamic batch and size: one file for every size)."""
    from common.export.onnx import export_onnx

    d = tmp_path_factory.mktemp("runtime")
    net = _net()
    export_onnx(net, torch.rand(1, 3, 32, 32), d / "tiny.onnx", output_names=["out"], dynamic_hw=True,
                atol=1e-4, check_samples=torch.from_numpy(_inputs(32)))
    return {"net": net, "dir": d, "onnx": d / "tiny.onnx"}


@pytest.fixture(scope="module")
def calibration():
    return [_inputs(32, 1, seed=100 + i) for i in range(8)]


@pytest.fixture(scope="module")
def onnx_int8(model, calibration):
    from common.compress.quantize import quantize_static_int8

    path = model["dir"] / "tiny+int8.onnx"
    quantize_static_int8(model["onnx"], path, calibration)
    return path


@pytest.fixture(scope="module")
def ov_files(model, calibration):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from common.runtime import _openvino

    fp32 = _openvino.export_ir(model["onnx"], model["dir"] / "tiny.xml")
    facts = _openvino.export_int8(model["onnx"], model["dir"] / "tiny+int8.xml", calibration)
    return {"fp32": fp32, "int8": model["dir"] / "tiny+int8.xml", "facts": facts}


@pytest.fixture(scope="module")
def ncnn_param(model):
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    from common.runtime import _ncnn

    with torch.no_grad():
        return _ncnn.export(model["net"], torch.rand(1, 3, NCNN_SIZE, NCNN_SIZE),
                            model["dir"] / f"tiny@{NCNN_SIZE}.ncnn.param")


# ------------------------------------------------------------------ outputs against PyTorch


@pytest.mark.parametrize("size", SIZES)
def test_onnxruntime_fp32_matches_torch_at_every_size(model, size):
    art = Artifact("tiny", "onnxruntime", "fp32", {"any": str(model["onnx"])})
    sess = open_session(art, size, threads=1)
    x = _inputs(size)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert out.shape == ref.shape == (2, 5, (size // 2) ** 2)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    assert sess.precision_used == "fp32"
    # batched in slices of one: the same outputs, in order
    np.testing.assert_allclose(run_batched(sess, x, 1), out, atol=1e-6)


def test_onnxruntime_int8_is_correlated_with_fp32(model, onnx_int8):
    art = Artifact("tiny", "onnxruntime", "int8", {"any": str(onnx_int8)})
    sess = open_session(art, 32, threads=1)
    x = _inputs(32, 4, seed=7)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert out.shape == ref.shape
    assert 0 < _rel(out, ref) < 0.10  # quantized (not bit-equal) yet close
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.99
    assert "int8" in sess.precision_used


@pytest.mark.parametrize("size", (16, 64))
def test_openvino_f32_matches_torch(model, ov_files, size):
    art = Artifact("tiny", "openvino", "fp32", {"any": str(ov_files["fp32"])}, options={"inference_precision": "f32"})
    sess = open_session(art, size, threads=1)
    x = _inputs(size)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    assert sess.precision_used == "fp32"


class TwoHeads(nn.Module):
    """Two outputs at two resolutions (as a bottom-up pose model's heatmaps at 1/4 and 1/2)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Conv2d(3, 4, 3, 2, 1), nn.Conv2d(3, 2, 3, 1, 1)

    def forward(self, x):
        return self.a(x), self.b(x)


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    from common.export.onnx import export_onnx

    d = tmp_path_factory.mktemp("two_heads")
    net = TwoHeads().eval()
    export_onnx(net, torch.rand(1, 3, 32, 16), d / "two.onnx", output_names=["quarter", "half"], dynamic_hw=True,
                atol=1e-4)
    return {"net": net, "onnx": d / "two.onnx", "dir": d}


@pytest.mark.parametrize("backend", ("onnxruntime", "openvino"))
def test_non_square_inputs_and_every_output(two_heads, backend):
    """(H, W) sizes (a ReID crop is 64 × 32) and ``run_all``: every output, in order, equal to PyTorch's."""
    path = two_heads["onnx"]
    if backend == "openvino":
        pytest.importorskip("openvino")
        from common.runtime import _openvino

        path = _openvino.export_ir(path, two_heads["dir"] / "two.xml")
    art = Artifact("two", backend, "fp32", {"any": str(path)}, options={"inference_precision": "f32"})
    sess = open_session(art, (64, 32), threads=1)
    x = np.random.default_rng(3).random((2, 3, 64, 32), dtype=np.float32)
    outs = sess.run_all(x)
    with torch.no_grad():
        refs = [t.numpy() for t in two_heads["net"](torch.from_numpy(x))]
    assert [o.shape for o in outs] == [r.shape for r in refs] == [(2, 4, 32, 16), (2, 2, 64, 32)]
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(o, r, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(sess.run(x), refs[0], atol=1e-4, rtol=1e-4)


def test_non_square_sizes_are_refused_by_static_backends(tmp_path):
    param = tmp_path / "tiny@64x32.ncnn.param"
    art = Artifact("tiny", "ncnn", "fp32", {"64x32": str(param)})
    assert art.file_for((64, 32)) == param
    with pytest.raises(FileNotFoundError):  # the file is checked first
        open_session(art, (64, 32))
    param.write_text("7767517\n")
    with pytest.raises(Unavailable, match="square sizes; 64×32"):
        open_session(art, (64, 32))


def test_openvino_default_precision_is_recorded_and_close(model, ov_files):
    art = Artifact("tiny", "openvino", "fp32", {"any": str(ov_files["fp32"])})
    sess = open_session(art, 32, threads=1)
    x = _inputs(32)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert sess.precision_used in ("fp32", "bf16")
    assert out.shape == ref.shape
    assert _rel(out, ref) < (1e-4 if sess.precision_used == "fp32" else 0.05)


def test_openvino_nncf_int8_is_correlated_with_fp32(model, ov_files):
    assert ov_files["facts"]["fake_quantize_ops"] > 0 and ov_files["facts"]["calibration_images"] == 8
    art = Artifact("tiny", "openvino", "int8", {"any": str(ov_files["int8"])}, options={"inference_precision": "f32"})
    sess = open_session(art, 32, threads=1)
    x = _inputs(32, 4, seed=7)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert out.shape == ref.shape
    assert 0 < _rel(out, ref) < 0.10
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.99
    assert "int8" in sess.precision_used


def test_ncnn_fp32_matches_torch(model, ncnn_param):
    art = Artifact("tiny", "ncnn", "fp32", {str(NCNN_SIZE): str(ncnn_param)})
    sess = open_session(art, NCNN_SIZE, threads=1)
    x = _inputs(NCNN_SIZE)
    out, ref = sess.run(x), _torch(model["net"], x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    assert sess.precision_used == "fp32"
    # the export wrote its pair under the name asked for, nothing else
    assert sorted(p.name for p in ncnn_param.parent.glob("*.ncnn.*")) == [f"tiny@{NCNN_SIZE}.ncnn.bin",
                                                                        f"tiny@{NCNN_SIZE}.ncnn.param"]


# ------------------------------------------------------------------ artifacts


def test_file_for_picks_the_size_then_any(tmp_path):
    art = Artifact("tiny", "ncnn", "fp32", {32: tmp_path / "a.ncnn.param", "any": tmp_path / "b.ncnn.param"})
    assert art.files == {"32": str(tmp_path / "a.ncnn.param"), "any": str(tmp_path / "b.ncnn.param")}
    assert art.file_for(32) == tmp_path / "a.ncnn.param"
    assert art.file_for(64) == tmp_path / "b.ncnn.param"
    only = Artifact("tiny", "ncnn", "fp32", {"32": str(tmp_path / "a.ncnn.param")})
    with pytest.raises(KeyError, match=r"tiny/ncnn/fp32.*64"):
        only.file_for(64)


def test_a_missing_file_names_the_artifact(tmp_path):
    art = Artifact("ghost", "onnxruntime", "fp32", {"any": str(tmp_path / "ghost.onnx")})
    with pytest.raises(FileNotFoundError, match=r"ghost\.onnx.*ghost/onnxruntime/fp32"):
        open_session(art, 32)


def test_unknown_backend_or_precision_is_refused():
    with pytest.raises(ValueError, match="'coreml'"):
        Artifact("tiny", "coreml", "fp32", {"any": "x"})
    with pytest.raises(ValueError, match="'int4'"):
        Artifact("tiny", "onnxruntime", "int4", {"any": "x"})


def test_artifact_round_trips_through_a_dict():
    a = Artifact("tiny", "openvino", "int8", {"any": "tiny+int8.xml"}, producer="peer",
                 options={"quantization": {"preset": "mixed", "ops": [1, 2]}})
    d = a.to_dict()
    assert d["options"]["quantization"]["ops"] == [1, 2] and d["producer"] == "peer"
    b = Artifact.from_dict(d)
    assert b == a and b.key == "tiny/openvino/int8"
    assert b != Artifact.from_dict({**d, "precision": "fp32"})


def test_bytes_counts_the_bin_companions(tmp_path):
    (tmp_path / "m.xml").write_bytes(b"x" * 10)
    (tmp_path / "m.bin").write_bytes(b"x" * 100)
    (tmp_path / "m.ncnn.param").write_bytes(b"x" * 20)
    (tmp_path / "m.ncnn.bin").write_bytes(b"x" * 200)
    (tmp_path / "m.onnx").write_bytes(b"x" * 30)
    assert Artifact("m", "openvino", "fp32", {"any": str(tmp_path / "m.xml")}).bytes() == 110
    assert Artifact("m", "ncnn", "fp32", {"32": str(tmp_path / "m.ncnn.param")}).bytes() == 220
    assert Artifact("m", "onnxruntime", "fp32", {"any": str(tmp_path / "m.onnx")}).bytes() == 30


# ------------------------------------------------------------------ measure


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_measure_times_each_thread_count_in_a_fresh_process(model, request, backend):
    if backend == "onnxruntime":
        art, used = Artifact("tiny", "onnxruntime", "fp32", {"any": str(model["onnx"])}), ("fp32",)
    else:
        ov = request.getfixturevalue("ov_files")
        art, used = Artifact("tiny", "openvino", "fp32", {"any": str(ov["fp32"])}), ("fp32", "bf16")
    m = measure(art, 32, threads=(1, 2), warmup=2, runs=5)
    assert set(m["latency_ms"]) == {"1", "2"}
    for lat in m["latency_ms"].values():
        assert lat["runs"] == 5
        assert math.isfinite(lat["p50"]) and 0 < lat["p50"] <= lat["p90"] < 1000
    assert 0 <= m["peak_mem_mb"] < 200
    assert m["precision_used"] in used and m["size"] == 32


def test_measure_reports_a_failure_with_the_artifact(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx file")
    art = Artifact("bad", "onnxruntime", "fp32", {"any": str(tmp_path / "bad.onnx")})
    with pytest.raises(RuntimeError, match=r"bad/onnxruntime/fp32 at 16 px"):
        measure(art, 16, threads=(1,), warmup=1, runs=1)


# ------------------------------------------------------------------ availability


def test_available_backends_here():
    assert available("onnxruntime") is None
    for backend, modules in (("openvino", ("openvino",)), ("ncnn", ("ncnn", "pnnx"))):
        installed = all(has(m) for m in modules)
        reason = available(backend)
        assert (reason is None) == installed, reason
        if not installed:
            assert "pip install" in reason


def test_tensorrt_without_a_gpu_is_unavailable_with_the_reason(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: TensorRT may run")
    reason = available("tensorrt")
    assert reason is not None and "GPU" in reason
    engine = tmp_path / "tiny@32.fp32.engine"
    engine.write_bytes(b"\0" * 16)
    art = Artifact("tiny", "tensorrt", "fp32", {"32": str(engine)})
    with pytest.raises(Unavailable, match="GPU"):
        open_session(art, 32)
