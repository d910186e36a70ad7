"""Bottom-up decoding of LitePose outputs into people: HigherHRNet's inference, as LitePose uses it.

1. Aggregate: the 1/4 heatmaps are upsampled ×2 and averaged with the 1/2 heatmaps; the 1/4 tags are
   upsampled ×2 (bilinear) to the same resolution. Then, as LitePose's configs set (``TEST.PROJECT2IMAGE:
   True``), heatmaps and tags are resized (bilinear) to the input image's size, and steps 2–5 run there: peaks
   on a 1-pixel grid, pixel centres and quarter-pixel shifts in input pixels (``decode(project2image=False)``
   keeps the 1/2 maps and scales the coordinates ×2 at the end: a 2-pixel grid, for comparison).
2. Peaks: non-maximum suppression by a ``nms_kernel`` max-pool, then the top ``max_people`` peaks per joint.
3. Grouping: joints are visited in order; each joint's peaks above ``detection_threshold`` are matched
   to the people found so far by the Hungarian algorithm on tag distance (``round(‖Δtag‖) · 100 −
   score``, HigherHRNet's cost) and start new people when no match is within ``tag_threshold``.
4. Adjust: each peak moves a quarter pixel toward its higher neighbour. A person's score is the mean of
   its K joint values (missing joints count 0, so fragments rank low), as in HigherHRNet's ``parse``.
5. Refine: each missing joint of a person is placed at ``argmax(heatmap − round(|tag − person's mean
   tag|))`` (quarter-pixel adjusted); coordinates map back to the original image through the inverse
   letterbox/affine matrix (HigherHRNet's ``get_final_preds``: the inverse of the original→input affine, whose
   continuous coordinates put a map pixel i's centre at input coordinate (i + 0.5) · stride).

Written here, not imported: the grouping exists only inside training frameworks (HigherHRNet's repo,
mmpose on mmcv) that this project cannot depend on; the Hungarian step is scipy's
``linear_sum_assignment``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


def aggregate(quarter: torch.Tensor, half: torch.Tensor, num_joints: int,
              size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2K, h, w) and (B, K, 2h, 2w) → heatmaps and tags (B, K, 2h, 2w), or (B, K, *size) when ``size`` is given.

    HigherHRNet's ``get_multi_stage_outputs``: the 1/4 output is resized (bilinear, ``align_corners=False``) to the
    1/2 output's size, its heatmaps averaged with the 1/2 heatmaps and its tags kept; with ``size`` (PROJECT2IMAGE:
    the input image's (H, W)) both are then resized the same way to that size.
    """
    hm4 = F.interpolate(quarter[:, :num_joints], size=half.shape[-2:], mode="bilinear", align_corners=False)
    tags = F.interpolate(quarter[:, num_joints:], size=half.shape[-2:], mode="bilinear", align_corners=False)
    heatmaps = (hm4 + half) / 2
    if size is not None and tuple(size) != tuple(heatmaps.shape[-2:]):
        heatmaps = F.interpolate(heatmaps, size=tuple(size), mode="bilinear", align_corners=False)
        tags = F.interpolate(tags, size=tuple(size), mode="bilinear", align_corners=False)
    return heatmaps, tags


