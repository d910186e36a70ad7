"""LitePose architecture (shapes, flags, paper-scale MACs) and the loss against direct computations."""
import math

import pytest
import torch

from tasks.pose.loss import LitePoseLoss, ae_loss, heatmap_loss
from tasks.pose.model import CONFIGS, LitePose
from tasks.pose.structure import ptflops_gmacs


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_output_shapes_per_config(config):
    m = LitePose(config, num_joints=14).eval()
    with torch.no_grad():
        quarter, half = m(torch.zeros(2, 3, 96, 64))
    assert quarter.shape == (2, 28, 24, 16) and half.shape == (2, 14, 48, 32)
    # the published channel widths and block counts
    cfg = CONFIGS[config]
    assert m.channels[1:] == list(cfg.channels) and [len(s) for s in m.stages] == [6, 8, 10, 10]
    assert all(b.depthwise[0].kernel_size == (7, 7) for s in m.stages for b in s)


def test_kernel_and_fusion_flags():
    k3 = LitePose("XS", kernel=3)
    assert all(b.depthwise[0].kernel_size == (3, 3) for s in k3.stages for b in s)
    plain = LitePose("XS", fusion=False)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(plain) < n(LitePose("XS")) and n(k3) < n(LitePose("XS"))
    with torch.no_grad():
        q, h = plain.eval()(torch.zeros(1, 3, 64, 64))
    assert q.shape == (1, 28, 16, 16) and h.shape == (1, 14, 32, 32)
    with pytest.raises(ValueError, match="unknown LitePose config"):
        LitePose("XXL")


# mit-han-lab/litepose, mobile_configs/search-*.json (commit 768922ff), the fields our configs hold
UPSTREAM = {
    "XS": {"img_size": 256, "input_channel": 16, "deconv_setting": [16, 24, 24], "channels": [16, 32, 48, 80]},
    "S": {"img_size": 448, "input_channel": 16, "deconv_setting": [32, 24, 32], "channels": [16, 32, 48, 120]},
    "M": {"img_size": 448, "input_channel": 16, "deconv_setting": [64, 40, 32], "channels": [24, 48, 72, 120]},
    "L": {"img_size": 512, "input_channel": 24, "deconv_setting": [64, 40, 32], "channels": [24, 64, 96, 160]},
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_configs_are_the_authors_search_results(name):
    from tasks.pose.model import CONFIGS

    c, up = CONFIGS[name], UPSTREAM[name]
    assert (c.img_size, c.input_channel, list(c.deconv), list(c.channels)) == (
        up["img_size"], up["input_channel"], up["deconv_setting"], up["channels"])
    # every upstream stage: 6/8/10/10 blocks, strides 2/2/2/1, each block [expansion 6, kernel 7]
    assert (c.blocks, c.strides, c.expansion, c.kernel) == ((6, 8, 10, 10), (2, 2, 2, 1), 6, 7)


@pytest.mark.parametrize("config,imgsz,paper,tol", [("XS", 256, 1.2, 0.05), ("S", 448, 5.0, 0.05),
                                                    ("M", 448, 7.8, 0.02), ("L", 512, 13.7, 0.02)])
def test_macs_match_the_paper(config, imgsz, paper, tol):
    gmacs = ptflops_gmacs(LitePose(config), imgsz, deconv_per_output=True)
    assert abs(gmacs - paper) / paper < tol
    # the true MAC count (transposed convs per input position) is lower; both are reported
    assert ptflops_gmacs(LitePose(config), imgsz, deconv_per_output=False) < gmacs


def test_large_kernel_mac_ratio():
    r = ptflops_gmacs(LitePose("XS"), 256, True) / ptflops_gmacs(LitePose("XS", kernel=3), 256, True)
    assert 1.15 < r < 1.35  # paper: about +25 %


def test_heatmap_loss_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    pred, gt = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    mask = torch.ones(2, 4, 5)
    mask[1, :2] = 0
    direct = sum(((pred[b] - gt[b]) ** 2 * mask[b]).sum() / (3 * 4 * 5) for b in range(2)) / 2
    assert torch.isclose(heatmap_loss(pred, gt, mask), direct)


def test_ae_loss_golden_values():
    # one image, tag map 1 joint-type × 2×2 pixels + a second joint type; two people
    tags = torch.zeros(1, 2, 2, 2)
    tags[0, 0, 0, 0], tags[0, 1, 0, 1] = 1.0, 2.0  # person A: joints at tag 1 and 2
    tags[0, 0, 1, 1], tags[0, 1, 1, 0] = -1.0, -1.0  # person B: both at -1
    hw = 4
    joints = torch.zeros(1, 3, 2, 2, dtype=torch.long)  # 3 slots, the last empty
    joints[0, 0, 0], joints[0, 0, 1] = torch.tensor([0 * hw + 0, 1]), torch.tensor([1 * hw + 1, 1])
    joints[0, 1, 0], joints[0, 1, 1] = torch.tensor([0 * hw + 3, 1]), torch.tensor([1 * hw + 2, 1])
    push, pull = ae_loss(tags, joints)
    # pull: A mean 1.5 → ((0.5)² + (0.5)²)/2 = 0.25; B → 0; mean over 2 people = 0.125
    assert math.isclose(pull.item(), 0.125, rel_tol=1e-6)
    # push: ½ · 2·exp(−(1.5 − (−1))²) / (2·1)
    assert math.isclose(push.item(), 0.5 * math.exp(-6.25), rel_tol=1e-4)
    # HigherHRNet's hinge form: ½ · 2·max(0, 1 − 2.5) / 2 = 0
    assert ae_loss(tags, joints, "max")[0].item() == 0.0
    # fewer than two people: no push
    one = joints.clone()
    one[0, 1] = 0
    assert ae_loss(tags, one)[0].item() == 0.0


def test_total_loss_and_gradients():
    m = LitePose("XS", num_joints=2)
    x = torch.rand(1, 3, 64, 64)
    batch = {"heatmaps_4": torch.rand(1, 2, 16, 16), "mask_4": torch.ones(1, 16, 16),
             "heatmaps_2": torch.rand(1, 2, 32, 32), "mask_2": torch.ones(1, 32, 32),
             "joints": torch.tensor([[[[5, 1], [256 + 9, 1]], [[40, 1], [256 + 70, 1]]]])}
    loss, items = LitePoseLoss(2)(m(x), batch)
    assert set(items) == {"heatmap_4", "heatmap_2", "push", "pull"}
    assert torch.isclose(loss, sum(items.values()))
    loss.backward()
    assert m.stem[0][0].weight.grad.abs().sum() > 0 and m.final_raw[1][3].weight.grad.abs().sum() > 0
