"""DiffusionEdge's process identities and losses on small tensors: the decoupled forward / reverse
process, the loss weights, the sampler's time grid, and RCF's weighted BCE with its ignore band."""
import math

import pytest
import torch

from tasks.edges.losses import (bce_targets, decoupled_forward, decoupled_loss, loss_weights, sampling_step,
                                sampling_times, weighted_bce, x0_from)


def test_forward_process_ends_in_pure_noise_and_inverts_exactly():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    xt, c = decoupled_forward(x0, torch.ones(3), eps)
    assert torch.allclose(c, -x0) and torch.allclose(xt, eps)  # x_1 = ε: C·t cancels x_0 at t = 1
    t = torch.tensor([0.1, 0.5, 0.9])
    xt, c = decoupled_forward(x0, t, eps)
    assert torch.allclose(xt, (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1).sqrt() * eps)
    assert torch.allclose(x0_from(xt, c, eps, t), x0, atol=1e-6)


def test_reverse_step_lands_on_x0_and_keeps_the_marginal():
    x0 = torch.full((1, 1, 1, 1), 0.7)
    t, s = 0.8, 0.3
    eps = torch.randn(200_000, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    xt, _ = decoupled_forward(x0.expand_as(eps), torch.full((eps.shape[0],), t), eps)
    assert torch.allclose(sampling_step(xt, x0.expand_as(eps), eps, t, 0.0), x0.expand_as(eps), atol=1e-6)
    noise = torch.randn(eps.shape, generator=torch.Generator().manual_seed(2))
    xs = sampling_step(xt, x0.expand_as(eps), eps, t, s, noise)
    # q(x_s | x_0) = N((1 − s)·x_0, s): the posterior step with the true ε keeps the forward marginal
    assert abs(xs.mean().item() - (1 - s) * 0.7) < 0.01 and abs(xs.var().item() - s) < 0.01


def test_loss_weights_and_zero_loss_at_the_truth():
    w1, w2 = loss_weights(torch.tensor([0.25]))
    assert w1.item() == pytest.approx(2.5) and w2.item() == pytest.approx(math.sqrt(1.75) / math.sqrt(0.7501))
    x0, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    t = torch.tensor([0.3, 0.6])
    xt, c = decoupled_forward(x0, t, eps)
    loss, parts, x0_hat = decoupled_loss(c, eps, c, eps, x0, xt, t)
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and torch.allclose(x0_hat, x0, atol=1e-6)
    loss, parts, _ = decoupled_loss(c + 1, eps, c, eps, x0, xt, t)
    # ‖Ĉ − C‖² = 1 everywhere; x̂_0 is off by t: loss = mean(w1 + (1 − t)²·t)
    expect = ((t + 1) / t.sqrt() + (1 - t) ** 2 * t).mean()
    assert loss.item() == pytest.approx(expect.item(), rel=1e-5) and parts["c"].item() == pytest.approx(1.0)


def test_sampler_time_grid():
    assert sampling_times(1) == [1.0, 1e-4, 0.0]
    grid = sampling_times(5)
    assert len(grid) == 7 and grid[:5] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2]) and grid[-2:] == [1e-4, 0.0]
    with pytest.raises(ValueError):
        sampling_times(0)


def test_weighted_bce_golden_values_with_the_ignore_band():
    label = torch.tensor([[[[0.0, 0.2], [0.6, 1.0]]]])  # negative, ignored (0 < y ≤ 0.3), two positives
    target, weight = bce_targets(label)
    assert target.flatten().tolist() == [0, 0, 1, 1]
    assert weight.flatten().tolist() == pytest.approx([1.1 * 2 / 3, 0.0, 1 / 3, 1 / 3])
    prob = torch.full_like(label, 0.5)
    assert weighted_bce(prob, label).item() == pytest.approx(1.4 * math.log(2), rel=1e-5)
    assert weighted_bce(prob, label, reduction="none")[0, 0, 0, 1].item() == 0.0  # the ignored pixel
    assert weighted_bce(prob, label, reduction="mean").item() == pytest.approx(1.4 * math.log(2) / 4, rel=1e-5)
    # a confident correct prediction costs less than an unsure one
    good = torch.tensor([[[[0.01, 0.9], [0.99, 0.99]]]])
    assert weighted_bce(good, label) < weighted_bce(prob, label)
    with pytest.raises(ValueError, match="reduction"):
        weighted_bce(prob, label, reduction="max")
