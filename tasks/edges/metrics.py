"""Edge metrics: BSDS-protocol ODS / OIS / AP from pyEdgeEval (its boundary matcher ``correspond_pixels``,
edge NMS and morphological thinning — not re-implemented here) and average crispness (AC).

* ``standard``: NMS + thinning before matching (how edge papers usually report);
* ``crisp``: no post-processing at all — thick or blurry maps lose precision, the setting in which
  DiffusionEdge claims its largest gains.

AC (average crispness, Wang et al. / the crispness script of the "crisp edge" line of work that
DiffusionEdge cites): per image ``Σ NMS(P) / Σ P`` — the share of the edge mass that survives non-maximum
suppression (1 = one-pixel-wide edges) — averaged over images; NMS is the structured-edge NMS (radius 2,
border 5, multiplier 1.01) that pyEdgeEval wraps.
"""
from __future__ import annotations

import numpy as np


def _eval_single(sample: dict):
    from pyEdgeEval.common.binary_label.evaluate_boundaries import evaluate_boundaries_threshold_multiple_gts

    return evaluate_boundaries_threshold_multiple_gts(
        thresholds=sample["thresholds"], pred=sample["pred"], gts=sample["gts"], max_dist=sample["max_dist"],
        apply_thinning=sample["post"], apply_nms=sample["post"])


def boundary_scores(preds: list[np.ndarray], gts: list[np.ndarray], thresholds: int, max_dist: float = 0.0075,
                    post_process: bool = True, nproc: int = 1) -> dict:
    """ODS / OIS / AP (pyEdgeEval's ``calculate_metrics``) of edge maps in [0, 1] against each image's
    annotators (A, H, W); ``thresholds`` evenly spaced levels in (0, 1) (pyEdgeEval's convention)."""
    from pyEdgeEval.common.binary_label.calculate_metrics import calculate_metrics
    from pyEdgeEval.common.utils import check_thresholds

    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} ground truths")
    thr = check_thresholds(int(thresholds))
    samples = []
    for i, (p, g) in enumerate(zip(preds, gts)):
        if p.shape != g.shape[-2:]:
            raise ValueError(f"image {i}: prediction {p.shape} vs ground truth {g.shape[-2:]}")
        samples.append({"name": str(i), "pred": np.clip(p.astype(np.float64), 0, 1), "gts": [gt.astype(bool) for gt in g],
                        "thresholds": thr, "max_dist": max_dist, "post": post_process})
    _, per_threshold, overall = calculate_metrics(eval_single=_eval_single, thresholds=int(thresholds), samples=samples,
                                                  nproc=nproc)  # prints its own progress bar
    return {"ods": float(overall["ODS_f1"]), "ois": float(overall["OIS_f1"]), "ap": float(overall["AP"]),
            "ods_threshold": float(overall["ODS_threshold"]),
            "pr": {"recall": [float(r["recall"]) for r in per_threshold],
                   "precision": [float(r["precision"]) for r in per_threshold]}}


def edge_orientation(pred: np.ndarray) -> np.ndarray:
    """Edge orientation from the smoothed map's second derivatives (the structured-edge toolbox's rule, with
    pyEdgeEval's ``conv_tri`` / ``grad2``)."""
    from pyEdgeEval.preprocess.nms.toolbox import conv_tri, grad2

    ox, oy = grad2(conv_tri(pred, 4))
    oxx, _ = grad2(ox)
    oxy, oyy = grad2(oy)
    oxx = np.where(oxx == 0, 1e-5, oxx)
    return np.mod(np.arctan(oyy * np.sign(-oxy) / oxx), np.pi)


def crispness(pred: np.ndarray, r: int = 2, s: int = 5, m: float = 1.01) -> float | None:
    """``Σ NMS(P) / Σ P`` of one edge map (None for an empty map). NMS runs on P itself (as the crispness
    script does; pyEdgeEval's ``fast_nms`` would first blur P, which halves the score of a perfect 1-px line)
    with pyEdgeEval's compiled structured-edge NMS kernel."""
    from pyEdgeEval._lib import nms

    p = np.clip(pred.astype(np.float64), 0, 1)
    total = float(p.sum())
    if total <= 0:
        return None
    return float(nms(p, edge_orientation(p), r=r, s=s, m=m).sum()) / total


def average_crispness(preds: list[np.ndarray], **nms) -> dict:
    vals = [crispness(p, **nms) for p in preds]
    kept = [v for v in vals if v is not None]
    return {"ac": float(np.mean(kept)) if kept else 0.0, "empty_maps": len(vals) - len(kept)}
