import math

import pytest
import torch
from torch import nn

from common.distill import CWDLoss, FeatureHintLoss, FeatureTaps, KDLoss


def test_cwd_golden_value():
    # one channel, two locations: p_T = softmax([ln 3, 0]) = [.75, .25], p_S = [.5, .5]
    t = torch.tensor([math.log(3.0), 0.0]).view(1, 1, 1, 2)
    s = torch.zeros(1, 1, 1, 2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert CWDLoss(tau=1.0)(s, t).item() == pytest.approx(expected, rel=1e-6)
    # temperature: logits scaled by T give the same distributions, and the loss is multiplied by T²
    assert CWDLoss(tau=2.0)(s, 2 * t).item() == pytest.approx(4 * expected, rel=1e-6)


def test_cwd_is_mean_over_channels_and_batch():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    per = [CWDLoss()(s[i:i + 1, c:c + 1], t[i:i + 1, c:c + 1]).item() for i in range(2) for c in range(3)]
    assert CWDLoss()(s, t).item() == pytest.approx(sum(per) / 6, rel=1e-5)
    assert CWDLoss()(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_cwd_aligns_pruned_student_channels():
    loss = CWDLoss(student_channels=4, teacher_channels=8)
    s = torch.randn(2, 4, 5, 5, requires_grad=True)
    out = loss(s, torch.randn(2, 8, 5, 5))
    out.backward()
    assert s.grad is not None and loss.align.weight.grad is not None
    with pytest.raises(ValueError, match="equal shapes"):
        CWDLoss()(torch.randn(1, 4, 2, 2), torch.randn(1, 8, 2, 2))


def test_hint_and_kd():
    x = torch.randn(2, 3, 4, 4)
    assert FeatureHintLoss()(x, x).item() == 0.0
    z = torch.randn(4, 10)
    assert KDLoss(tau=4.0)(z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert KDLoss(tau=4.0)(z, -z).item() > 0


def test_feature_taps_by_name():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 2, 1)))
    with FeatureTaps(net, ["0", "2.0"]) as taps:
        net(torch.randn(1, 3, 8, 8))
        assert taps["0"].shape == (1, 4, 6, 6)
        assert taps["2.0"].shape == (1, 2, 6, 6)
    assert not net[0]._forward_hooks  # removed on exit
    with pytest.raises(KeyError, match="no module named"):
        FeatureTaps(net, ["3"])


def test_hint_loss_equals_direct_mse_through_the_adapter():
    torch.manual_seed(0)
    loss = FeatureHintLoss(student_channels=3, teacher_channels=5)
    s, t = torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 5, 4, 4, requires_grad=True)
    direct = ((loss.align(s) - t) ** 2).mean()
    out = loss(s, t)
    assert out.item() == pytest.approx(direct.item(), rel=1e-6)
    out.backward()
    assert s.grad is not None and loss.align.weight.grad is not None
    assert t.grad is None  # the teacher side is detached


def test_kd_equals_direct_formula_and_spares_the_teacher():
    torch.manual_seed(0)
    zs, zt = torch.randn(3, 6, requires_grad=True), torch.randn(3, 6, requires_grad=True)
    T = 2.0
    pt, ps = torch.softmax(zt / T, 1), torch.softmax(zs / T, 1)
    direct = T**2 * (pt * (pt.log() - ps.log())).sum(1).mean()
    out = KDLoss(tau=T)(zs, zt)
    assert out.item() == pytest.approx(direct.item(), rel=1e-5)
    out.backward()
    assert zs.grad is not None and zt.grad is None


def test_cwd_gradient_reaches_student_and_adapter_only():
    loss = CWDLoss(tau=1.0, student_channels=2, teacher_channels=4)
    s, t = torch.randn(1, 2, 3, 3, requires_grad=True), torch.randn(1, 4, 3, 3, requires_grad=True)
    loss(s, t).backward()
    assert s.grad.abs().sum() > 0 and loss.align.weight.grad.abs().sum() > 0 and t.grad is None


def test_tap_channels():
    from common.distill.taps import tap_channels

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 1)).train()
    assert tap_channels(net, ["0", "2"], torch.zeros(1, 3, 8, 8)) == {"0": 4, "2": 6}
    assert net.training  # mode restored


def test_cwd_with_kept_channels_compares_each_student_channel_with_its_parent():
    from common.distill.losses import CWDLoss

    torch.manual_seed(0)
    teacher = torch.randn(2, 6, 5, 5)
    keep = [4, 0, 2]
    loss = CWDLoss(1.0, 3, 6, teacher_index=keep)
    assert loss(teacher[:, keep].clone(), teacher).item() < 1e-6  # the student equal to its parent channels: 0
    assert loss(teacher[:, [0, 2, 4]].clone(), teacher).item() > 1e-3  # other channels: not 0
    assert not any(p.requires_grad for p in loss.parameters())  # no adapter to train
    with pytest.raises(ValueError, match="names 2 channels"):
        CWDLoss(1.0, 3, 6, teacher_index=[0, 1])
    with pytest.raises(ValueError, match="out of range"):
        CWDLoss(1.0, 3, 6, teacher_index=[0, 1, 6])