def top_peaks(heatmaps: torch.Tensor, tags: torch.Tensor, max_people: int, nms_kernel: int = 5):
    """Per image and joint the ``max_people`` largest local maxima: values (B, K, M), x, y (B, K, M),
    tags at the peaks (B, K, M)."""
    pooled = F.max_pool2d(heatmaps, nms_kernel, 1, nms_kernel // 2)
    peaks = heatmaps * (pooled == heatmaps).to(heatmaps.dtype)
    b, k, h, w = peaks.shape
    m = min(max_people, h * w)
    val, ind = peaks.reshape(b, k, -1).topk(m, dim=2)
    tag = torch.gather(tags.reshape(b, k, -1), 2, ind)
    return val, ind % w, ind // w, tag


def group_people(val: np.ndarray, x: np.ndarray, y: np.ndarray, tag: np.ndarray, *, detection_threshold: float = 0.1,
                 tag_threshold: float = 1.0) -> np.ndarray:
    """One image: (K, M) peak values / coordinates / tags → (N, K, 4) people as (x, y, score, tag); joints a
    person lacks are all zero."""
    k, _ = val.shape
    people: list[np.ndarray] = []  # each (K, 4)
    tags_of: list[list[float]] = []  # the tags of each person's joints so far
    for j in range(k):
        keep = val[j] > detection_threshold
        if not keep.any():
            continue
        cand = np.stack([x[j][keep], y[j][keep], val[j][keep], tag[j][keep]], axis=1)
        if not people:
            for c in cand:
                p = np.zeros((k, 4))
                p[j] = c
                people.append(p)
                tags_of.append([c[3]])
            continue
        means = np.array([np.mean(t) for t in tags_of])
        dist = np.abs(cand[:, 3:4] - means[None, :])  # (candidates, people); 1-D tags
        cost = np.round(dist) * 100 - cand[:, 2:3]
        n_c, n_p = cost.shape
        if n_c > n_p:  # let surplus candidates go unmatched
            cost = np.concatenate([cost, np.full((n_c, n_c - n_p), 1e10)], axis=1)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if c < n_p and dist[r, c] < tag_threshold:
                people[c][j] = cand[r]
                tags_of[c].append(cand[r, 3])
            else:
                p = np.zeros((k, 4))
                p[j] = cand[r]
                people.append(p)
                tags_of.append([cand[r, 3]])
    return np.array(people).reshape(-1, k, 4)


def adjust(people: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Quarter-pixel shift of every found joint toward its higher neighbour (HigherHRNet ``adjust``)."""
    _, h, w = heatmaps.shape
    out = people.copy()
    for p in out:
        for j, (px, py, s, _) in enumerate(p):
            if s <= 0:
                continue
            xi, yi = int(px), int(py)
            hm = heatmaps[j]
            if 0 < xi < w - 1:
                p[j, 0] += 0.25 * np.sign(hm[yi, xi + 1] - hm[yi, xi - 1])
            if 0 < yi < h - 1:
                p[j, 1] += 0.25 * np.sign(hm[yi + 1, xi] - hm[yi - 1, xi])
            p[j, :2] += 0.5  # pixel centre
    return out


def refine(people: np.ndarray, heatmaps: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """Fill each person's missing joints from the maps (HigherHRNet ``refine``). people: (N, K, 4)."""
    out = people.copy()
    k, h, w = heatmaps.shape
    for p in out:
        found = p[:, 2] > 0
        if not found.any() or found.all():
            continue
        xi = np.clip(p[found, 0].astype(int), 0, w - 1)
        yi = np.clip(p[found, 1].astype(int), 0, h - 1)
        mean_tag = tags[np.nonzero(found)[0], yi, xi].mean()
        score = heatmaps - np.round(np.abs(tags - mean_tag))
        pos = score.reshape(k, -1).argmax(1)
        for j in np.nonzero(~found)[0]:
            y, x = divmod(int(pos[j]), w)
            val = heatmaps[j, y, x]
            if val <= 0:
                continue
            dx = 0.25 if heatmaps[j, y, min(x + 1, w - 1)] > heatmaps[j, y, max(x - 1, 0)] else -0.25
            dy = 0.25 if heatmaps[j, min(y + 1, h - 1), x] > heatmaps[j, max(y - 1, 0), x] else -0.25
            p[j, :3] = (x + 0.5 + dx, y + 0.5 + dy, val)
    return out


def decode(quarter: torch.Tensor, half: torch.Tensor, num_joints: int, *, max_people: int = 30,
           detection_threshold: float = 0.1, tag_threshold: float = 1.0, nms_kernel: int = 5,
           do_refine: bool = True, project2image: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batch decode → per image ((N, K, 3) people as x, y in *input* pixels and joint score; (N,) scores).

    ``project2image`` (the authors' ``TEST.PROJECT2IMAGE: True``, the default): the aggregated maps are resized to
    the input image's size (twice the 1/2 output's) and peaks, grouping, adjust and refine run there, so a peak's
    pixel centre and quarter-pixel shift are in input pixels. False: all of it runs on the 1/2 maps and the
    coordinates are scaled ×2 afterwards (2-pixel peak grid, half-pixel shifts), the decoding before issue 24.
    """
    return decode_thresholds(quarter, half, num_joints, [tag_threshold], max_people=max_people,
                             detection_threshold=detection_threshold, nms_kernel=nms_kernel, do_refine=do_refine,
                             project2image=project2image)[tag_threshold]


def decode_thresholds(quarter: torch.Tensor, half: torch.Tensor, num_joints: int, tag_thresholds: list[float], *,
                      max_people: int = 30, detection_threshold: float = 0.1, nms_kernel: int = 5,
                      do_refine: bool = True, project2image: bool = True) -> dict[float, list]:
    """:func:`decode` at several tag thresholds: {threshold: its decode}. The maps are aggregated (and projected)
    and their peaks found once; only the grouping, adjust and refine run per threshold (choosing the threshold
    on training images costs one decode, not one per candidate)."""
    quarter, half = quarter.float(), half.float()
    size = (2 * half.shape[-2], 2 * half.shape[-1])  # the input image: the 1/2 output has stride 2
    heatmaps, tags = aggregate(quarter, half, num_joints, size if project2image else None)
    val, xs, ys, tg = (t.cpu().numpy() for t in top_peaks(heatmaps, tags, max_people, nms_kernel))
    hms, tgs = heatmaps.cpu().numpy(), tags.cpu().numpy()
    scale = size[-1] / heatmaps.shape[-1]  # map pixels → input pixels: 1 projected, 2 at 1/2 resolution
    out: dict[float, list] = {}
    for thr in tag_thresholds:
        res_thr = []
        for b in range(val.shape[0]):
            people = group_people(val[b], xs[b], ys[b], tg[b], detection_threshold=detection_threshold,
                                  tag_threshold=thr)
            people = adjust(people, hms[b])
            scores = people[..., 2].mean(axis=1) if len(people) else np.zeros(0)
            if do_refine:
                people = refine(people, hms[b], tgs[b])
            res = people[..., :3].copy()
            res[..., :2] *= scale
            res_thr.append((res, scores))
        out[thr] = res_thr
    return out


def to_coco_results(people: np.ndarray, image_id: int, matrix: np.ndarray, scores: np.ndarray,
                    category_id: int = 1) -> list[dict]:
    """(N, K, 3) people in input pixels with their (N,) scores → COCO keypoint results in original-image
    pixels. ``matrix`` is the 2×3 original→input affine."""
    full = np.vstack([np.asarray(matrix, np.float64), [0, 0, 1]])
    inv = np.linalg.inv(full)[:2]
    results = []
    for n, p in enumerate(people):
        found = p[:, 2] > 0
        if not found.any():
            continue
        xy = p[:, :2] @ inv[:, :2].T + inv[:, 2]
        kps = np.concatenate([xy, np.where(found, p[:, 2], 0)[:, None]], axis=1)
        results.append({"image_id": int(image_id), "category_id": category_id,
                        "keypoints": [float(v) for v in kps.reshape(-1)], "score": float(scores[n])})
    return results


def batch_coco_results(decoded: list[tuple[np.ndarray, np.ndarray]], image_ids, matrices) -> list[dict]:
    """A batch's decoded (people, scores) per image → COCO keypoint results (see :func:`to_coco_results`)."""
    return [r for (people, scores), image_id, m in zip(decoded, image_ids, matrices)
            for r in to_coco_results(people, image_id, m, scores)]


def oracle_tags(joints: np.ndarray, num_joints: int, res: int, spacing: float = 3.0) -> np.ndarray:
    """Ground-truth tag maps for a diagnostic: (B, K, res, res) where every pixel of joint type k carries
    ``spacing · n`` for the person n whose labelled joint k is nearest (0 where no person has joint k).

    ``joints`` is the training target layout (B, P, K, 2): flat index ``k·res² + y·res + x`` into the 1/4
    maps and a visibility flag. Decoding a model's heatmaps with these tags instead of its own gives the AP
    its heatmaps would reach with perfect grouping, which splits an AP gap into localisation vs grouping.
    """
    b = joints.shape[0]
    out = np.zeros((b, num_joints, res, res), np.float32)
    yy, xx = np.mgrid[0:res, 0:res]
    for i in range(b):
        for k in range(num_joints):
            ids = [n for n in range(joints.shape[1]) if joints[i, n, k, 1] > 0]
            if not ids:
                continue
            flat = joints[i, ids, k, 0] - k * res * res
            d = (xx[None] - (flat % res)[:, None, None]) ** 2 + (yy[None] - (flat // res)[:, None, None]) ** 2
            out[i, k] = spacing * np.asarray(ids, np.float32)[d.argmin(0)]
    return out
