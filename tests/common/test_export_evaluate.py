import pytest
import torch
from torch import nn

from common.evaluate.profile import count_gflops, count_params, onnx_latency, profile_variant
from common.export.onnx import export_onnx


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()


def test_export_matches_pytorch(tmp_path):
    facts = export_onnx(net(), torch.rand(1, 3, 16, 16), tmp_path / "m.onnx", check_samples=torch.rand(3, 3, 16, 16))
    assert facts["max_abs_diff"] < 1e-4 and facts["check_batch"] == 3 and facts["opset"] == 17
    assert (tmp_path / "m.onnx").stat().st_size == facts["file_bytes"]


def test_export_rejects_old_opset(tmp_path):
    with pytest.raises(ValueError, match="opset must be >= 17"):
        export_onnx(net(), torch.rand(1, 3, 8, 8), tmp_path / "m.onnx", opset=13)


def test_export_catches_numeric_mismatch(tmp_path):
    class Flaky(nn.Module):  # traced graph ≠ eager behaviour: the check must notice
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * (1.0 if self.calls < 3 else 2.0)

    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        export_onnx(Flaky(), torch.rand(1, 3, 4, 4), tmp_path / "f.onnx", simplify=False)
    assert not (tmp_path / "f.onnx").exists()


def test_params_and_flops_golden():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_params(conv) == 8 * 3 * 9
    # MACs = out_channels · in_channels · k² · H · W; FLOPs = 2 · MACs
    assert count_gflops(conv, torch.zeros(1, 3, 8, 8)) * 1e9 == pytest.approx(2 * 8 * 3 * 9 * 64)


def test_latency_record(tmp_path):
    export_onnx(net(), torch.rand(1, 3, 16, 16), tmp_path / "m.onnx")
    rec = profile_variant(net(), tmp_path / "m.onnx", [1, 3, 16, 16], threads=(1, 2), warmup=1, runs=5)
    assert set(rec["latency_ms"]) == {"1", "2"}
    for lat in rec["latency_ms"].values():
        assert 0 < lat["p50"] <= lat["p90"]
    assert rec["peak_mem_mb"] >= 0 and rec["onnx_bytes"] > 0


def test_latency_error_is_reported(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match=r"bad.onnx\): latency measurement failed"):
        onnx_latency(tmp_path / "bad.onnx", [1, 3, 4, 4], warmup=0, runs=1)
