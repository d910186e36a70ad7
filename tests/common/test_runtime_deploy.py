"""``common.runtime.deploy.export_runtimes``: one ONNX file onto ONNX Runtime and OpenVINO, fp32 and INT8, every
artifact opening and agreeing with PyTorch; a backend that cannot run is listed with its reason."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from common.runtime import open_session
from common.runtime.deploy import at, export_runtimes


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from common.export.onnx import export_onnx

    d = tmp_path_factory.mktemp("deploy")
    net = Net().eval()
    export_onnx(net, torch.rand(1, 3, 32, 16), d / "net.onnx", output_names=["out"], dynamic_hw=True, atol=1e-4)
    rng = np.random.default_rng(0)
    calib = [rng.random((1, 3, 32, 16), dtype=np.float32) for _ in range(8)]
    arts, missing, facts = export_runtimes(d / "net.onnx", calib, files_dir=d / "final")
    return {"net": net, "dir": d, "arts": arts, "missing": missing, "facts": facts}


def test_every_cpu_runtime_in_both_precisions(exported):
    keys = sorted(a.key for a in exported["arts"])
    assert keys == ["net/onnxruntime/fp32", "net/onnxruntime/int8", "net/openvino/fp32", "net/openvino/int8"]
    assert exported["missing"] == []
    # the artifacts name the final folder; `at` reads the files where they are now
    assert all(str(exported["dir"] / "final") in next(iter(a.files.values())) for a in exported["arts"])
    x = np.random.default_rng(5).random((2, 3, 32, 16), dtype=np.float32)
    with torch.no_grad():
        ref = exported["net"](torch.from_numpy(x)).numpy()
    for art in exported["arts"]:
        art = at(art, exported["dir"])
        if art.backend == "openvino" and art.precision == "fp32":
            art.options["inference_precision"] = "f32"
        out = open_session(art, (32, 16)).run(x)
        rel = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        assert rel < (1e-4 if art.precision == "fp32" else 0.1), art.key
        if art.precision == "int8":
            assert rel > 0  # quantized: not bit-equal
    assert exported["facts"]["openvino/int8"]["fake_quantize_ops"] > 0


def test_an_unavailable_backend_is_listed_with_its_reason(tmp_path, monkeypatch):
    from common.export.onnx import export_onnx
    from common.runtime import _openvino

    export_onnx(Net().eval(), torch.rand(1, 3, 16, 16), tmp_path / "net.onnx", output_names=["out"], atol=1e-4)
    monkeypatch.setattr(_openvino, "unavailable", lambda: "openvino is not installed (test)")
    arts, missing, _ = export_runtimes(tmp_path / "net.onnx", None)
    assert [a.key for a in arts] == ["net/onnxruntime/fp32"]
    assert missing == [{"variant": "net", "backend": "openvino", "precision": "fp32",
                        "reason": "openvino is not installed (test)"}]
    with pytest.raises(ValueError, match="static-size runtimes"):
        export_runtimes(tmp_path / "net.onnx", None, backends=["ncnn"])
