"""DB text detection (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization",
AAAI 2020): targets, loss and post-processing. The network is in :mod:`tasks.ocr.models`.

Written here because DB lives inside PaddleOCR / MMOCR (frameworks this project cannot pull in offline for
one loss); the polygon offsetting uses pyclipper, as those implementations do. The paper's formulas:

* targets: the probability map is 1 inside each word polygon shrunk by ``D = A (1 − r²) / L`` (A area,
  L perimeter, r = 0.4); the threshold map, inside the polygon dilated by D, is ``1 − d / D`` (d = distance to
  the polygon's border) rescaled to [0.3, 0.7];
* approximate binary map ``B = 1 / (1 + exp(−k (P − T)))``, k = 50;
* loss ``L = L_s + α L_b + β L_t`` (α = 1, β = 10): L_s, L_b binary cross-entropy with hard negatives
  mined at 3:1, L_t the L1 distance of the threshold map inside the dilated polygons;
* inference: ``P > 0.3`` → connected regions → minimum-area boxes scored by the mean P inside, kept above
  ``box_thresh``, dilated back by ``D' = A' · 1.5 / L'`` (unclip ratio 1.5).
"""
from __future__ import annotations

import numpy as np

THRESH_MIN, THRESH_MAX = 0.3, 0.7


def _offset(poly: np.ndarray, d: float) -> list[np.ndarray]:
    import pyclipper

    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(map(float, p)) for p in poly], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(p, np.float32) for p in pco.Execute(d)]


def _area_perimeter(poly: np.ndarray) -> tuple[float, float]:
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    perim = float(np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1).sum())
    return area, perim


def _seg_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = ((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6)
    t = np.clip(t, 0, 1)
    return np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))


def db_targets(polys: list[np.ndarray], ignore: list[bool], size: int, shrink_ratio: float = 0.4,
               min_side: float = 3.0) -> dict[str, np.ndarray]:
    """``gt`` / ``gt_mask`` (probability map target and where it counts) and ``thresh`` / ``thresh_mask``,
    each (size, size) float32."""
    import cv2

    gt = np.zeros((size, size), np.float32)
    gt_mask = np.ones((size, size), np.float32)
    thresh = np.zeros((size, size), np.float32)
    thresh_mask = np.zeros((size, size), np.float32)
    for poly, ign in zip(polys, ignore):
        poly = np.asarray(poly, np.float32)
        area, perim = _area_perimeter(poly)
        h = min(np.linalg.norm(poly[3] - poly[0]), np.linalg.norm(poly[2] - poly[1]))
        w = min(np.linalg.norm(poly[1] - poly[0]), np.linalg.norm(poly[2] - poly[3]))
        if ign or min(h, w) < min_side or area < 1:
            cv2.fillPoly(gt_mask, [poly.round().astype(np.int32)], 0.0)
            continue
        d = area * (1 - shrink_ratio ** 2) / max(perim, 1e-6)
        shrunk = _offset(poly, -d)
        if not shrunk:
            cv2.fillPoly(gt_mask, [poly.round().astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(gt, [s.round().astype(np.int32) for s in shrunk], 1.0)
        # threshold map: 1 − distance-to-border / D inside the dilated polygon
        dilated = _offset(poly, d)
        if not dilated:
            continue
        dil = dilated[0]
        cv2.fillPoly(thresh_mask, [dil.round().astype(np.int32)], 1.0)
        x0, y0 = np.floor(dil.min(0)).astype(int)
        x1, y1 = np.ceil(dil.max(0)).astype(int)
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1, dtype=np.float32), np.arange(y0, y1 + 1, dtype=np.float32))
        dist = np.min([_seg_distance(xs, ys, poly[i], poly[(i + 1) % 4]) for i in range(4)], axis=0)
        val = 1 - np.clip(dist / max(d, 1e-6), 0, 1)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, size - 1), min(y1, size - 1)
        if cx1 < cx0 or cy1 < cy0:
            continue
        sub = val[cy0 - y0: cy1 - y0 + 1, cx0 - x0: cx1 - x0 + 1]
        thresh[cy0: cy1 + 1, cx0: cx1 + 1] = np.maximum(thresh[cy0: cy1 + 1, cx0: cx1 + 1], sub)
    thresh = thresh * (THRESH_MAX - THRESH_MIN) + THRESH_MIN
    return {"gt": gt, "gt_mask": gt_mask, "thresh": thresh, "thresh_mask": thresh_mask}


