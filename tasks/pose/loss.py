"""LitePose's training loss (HigherHRNet's, which LitePose keeps): heatmap MSE at 1/4 and 1/2 resolution
plus the associative-embedding (AE) pull/push loss on the 1/4 tag maps (Newell et al., 2017).

Written here because the field's implementations live inside training frameworks (HigherHRNet's repo,
mmpose on mmcv), not in a pip library this project can depend on; the formulas follow HigherHRNet's
``lib/core/loss.py`` (``exp`` push):

* heatmaps: ``mean_{k,y,x} mask · (pred − gt)²`` per image, averaged over the batch, × factor (1.0);
* pull: for each person n with visible joints J_n, ``h̄_n = mean_{j∈J_n} h_j`` and
  ``pull = mean_n mean_{j∈J_n} (h_j − h̄_n)²``;
* push: ``push = ½ · Σ_{n≠m} exp(−(h̄_n − h̄_m)²) / (N (N − 1))`` (0 for fewer than 2 people);
  both averaged over the batch and × their factors (1e-3).
"""
from __future__ import annotations

import torch
from torch import nn


def heatmap_loss(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """pred, gt: (B, K, H, W); mask: (B, H, W) (0 = ignored region). Returns the batch-mean loss."""
    if pred.shape != gt.shape:
        raise ValueError(f"heatmap shapes differ: prediction {tuple(pred.shape)} vs target {tuple(gt.shape)}")
    return (((pred - gt) ** 2) * mask[:, None]).mean(dim=(1, 2, 3)).mean()


def ae_loss(tags: torch.Tensor, joints: torch.Tensor, loss_type: str = "exp") -> tuple[torch.Tensor, torch.Tensor]:
    """Associative-embedding (push, pull), each a batch mean.

    tags: (B, K, H, W) tag maps (one tag per joint type). joints: (B, P, K, 2) long, per person and joint
    ``(flat index k·H·W + y·W + x into the tag maps, visible 0/1)``; padded people have all-zero rows.
    """
    b, p, k, _ = joints.shape
    flat = tags.reshape(b, -1)
    vis = joints[..., 1].to(flat.dtype)  # (B, P, K)
    idx = joints[..., 0].reshape(b, -1).long().clamp(0, flat.shape[1] - 1)
    h = torch.gather(flat, 1, idx).reshape(b, p, k) * vis
    n_joints = vis.sum(2)  # (B, P)
    present = (n_joints > 0).to(flat.dtype)
    n_people = present.sum(1)  # (B,)
    mean = h.sum(2) / n_joints.clamp(min=1)  # (B, P)
    pull_person = (vis * (h - mean[..., None]) ** 2).sum(2) / n_joints.clamp(min=1)
    pull = (pull_person * present).sum(1) / n_people.clamp(min=1)
    pair = present[:, :, None] * present[:, None, :]
    diff = mean[:, :, None] - mean[:, None, :]
    if loss_type == "exp":
        sim = torch.exp(-diff ** 2)
    elif loss_type == "max":  # HigherHRNet's alternative: a hinge, whose gradient does not vanish at Δ = 0
        sim = torch.clamp(1 - diff.abs(), min=0)
    else:
        raise ValueError(f"unknown AE loss type {loss_type!r}; expected 'exp' or 'max'")
    push_sum = (sim * pair).sum(dim=(1, 2)) - n_people  # drop the n == m diagonal
    push = 0.5 * push_sum / (n_people * (n_people - 1)).clamp(min=1)
    push = torch.where(n_people >= 2, push, torch.zeros_like(push))
    return push.mean(), pull.mean()


class LitePoseLoss(nn.Module):
    """Total loss and its parts for ``(out_quarter, out_half)`` of :class:`tasks.pose.model.LitePose`."""

    def __init__(self, num_joints: int, heatmap_factors: tuple[float, float] = (1.0, 1.0),
                 push_factor: float = 1e-3, pull_factor: float = 1e-3, ae_type: str = "exp"):
        super().__init__()
        self.ae_type = ae_type
        self.k = num_joints
        self.heatmap_factors = heatmap_factors
        self.push_factor, self.pull_factor = push_factor, pull_factor

    def forward(self, outputs, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        quarter, half = outputs
        hm4, tags = quarter[:, :self.k], quarter[:, self.k:]
        l4 = heatmap_loss(hm4, batch["heatmaps_4"], batch["mask_4"]) * self.heatmap_factors[0]
        l2 = heatmap_loss(half, batch["heatmaps_2"], batch["mask_2"]) * self.heatmap_factors[1]
        push, pull = ae_loss(tags, batch["joints"], self.ae_type)
        push, pull = push * self.push_factor, pull * self.pull_factor
        total = l4 + l2 + push + pull
        return total, {"heatmap_4": l4.detach(), "heatmap_2": l2.detach(), "push": push.detach(),
                       "pull": pull.detach()}
