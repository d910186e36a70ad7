"""Losses and process identities of DiffusionEdge (Ye et al., AAAI 2024, arXiv 2401.02032).

* :func:`weighted_bce` — the uncertainty-aware weighted BCE of RCF/HED that DiffusionEdge distils:
  pixels labelled by a fraction y of annotators; ``0 < y ≤ η`` (η = 0.3) is an ignore band, ``y > η`` is a
  positive (target 1), ``y = 0`` a negative; positives weigh ``|Y−| / |Y|`` and negatives ``λ·|Y+| / |Y|``
  (λ = 1.1), counted per image over the non-ignored pixels.
* :func:`decoupled_forward` / :func:`x0_from` — the latent *decoupled* diffusion process (Huang et al.,
  "Decoupled Diffusion Models"): ``x_t = x_0 + C·t + √t·ε`` with the constant attenuation ``C = −x_0``, so
  ``x_1 = ε`` and ``x̂_0 = x_t − Ĉ·t − √t·ε̂``.
* :func:`decoupled_loss` — ``w1(t)‖Ĉ − C‖² + w2(t)‖ε̂ − ε‖² + (1 − t)²·|x̂_0 − x_0|`` per sample.
* :func:`sampling_step` / :func:`sampling_times` — the analytic reverse step from t to s < t and the time grid.

Written here, not imported: DiffusionEdge's code is a research repository, not a library, and neither
diffusers nor any pip package implements the decoupled process or RCF's weighting.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bce_targets(label: torch.Tensor, threshold: float = 0.3, neg_weight: float = 1.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (0/1) and per-pixel weights (0 on the ignore band) of RCF's weighted BCE.

    label: (B, 1, H, W) annotator fractions in [0, 1]. Counts are per image."""
    pos = (label > threshold).to(label.dtype)
    neg = (label == 0).to(label.dtype)
    n_pos = pos.sum(dim=(1, 2, 3), keepdim=True)
    n_neg = neg.sum(dim=(1, 2, 3), keepdim=True)
    total = (n_pos + n_neg).clamp(min=1)
    weight = pos * (n_neg / total) + neg * (neg_weight * n_pos / total)
    return pos, weight


def weighted_bce(prob: torch.Tensor, label: torch.Tensor, threshold: float = 0.3, neg_weight: float = 1.1,
                 reduction: str = "sum") -> torch.Tensor:
    """RCF's weighted BCE of edge probabilities ``prob`` against annotator fractions ``label`` (both
    (B, 1, H, W)). ``reduction``: ``"sum"`` (RCF: summed over pixels, averaged over the batch), ``"mean"``
    (per pixel) or ``"none"`` (the (B, 1, H, W) map, 0 on ignored pixels)."""
    target, weight = bce_targets(label, threshold, neg_weight)
    loss = F.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), target, weight=weight, reduction="none")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum(dim=(1, 2, 3)).mean()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"unknown reduction {reduction!r}; expected 'sum', 'mean' or 'none'")


def decoupled_forward(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, C) with ``C = −x_0`` and ``x_t = x_0 + C·t + √t·ε``; t of shape (B,) in (0, 1]."""
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    c = -x0
    return x0 + c * tt + tt.sqrt() * eps, c


def x0_from(xt: torch.Tensor, c: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``x̂_0 = x_t − Ĉ·t − √t·ε̂``."""
    tt = t.view(-1, *([1] * (xt.dim() - 1)))
    return xt - c * tt - tt.sqrt() * eps


def loss_weights(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DiffusionEdge's w1(t) = (t + 1) / √t on the C term and w2(t) = √(2 − t) / √(1 − t + 1e-4) on ε."""
    return (t + 1) / t.sqrt(), (2 - t).sqrt() / (1 - t + 1e-4).sqrt()


def decoupled_loss(c_hat: torch.Tensor, eps_hat: torch.Tensor, c: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor,
                   xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Batch mean of ``w1‖Ĉ − C‖² + w2‖ε̂ − ε‖² + (1 − t)²|x̂_0 − x_0|`` (squared errors averaged over the
    latent's elements); returns (loss, parts, x̂_0)."""
    w1, w2 = loss_weights(t)
    dims = tuple(range(1, c.dim()))
    lc = ((c_hat - c) ** 2).mean(dim=dims)
    le = ((eps_hat - eps) ** 2).mean(dim=dims)
    x0_hat = x0_from(xt, c_hat, eps_hat, t)
    lx = (x0_hat - x0).abs().mean(dim=dims)
    total = (w1 * lc + w2 * le + (1 - t) ** 2 * lx).mean()
    return total, {"c": lc.mean().detach(), "eps": le.mean().detach(), "x0": lx.mean().detach()}, x0_hat


def sampling_step(xt: torch.Tensor, x0_hat: torch.Tensor, eps_hat: torch.Tensor, t: float, s: float,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
    """One reverse step of the decoupled process from t to s (0 ≤ s < t ≤ 1), given x̂_0 and ε̂.

    With ``C' = −x̂_0`` (the attenuation recomputed from the predicted x̂_0, as DiffusionEdge's sampler does),
    the posterior q(x_s | x_t, x̂_0) of ``x_t = (1 − t)·x_0 + √t·ε`` has mean
    ``x_t − C'·(t − s) − (t − s)/√t · ε̂`` and variance ``(t − s)·s / t``; ``noise=None`` takes the mean. At
    s = 0 the step lands exactly on x̂_0."""
    dt = t - s
    mean = xt + x0_hat * dt - (dt / math.sqrt(t)) * eps_hat
    if noise is None or s == 0:
        return mean
    return mean + math.sqrt(dt * s / t) * noise


def sampling_times(steps: int, eps: float = 1e-4) -> list[float]:
    """Time grid of the sampler: 1 → 0 in ``steps`` equal steps, the last split into [1/N − eps, eps] (the
    reference sampler's ``denoise``: N steps cost N + 1 network evaluations)."""
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    grid = [1 - i / steps for i in range(steps)]  # 1, 1 − 1/N, …, 1/N
    return grid + [eps, 0.0]
