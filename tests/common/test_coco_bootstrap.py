"""``common.evaluate.coco``: AP pooled from pycocotools' per-image matches equals pycocotools' own AP — on all
images and on any subset (boxes with two categories, and keypoints) — so a bootstrap over images resamples the
real metric."""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from common.evaluate.coco import bootstrap_ap, image_table, pooled_ap

pytest.importorskip("pycocotools")  # a task's extra (detection, pose)


def _boxes_world(seed: int = 0, n_images: int = 12):
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 200, "height": 200})
        for _ in range(int(rng.integers(0, 5))):
            x, y, w, h = rng.uniform(0, 120, 2).tolist() + rng.uniform(10, 70, 2).tolist()
            cat = int(rng.integers(1, 3))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:  # found, jittered
                j = rng.normal(0, 6, 4)
                dets.append({"image_id": i, "category_id": cat, "bbox": [x + j[0], y + j[1], abs(w + j[2]) + 1,
                                                                         abs(h + j[3]) + 1],
                             "score": float(rng.random())})
        for _ in range(int(rng.integers(0, 3))):  # false positives
            dets.append({"image_id": i, "category_id": int(rng.integers(1, 3)),
                         "bbox": rng.uniform(0, 150, 2).tolist() + rng.uniform(5, 40, 2).tolist(),
                         "score": float(rng.random())})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    return gt, dets


def _cocoeval(gt: dict, dets: list[dict], iou_type: str, img_ids=None, sigmas=None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dets)), iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_boxes_all_images_and_subsets_equal_pycocotools():
    gt, dets = _boxes_world()
    ev = _cocoeval(gt, dets, "bbox")
    table = image_table(ev)
    assert table.positives.shape == (2, 12)
    assert pooled_ap(table) == pytest.approx(ev.stats[0], abs=1e-12)
    ids = ev.params.imgIds
    for subset in ([0, 1, 2, 3], [2, 5, 7, 8, 11], list(range(1, 12, 2))):
        sub = _cocoeval(gt, dets, "bbox", img_ids=[ids[i] for i in subset])
        assert pooled_ap(table, subset) == pytest.approx(max(sub.stats[0], 0.0), abs=1e-12)


def test_keypoints_equal_pycocotools():
    rng = np.random.default_rng(1)
    k = 5
    images, anns, dets = [], [], []
    for i in range(1, 9):
        images.append({"id": i, "width": 128, "height": 128})
        for _ in range(int(rng.integers(1, 4))):
            pts = np.c_[rng.uniform(20, 100, (k, 2)), np.full(k, 2)]
            x0, y0 = pts[:, :2].min(0)
            w, h = np.ptp(pts[:, 0]) + 1, np.ptp(pts[:, 1]) + 1
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "keypoints": pts.ravel().tolist(),
                         "num_keypoints": k, "bbox": [x0, y0, w, h], "area": float(w * h), "iscrowd": 0})
            noisy = pts.copy()
            noisy[:, :2] += rng.normal(0, rng.choice([1.0, 4.0, 12.0]), (k, 2))
            dets.append({"image_id": i, "category_id": 1, "keypoints": noisy.ravel().tolist(),
                         "score": float(rng.random())})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    sigmas = [0.05] * k
    ev = _cocoeval(gt, dets, "keypoints", sigmas=sigmas)
    table = image_table(ev)
    assert 0 < ev.stats[0] < 1
    assert pooled_ap(table) == pytest.approx(ev.stats[0], abs=1e-12)
    sub = _cocoeval(gt, dets, "keypoints", img_ids=[1, 4, 6], sigmas=sigmas)
    assert pooled_ap(table, [0, 3, 5]) == pytest.approx(sub.stats[0], abs=1e-12)


def test_bootstrap_draws_vary_around_the_full_ap():
    from common.evaluate.intervals import resample

    gt, dets = _boxes_world(seed=3, n_images=30)
    ev = _cocoeval(gt, dets, "bbox")
    table = image_table(ev)
    boot = bootstrap_ap(table, resample(30, 200, seed=0)[0])
    assert boot.shape == (200,) and boot.std() > 0
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert lo < ev.stats[0] < hi
