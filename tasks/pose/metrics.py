"""OKS AP of COCO-format keypoint results with pycocotools (the evaluation COCO and CrowdPose use; for
CrowdPose's 14 joints the OKS constants are CrowdPose's, set on ``COCOeval.params.kpt_oks_sigmas``)."""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

STATS = ["ap", "ap50", "ap75", "ap_m", "ap_l", "ar", "ar50", "ar75", "ar_m", "ar_l"]


def oks_ap(gt: dict, results: list[dict], sigmas: list[float], table: dict | None = None) -> dict[str, float]:
    """``gt``: a COCO keypoints dict (images, annotations, categories); ``results``: COCO keypoint results.
    Returns AP, AP50, AP75, … (0.0 when there are no results). ``table``: receives ``"table"``, the per-image
    matches (``common.evaluate.coco.image_table``) from which a bootstrap over images recomputes the AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from common.evaluate.coco import ImageTable

    if not results:
        if table is not None:  # nothing detected: every resample scores 0
            n = len(gt["images"])
            table["table"] = ImageTable([[np.zeros(0)] * n], [[np.zeros((10, 0), bool)] * n],
                                        [[np.zeros((10, 0), bool)] * n], np.ones((1, n), np.int64),
                                        np.linspace(0, 1, 101), 10)
        return {k: 0.0 for k in STATS}
    k = len(sigmas)
    for r in results:
        if len(r["keypoints"]) != 3 * k:
            raise ValueError(f"result for image {r['image_id']} has {len(r['keypoints'])} keypoint values, expected {3 * k}")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if table is not None:
        from common.evaluate.coco import image_table

        table["table"] = image_table(ev)
    return {name: float(max(v, 0.0)) for name, v in zip(STATS, ev.stats)}
