"""COCO AP (boxes or keypoints) recomputed on a resample of the evaluated images: the bootstrap over images that
:mod:`common.evaluate.intervals` turns into an interval.

pycocotools scores every image once (``COCOeval.evaluate``: each detection matched or not at every IoU / OKS
threshold, in ``evalImgs``) and then pools the images (``accumulate``). A bootstrap resample only changes which
images are pooled, and how often, so :func:`image_table` keeps the per-image matches once and :func:`pooled_ap`
repeats ``accumulate``'s pooling for any list of image indices (duplicates counted as often as drawn).

Written here, not taken from pycocotools: ``accumulate`` reads the image list from ``params.imgIds``, which cannot
hold an image twice, and re-running ``evaluate`` per resample costs seconds each (×1000). The pooling below is
``accumulate``'s for one category set, the "all" area range and the largest ``maxDets``: detections sorted by
score (stable), cumulative true/false positives per threshold, precision made monotone and read at the 101
recall thresholds, AP = mean over thresholds and recall points; :func:`pooled_ap` on all images equals
``COCOeval.stats[0]`` (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ImageTable:
    """Per category k and image i, the arrays ``accumulate`` pools: ``scores[k][i]`` (D,), ``matched[k][i]`` (T, D)
    bool, ``ignored[k][i]`` (T, D) bool, ``positives[k, i]``: ground truths that count (not ignored)."""

    scores: list[list[np.ndarray]]
    matched: list[list[np.ndarray]]
    ignored: list[list[np.ndarray]]
    positives: np.ndarray
    rec_thrs: np.ndarray
    n_thresholds: int

    @property
    def n_images(self) -> int:
        return self.positives.shape[1]


def image_table(ev) -> ImageTable:
    """The per-image matches of a ``COCOeval`` after ``evaluate()`` ("all" area range, the largest ``maxDets``),
    in the order of ``ev.params.imgIds``."""
    p = ev.params
    n_k = len(p.catIds) if p.useCats else 1
    n_a, n_i = len(p.areaRng), len(p.imgIds)
    max_det = p.maxDets[-1]
    t = len(p.iouThrs)
    empty_s, empty_m = np.zeros(0), np.zeros((t, 0), bool)
    scores = [[empty_s] * n_i for _ in range(n_k)]
    matched = [[empty_m] * n_i for _ in range(n_k)]
    ignored = [[empty_m] * n_i for _ in range(n_k)]
    positives = np.zeros((n_k, n_i), np.int64)
    for k in range(n_k):
        for i in range(n_i):
            e = ev.evalImgs[k * n_a * n_i + i]  # area range 0: "all"
            if e is None:
                continue
            scores[k][i] = np.asarray(e["dtScores"][:max_det], dtype=np.float64)
            matched[k][i] = np.asarray(e["dtMatches"][:, :max_det]) > 0
            ignored[k][i] = np.asarray(e["dtIgnore"][:, :max_det], dtype=bool)
            positives[k, i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
    return ImageTable(scores, matched, ignored, positives, np.asarray(p.recThrs, dtype=np.float64), t)


def _category_ap(table: ImageTable, k: int, idx: np.ndarray) -> float | None:
    npig = int(table.positives[k, idx].sum())
    if npig == 0:
        return None  # accumulate leaves the category at -1: not averaged
    scores = np.concatenate([table.scores[k][i] for i in idx])
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    dtm = np.concatenate([table.matched[k][i] for i in idx], axis=1)[:, order]
    dtig = np.concatenate([table.ignored[k][i] for i in idx], axis=1)[:, order]
    tps = np.logical_and(dtm, ~dtig).cumsum(axis=1, dtype=np.float64)
    fps = np.logical_and(~dtm, ~dtig).cumsum(axis=1, dtype=np.float64)
    rc = tps / npig
    pr = tps / (fps + tps + np.spacing(1))
    pr = np.flip(np.maximum.accumulate(np.flip(pr, axis=1), axis=1), axis=1)  # monotone, as accumulate's loop
    total = 0.0
    for t in range(table.n_thresholds):
        inds = np.searchsorted(rc[t], table.rec_thrs, side="left")
        total += float(pr[t, inds[inds < rc.shape[1]]].sum())  # recall points never reached count 0
    return total / (table.n_thresholds * len(table.rec_thrs))


def pooled_ap(table: ImageTable, images: np.ndarray | list[int] | None = None) -> float:
    """AP (mean over the thresholds, the 101 recall points and the categories that have positives) of the images
    ``images`` (indices into the table, repeats allowed; ``None``: all) pooled as ``COCOeval.accumulate`` pools
    them. 0.0 when no category has a positive."""
    idx = np.arange(table.n_images) if images is None else np.asarray(images, dtype=np.int64)
    aps = [a for k in range(len(table.scores)) if (a := _category_ap(table, k, idx)) is not None]
    return float(np.mean(aps)) if aps else 0.0


def bootstrap_ap(table: ImageTable, draws: np.ndarray) -> np.ndarray:
    """:func:`pooled_ap` on each resample (rows of ``draws``: image indices, from ``intervals.resample``)."""
    return np.asarray([pooled_ap(table, d) for d in draws], dtype=np.float64)
