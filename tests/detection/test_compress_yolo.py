"""The compression method on YOLOv8 itself: C2f split, pruning through the dependency graph, pruned
save/load, and the CWD student module (pruned student, unpruned teacher)."""
import pytest
import torch

from common.adapters import ultralytics as yolo
from tasks.detection.prune import prune_model


@pytest.fixture(scope="module")
def pruned_pair(tmp_path_factory):
    torch.manual_seed(0)
    teacher = yolo.build_model("yolov8n.yaml", 10).eval()
    d = tmp_path_factory.mktemp("m")
    yolo.save_model(d / "teacher.pt", teacher)
    student = yolo.load_model(d / "teacher.pt").eval()
    report = prune_model(student, 128, 0.5, "uniform", 8)
    yolo.save_model(d / "pruned.pt", student)
    return d, teacher, student, report


def test_c2f_split_is_exact():
    torch.manual_seed(0)
    m = yolo.build_model("yolov8n.yaml", 10).eval()
    x = torch.rand(1, 3, 128, 128)
    ref = m(x)[0]
    yolo.split_c2f(m)
    assert not any(type(x).__name__ == "C2f" for x in m.modules())
    assert torch.equal(m(x)[0], ref)


def test_pruned_yolo_keeps_its_interface(pruned_pair):
    _, teacher, student, report = pruned_pair
    assert 0.2 < report.params_ratio < 0.3 and 0.2 < report.gflops_ratio < 0.3
    x = torch.rand(2, 3, 128, 128)
    assert student(x)[0].shape == teacher(x)[0].shape  # (B, 4 + nc, anchors): head outputs untouched
    head = student.model[-1]
    assert all(seq[-1].out_channels == 64 for seq in head.cv2) and all(seq[-1].out_channels == 10 for seq in head.cv3)
    # channels are multiples of 8 (round_to) and the loss still builds and back-propagates
    assert all(after % 8 == 0 for name, (before, after) in report.channels.items() if "model.22" not in name)
    student.train()
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[1.0], [3.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]]), "img": x}
    loss, _ = yolo.detection_loss(student)(student(x), batch)
    loss.sum().backward()
    student.eval()


def test_pruned_round_trip_weights_only(pruned_pair):
    d, _, student, _ = pruned_pair
    yolo.save_model(d / "again.pt", student.eval())
    ck = torch.load(d / "again.pt", weights_only=True)
    assert ck["format"] == "edgerepro.yolov8.v3" and ck["c2f_split"] and ck["arch"] == "yolov8n.yaml"
    loaded = yolo.load_model(d / "again.pt").eval()
    x = torch.rand(1, 3, 128, 128)
    assert torch.equal(loaded(x)[0], student(x)[0])
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in student.parameters())


def test_cwd_student_module_distills_from_the_unpruned_teacher(pruned_pair):
    from tasks.detection.module import DetectionModule

    d, _, _, _ = pruned_pair
    m = DetectionModule(init_weights=str(d / "pruned.pt"), teacher_weights=str(d / "teacher.pt"), cwd_tau=1.0,
                        cwd_weight=10.0)
    assert [t.student_tap for t in m._distill_specs] == ["model.15", "model.18", "model.21"]
    adapters = [t.loss.align for t in m._distill_specs]
    assert all(isinstance(a, torch.nn.Conv2d) and a.in_channels < a.out_channels for a in adapters)
    x = torch.rand(2, 3, 128, 128) * 255
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[1.0], [3.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]]), "img": x.to(torch.uint8)}
    m.train()
    loss, items = m.compute_loss(batch)
    assert {"distill_0", "distill_1", "distill_2"} <= set(items) and all(items[f"distill_{i}"] > 0 for i in range(3))
    loss.backward()
    assert all(a.weight.grad is not None and a.weight.grad.abs().sum() > 0 for a in adapters)
    assert all(p.grad is None for p in m.teacher.parameters())
    assert not m.teacher.training
    # the optimizer sees the student and the adapters, never the teacher
    ids = {id(p) for g in m.param_groups() for p in g["params"]}
    assert all(id(p) in ids for a in adapters for p in a.parameters())
    assert not any(id(p) in ids for p in m.teacher.parameters())


def test_sparse_stage_params_reach_the_callback(tiny_dataset):
    """s0 / schedule of params.yaml's sparse_train section reach BNSparsity (the last callback of sparse.yaml)."""
    import json

    from common.compress.sparsity import BNSparsity
    from tasks.detection.__main__ import main

    cfg = {"trainer": {"max_epochs": 2, "logger": False}, "data": {"data_dir": str(tiny_dataset), "imgsz": 128},
           "model": {"init_args": {"init_weights": None}}}
    cli = main(["-c", "tasks/detection/configs/teacher.yaml", "-c", "tasks/detection/configs/sparse.yaml",
                "-c", json.dumps(cfg), "--trainer.callbacks.s0=0.02", "--trainer.callbacks.schedule=constant"],
               run=False)
    (sp,) = [cb for cb in cli.trainer.callbacks if isinstance(cb, BNSparsity)]
    assert (sp.s0, sp.schedule) == (0.02, "constant")


def test_int8_keeps_box_decoding_in_fp32(tmp_path):
    """One uint8 scale cannot carry pixel boxes and [0, 1] class scores together: with the head's decode
    kept in fp32, INT8 predictions track fp32 ones for both."""
    import numpy as np
    import onnxruntime as ort

    from common.compress.quantize import quantize_static_int8
    from common.export.onnx import export_onnx
    from common.adapters.ultralytics import head_decode_nodes

    torch.manual_seed(0)
    m = yolo.build_model("yolov8n.yaml", 10).eval()
    m.fuse(verbose=False)
    x = torch.rand(1, 3, 128, 128)
    export_onnx(yolo.InferenceWrapper(m), x, tmp_path / "m.onnx", atol=1e-2)
    keep = head_decode_nodes(tmp_path / "m.onnx", len(m.model) - 1)
    assert keep and not any("/cv2." in n or "/cv3." in n for n in keep)
    rng = np.random.default_rng(0)
    quantize_static_int8(tmp_path / "m.onnx", tmp_path / "q.onnx",
                         [rng.random((1, 3, 128, 128), dtype=np.float32) for _ in range(4)], exclude_nodes=keep)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    ref, out = run(tmp_path / "m.onnx"), run(tmp_path / "q.onnx")
    cls_ref, cls_q = ref[0, 4:].ravel(), out[0, 4:].ravel()
    assert cls_q.max() > 0 and np.corrcoef(cls_ref, cls_q)[0, 1] > 0.9
    assert np.abs(out[0, :4] - ref[0, :4]).mean() < 0.05 * np.abs(ref[0, :4]).mean()
