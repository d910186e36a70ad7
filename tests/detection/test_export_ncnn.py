"""A detection model goes to ncnn at every latency size, whatever size its head saw last: the anchor grid is fixed
at each size before pnnx traces (and checks) the model. The smoke export failed at 640 px without it ("Graphs
differed across invocations": the grid computed in pnnx's first trace run, cached in its check run)."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def test_ncnn_files_at_two_sizes_match_pytorch(tmp_path):
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    from ultralytics.nn.tasks import DetectionModel

    from common.adapters.ultralytics import InferenceWrapper
    from common.runtime import Artifact, open_session
    from tasks.detection.export import export_ncnn, static_head

    torch.manual_seed(0)
    model = DetectionModel("yolov8n.yaml", nc=2, verbose=False).eval()
    model.fuse(verbose=False)
    head = model.model[-1]
    wrapper = InferenceWrapper(model).eval()
    head.dynamic = True  # as after the ONNX export, the head last saw another size
    with torch.no_grad():
        wrapper(torch.rand(1, 3, 64, 64))
    files = export_ncnn(wrapper, head, "m", [64, 96], tmp_path, tmp_path)
    assert set(files) == {"64", "96"} and all((tmp_path / f"m@{s}.ncnn.param").is_file() for s in files)
    x = np.random.default_rng(0).random((1, 3, 96, 96), dtype=np.float32)
    static_head(wrapper, head, 96)
    with torch.no_grad():
        ref = wrapper(torch.from_numpy(x)).numpy()
    out = open_session(Artifact("m", "ncnn", "fp32", files), 96).run(x)
    assert out.shape == ref.shape == (1, 6, (96 // 8) ** 2 + (96 // 16) ** 2 + (96 // 32) ** 2)
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-2)
