"""The pose peer's ONNX export is an ultralytics model file too (its metadata)."""
import numpy as np


def test_the_peer_onnx_loads_in_ultralytics_with_its_joints(tmp_path):
    """The YOLOv8n-pose peer's ONNX carries ultralytics' metadata: ``YOLO(x.onnx, task="pose")`` predicts K joints
    (without the metadata ultralytics cannot size the keypoint output and fails)."""
    import cv2
    from ultralytics import YOLO

    from common.adapters.ultralytics import build_known
    from common.export.onnx import onnx_metadata
    from tasks.pose.peer import export_peer_onnx

    model = build_known("yolov8n-pose.yaml", 1, (5, 3)).float().eval()
    model.fuse(verbose=False)
    path = tmp_path / "peer.onnx"
    export_peer_onnx(model, 64, path, atol=5e-3, variant="yolov8n-pose", precision="fp32")
    meta = onnx_metadata(path)
    assert meta["task"] == "pose" and meta["kpt_shape"] == "[5, 3]" and meta["variant"] == "yolov8n-pose"
    img = tmp_path / "x.jpg"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    result = YOLO(str(path), task="pose").predict(str(img), imgsz=64, conf=0.0, verbose=False)[0]
    assert result.keypoints is not None and result.keypoints.data.shape[1:] == (5, 3)
