"""The detection metric plumbing: our targets and predictions reach faster-coco-eval in the right frame."""
import pytest
import torch

from tasks.detection.module import detections_to_preds, new_map_metric, targets_from_batch
from common.adapters.ultralytics import nms


def batch():
    # two images 100 (h) × 200 (w); normalised xywh boxes as ultralytics' collate produces them
    return {"img": torch.zeros(2, 3, 100, 200),
            "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
            "cls": torch.tensor([[3.0], [0.0], [9.0]]),
            "bboxes": torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1], [0.75, 0.25, 0.1, 0.2]])}


def test_targets_are_pixel_xyxy_per_image():
    t = targets_from_batch(batch(), 2)
    torch.testing.assert_close(t[0]["boxes"], torch.tensor([[80.0, 30.0, 120.0, 70.0], [10.0, 5.0, 30.0, 15.0]]))
    assert t[0]["labels"].tolist() == [3, 0] and t[1]["labels"].tolist() == [9]
    torch.testing.assert_close(t[1]["boxes"], torch.tensor([[140.0, 15.0, 160.0, 35.0]]))


def raw_predictions(targets, nc=10, extra=0):
    """YOLO raw output (B, 4 + nc, anchors): one confident anchor per ground-truth box (xywh pixels)."""
    n = max(len(t["labels"]) for t in targets) + extra
    out = torch.zeros(len(targets), 4 + nc, n)
    for i, t in enumerate(targets):
        for j, (box, lab) in enumerate(zip(t["boxes"], t["labels"])):
            x1, y1, x2, y2 = box.tolist()
            out[i, :4, j] = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
            out[i, 4 + int(lab), j] = 0.9
    return out


def test_perfect_predictions_score_one_and_wrong_classes_zero():
    b = batch()
    targets = targets_from_batch(b, 2)
    m = new_map_metric()
    m.update(detections_to_preds(nms(raw_predictions(targets))), targets)
    res = m.compute()
    assert res["map_50"].item() == pytest.approx(1.0) and res["map"].item() == pytest.approx(1.0)

    wrong = [{"boxes": t["boxes"], "labels": (t["labels"] + 1) % 10} for t in targets]
    m = new_map_metric()
    m.update(detections_to_preds(nms(raw_predictions(wrong))), targets)
    assert m.compute()["map_50"].item() == pytest.approx(0.0, abs=1e-6)


def test_shifted_boxes_count_at_50_not_at_95():
    b = batch()
    targets = targets_from_batch(b, 2)
    shifted = [{"boxes": t["boxes"] + torch.tensor([2.0, 0.0, 2.0, 0.0]), "labels": t["labels"]} for t in targets]
    m = new_map_metric()
    m.update(detections_to_preds(nms(raw_predictions(shifted))), targets)
    res = m.compute()
    assert res["map_50"].item() == pytest.approx(1.0) and 0.2 < res["map"].item() < 0.95
