"""Decoding at input resolution (issue 24). LitePose evaluates as HigherHRNet does with ``TEST.PROJECT2IMAGE: True``:
the aggregated heatmaps and tags are resized (bilinear) to the input image before peaks, grouping, the quarter-pixel
adjust and refine, and the result is mapped to the original image by the inverse affine. Maps rendered from known
keypoints at 1/4 and 1/2 resolution must decode back to those keypoints, in input and in original-image pixels;
the former decoding on the 1/2 maps (``project2image=False``) is measured beside it."""
import numpy as np
import pytest
import torch

from tasks.pose.data import gaussian_heatmaps, letterbox_matrix
from tasks.pose.group import decode, to_coco_results

SIZE, K, B = 128, 14, 16  # input pixels, joints, images


def keypoints(seed: int = 0, n: int = B) -> np.ndarray:
    """(n, K, 2) one person's joints per image, continuous input pixels away from the border."""
    return np.random.default_rng(seed).uniform(8, SIZE - 8, size=(n, K, 2))


def render_targets(kp: np.ndarray, tag: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The training targets (``gaussian_heatmaps`` as ``PoseDataset`` renders them: a joint at input x peaks at map
    pixel int(x / stride)); tag channels constant: one person."""
    n = len(kp)
    quarter, half = torch.zeros(n, 2 * K, SIZE // 4, SIZE // 4), torch.zeros(n, K, SIZE // 2, SIZE // 2)
    for b in range(n):
        pts = np.concatenate([kp[b][None], np.ones((1, K, 1))], axis=-1)
        for div, out in ((4, quarter), (2, half)):
            sj = pts.copy()
            sj[..., :2] /= div
            out[b, :K] = torch.from_numpy(gaussian_heatmaps(sj, SIZE // div, 2.0))
    quarter[:, K:] = tag
    return quarter, half


def render_subpixel(kp: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(n, K, SIZE/4, SIZE/4) and (n, K, SIZE/2, SIZE/2) Gaussians centred exactly on each joint: map pixel i covers
    input [i·stride, (i + 1)·stride), so input x sits at map coordinate x / stride − 0.5. No quantisation of the
    targets: what is left is the decoder's own error."""
    maps = []
    for div in (4, 2):
        res = SIZE // div
        yy, xx = np.mgrid[0:res, 0:res]
        c = kp / div - 0.5
        d2 = (xx - c[..., 0, None, None]) ** 2 + (yy - c[..., 1, None, None]) ** 2
        maps.append(np.exp(-d2 / (2 * sigma ** 2)).astype(np.float32))
    return maps


def subpixel_outputs(kp: np.ndarray, tag: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    hm4, hm2 = render_subpixel(kp)
    quarter = torch.cat([torch.from_numpy(hm4), torch.full_like(torch.from_numpy(hm4), tag)], dim=1)
    return quarter, torch.from_numpy(hm2)


def errors(decoded, kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean error of every joint (one person per image, all K found) and the mean signed (dx, dy)."""
    diffs = []
    for (people, scores), truth in zip(decoded, kp):
        assert people.shape == (1, K, 3) and len(scores) == 1 and (people[0, :, 2] > 0).all()
        diffs.append(people[0, :, :2] - truth)
    d = np.concatenate(diffs)
    return np.linalg.norm(d, axis=1), d.mean(axis=0)


def test_exact_maps_decode_within_half_a_pixel_at_input_resolution():
    """Sub-pixel Gaussians: projected to the 128-px input, every joint comes back within 0.5 px (1-px peak grid,
    quarter-pixel shift), unbiased; on the 1/2 maps the grid is 2 px and the error about twice as large."""
    kp = keypoints()
    quarter, half = subpixel_outputs(kp)
    err, bias = errors(decode(quarter, half, K), kp)
    old, old_bias = errors(decode(quarter, half, K, project2image=False), kp)
    # measured: projected mean 0.19 / max 0.35 px; 1/2 maps mean 0.37 / max 0.69 px
    assert err.max() < 0.5 and err.mean() < 0.25 and np.abs(bias).max() < 0.1
    assert old.mean() > 1.5 * err.mean() and old.max() > 0.5 and np.abs(old_bias).max() < 0.1


def test_training_targets_decode_within_about_a_pixel():
    """The project's own targets quantise a joint to its 4-px (1/4) and 2-px (1/2) map cell, so ≈ 1 px is what a
    correct decoder can reach: mean < 1 px, no joint beyond the 2-px half-cell, no bias (a half-pixel or stride
    slip shows as a bias of ≥ 0.5 px)."""
    kp = keypoints(1)
    quarter, half = render_targets(kp)
    err, bias = errors(decode(quarter, half, K), kp)
    old, _ = errors(decode(quarter, half, K, project2image=False), kp)
    # measured: projected mean 0.83 / max 1.59 px; 1/2 maps mean 0.99 / max 1.94 px
    assert err.mean() < 1.0 and err.max() < 2.0 and np.abs(bias).max() < 0.15
    assert old.mean() > err.mean()


def test_original_image_coordinates_through_the_letterbox():
    """Keypoints of a 320 × 200 image letterboxed to 128 (scale 0.4, 24 px bands) decode, through
    ``to_coco_results``' inverse affine, to within 0.5 input px = 1.25 original px of the truth."""
    w, h = 320, 200
    m = letterbox_matrix(w, h, SIZE)
    rng = np.random.default_rng(2)
    orig = np.stack([rng.uniform(10, w - 10, (4, K)), rng.uniform(10, h - 10, (4, K))], axis=-1)
    kp = orig @ m[:, :2].T + m[:, 2]
    quarter, half = subpixel_outputs(kp)
    decoded = decode(quarter, half, K)
    scale = m[0, 0]
    for b, (people, scores) in enumerate(decoded):
        res = to_coco_results(people, b, m, scores)
        assert len(res) == 1
        got = np.array(res[0]["keypoints"]).reshape(K, 3)
        err = np.linalg.norm(got[:, :2] - orig[b], axis=1)
        assert (got[:, 2] > 0).all() and err.max() < 0.5 / scale


def test_two_people_are_grouped_and_refined_at_input_resolution():
    """Two people told apart by their tags (0 and 3) on the projected tag maps; one joint of person B peaks below
    the detection threshold, so refine places it — also within 0.5 input px."""
    rng = np.random.default_rng(3)
    a = np.stack([rng.uniform(8, 56, K), rng.uniform(8, 120, K)], axis=-1)  # left half
    bb = np.stack([rng.uniform(72, 120, K), rng.uniform(8, 120, K)], axis=-1)  # right half
    maps = [render_subpixel(np.stack([p])) for p in (a, bb)]
    weak = 5
    hm4 = np.maximum(maps[0][0], maps[1][0] * np.where(np.arange(K) == weak, 0.08, 1.0)[None, :, None, None])
    hm2 = np.maximum(maps[0][1], maps[1][1] * np.where(np.arange(K) == weak, 0.08, 1.0)[None, :, None, None])
    tags = np.where(np.arange(SIZE // 4)[None, None, None, :] < SIZE // 8, 0.0, 3.0) * np.ones_like(hm4)
    quarter = torch.from_numpy(np.concatenate([hm4, tags], axis=1).astype(np.float32))
    (people, scores), = decode(quarter, torch.from_numpy(hm2.astype(np.float32)), K)
    assert people.shape == (2, K, 3)
    pa, pb = sorted(people, key=lambda p: p[:, 0].mean())
    assert np.linalg.norm(pa[:, :2] - a, axis=1).max() < 0.5
    assert np.linalg.norm(pb[:, :2] - bb, axis=1).max() < 0.5
    assert pb[weak, 2] == pytest.approx(0.08, abs=0.01)  # found by refine, not by the peak search


def test_evaluate_decodes_projected_by_default_and_can_compare():
    from tasks.pose.evaluate import decode_litepose

    kp = keypoints(4, n=2)
    quarter, half = render_targets(kp)
    outputs = [quarter.numpy(), half.numpy()]
    for mode, want in ((None, decode(quarter, half, K)), (False, decode(quarter, half, K, project2image=False))):
        got = decode_litepose(outputs, K) if mode is None else decode_litepose(outputs, K, project2image=mode)
        for (p, s), (pw, sw) in zip(got, want):
            assert np.array_equal(p, pw) and np.array_equal(s, sw)
    assert not np.array_equal(decode_litepose(outputs, K)[0][0], decode_litepose(outputs, K, project2image=False)[0][0])


def test_several_thresholds_at_once_equal_one_decode_each():
    """``decode_thresholds`` (aggregation and peaks once, grouping per threshold: the tag-threshold choice after
    training) gives exactly what separate decodes give."""
    from tasks.pose.group import decode_thresholds

    rng = np.random.default_rng(4)
    quarter = torch.from_numpy(rng.random((2, 2 * K, 16, 16), dtype=np.float32))
    half = torch.from_numpy(rng.random((2, K, 32, 32), dtype=np.float32))
    many = decode_thresholds(quarter, half, K, [0.1, 0.5, 1.0])
    for thr in (0.1, 0.5, 1.0):
        one = decode(quarter, half, K, tag_threshold=thr)
        assert len(one) == len(many[thr]) == 2
        for (p1, s1), (p2, s2) in zip(one, many[thr]):
            np.testing.assert_array_equal(p1, p2)
            np.testing.assert_array_equal(s1, s2)
    assert any(len(a[0]) != len(b[0]) for a, b in zip(many[0.1], many[1.0]))  # the threshold matters here