def _balanced_bce(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, neg_ratio: float = 3.0) -> torch.Tensor:
    """BCE over positives + the hardest negatives (at most ``neg_ratio`` × positives), DB's OHEM."""
    import torch
    import torch.nn.functional as F

    pos = (gt * mask).flatten()
    neg = ((1 - gt) * mask).flatten()
    n_pos = int(pos.sum().item())
    n_neg = min(int(neg.sum().item()), int(n_pos * neg_ratio)) if n_pos > 0 else min(int(neg.sum().item()), 100)
    loss = F.binary_cross_entropy(pred.flatten().clamp(1e-6, 1 - 1e-6), gt.flatten(), reduction="none")
    pos_loss = (loss * pos).sum()
    neg_loss = torch.topk(loss * neg, n_neg).values.sum() if n_neg > 0 else loss.new_zeros(())
    return (pos_loss + neg_loss) / (n_pos + n_neg + 1e-6)


def _dice(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    inter = (pred * gt * mask).sum()
    return 1 - 2 * inter / ((pred * mask).sum() + (gt * mask).sum() + 1e-6)


def db_loss(prob: torch.Tensor, thresh: torch.Tensor, batch: dict, *, k: float = 50.0, alpha: float = 1.0,
            beta: float = 10.0, prob_scale: float = 5.0, binary_loss: str = "dice") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """prob, thresh: (B, 1, H, W) sigmoid outputs. Returns (L, parts).

    ``binary_loss="dice", prob_scale=5`` is the authors' released recipe (MhLiao/DB ``L1BalanceCELoss``:
    5 · BCE_ohem(P) + Dice(B) + 10 · L1(T)); ``binary_loss="bce", prob_scale=1`` is the paper's text
    (L_s + α L_b + β L_t, both BCE). Trained from random init (no ImageNet backbone here), the paper's form
    leaves P near the constant 0.25 that the 3:1 hard-negative BCE rewards; the released form learns."""
    import torch

    p, t = prob[:, 0], thresh[:, 0]
    binary = torch.sigmoid(k * (p - t))
    ls = _balanced_bce(p, batch["gt"], batch["gt_mask"])
    if binary_loss == "dice":
        lb = _dice(binary, batch["gt"], batch["gt_mask"])
    elif binary_loss == "bce":
        lb = _balanced_bce(binary, batch["gt"], batch["gt_mask"])
    else:
        raise ValueError(f"binary_loss must be 'dice' or 'bce', got {binary_loss!r}")
    tm = batch["thresh_mask"]
    lt = ((t - batch["thresh"]).abs() * tm).sum() / (tm.sum() + 1e-6)
    total = prob_scale * ls + alpha * lb + beta * lt
    return total, {"prob": ls.detach(), "binary": lb.detach(), "thresh": lt.detach()}


def boxes_from_prob(prob: np.ndarray, *, bin_thresh: float = 0.3, box_thresh: float = 0.6, unclip_ratio: float = 1.5,
                    max_candidates: int = 300, min_size: float = 3.0) -> list[tuple[np.ndarray, float]]:
    """DB post-processing of one (H, W) probability map → [(quad (4, 2) float32, score)]."""
    import cv2

    from tasks.ocr.data import order_quad

    bitmap = (prob > bin_thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours[:max_candidates]:
        if len(c) < 3:
            continue
        mask = np.zeros_like(bitmap)
        cv2.fillPoly(mask, [c], 1)
        score = float(prob[mask.astype(bool)].mean())
        if score < box_thresh:
            continue
        rect = cv2.minAreaRect(c)
        if min(rect[1]) < min_size - 1:
            continue
        box = cv2.boxPoints(rect)
        area, perim = _area_perimeter(box)
        grown = _offset(box, area * unclip_ratio / max(perim, 1e-6))
        if not grown:
            continue
        rect = cv2.minAreaRect(grown[0].reshape(-1, 1, 2))
        if min(rect[1]) < min_size + 2:
            continue
        quad = order_quad(cv2.boxPoints(rect))
        quad[:, 0] = quad[:, 0].clip(0, prob.shape[1] - 1)
        quad[:, 1] = quad[:, 1].clip(0, prob.shape[0] - 1)
        out.append((quad, score))
    return out
