"""Distillation losses. Each is an ``nn.Module`` called as ``loss(preds_S, preds_T)`` (MMRazor's shape).

* :class:`CWDLoss` — channel-wise distillation, Shu et al., ICCV 2021 ("Channel-wise Knowledge
  Distillation for Dense Prediction"), eq. 2–3:
  φ(y_c) = softmax(y_c / T) over the H·W locations of channel c;
  loss = T² / C · Σ_c KL(φ(y_T,c) ‖ φ(y_S,c)), averaged over the batch.
  When student and teacher channel counts differ (a pruned student) either ``teacher_index`` names the
  teacher channel each student channel descends from (the channels pruning kept: the student is compared with
  those teacher channels directly, no adapter), or a learnable 1×1 conv maps the student's channels to the
  teacher's first (random init).
* :class:`FeatureHintLoss` — FitNets hint: MSE between (adapted) student and teacher feature maps.
* :class:`KDLoss` — Hinton et al. 2015 logit distillation, T² · KL(softmax(z_T/T) ‖ softmax(z_S/T)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _adapter(student_channels: int | None, teacher_channels: int | None) -> nn.Module:
    if student_channels is None or teacher_channels is None or student_channels == teacher_channels:
        return nn.Identity()
    return nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=True)


class CWDLoss(nn.Module):
    def __init__(self, tau: float = 1.0, student_channels: int | None = None, teacher_channels: int | None = None,
                 teacher_index: list[int] | None = None):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"CWD temperature must be > 0, got {tau}")
        self.tau = tau
        if teacher_index is not None:
            if student_channels is not None and len(teacher_index) != student_channels:
                raise ValueError(f"teacher_index names {len(teacher_index)} channels for a student with "
                                 f"{student_channels}")
            if teacher_channels is not None and max(teacher_index, default=-1) >= teacher_channels:
                raise ValueError(f"teacher_index {max(teacher_index)} is out of range for {teacher_channels} teacher "
                                 f"channels")
            self.register_buffer("teacher_index", torch.as_tensor(teacher_index, dtype=torch.long), persistent=False)
            self.align = nn.Identity()
        else:
            self.teacher_index = None
            self.align = _adapter(student_channels, teacher_channels)

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        if self.teacher_index is not None:
            preds_t = preds_t.index_select(1, self.teacher_index)
        preds_s = self.align(preds_s)
        if preds_s.shape != preds_t.shape:
            raise ValueError(f"CWD needs equal shapes after alignment, got {tuple(preds_s.shape)} vs "
                             f"{tuple(preds_t.shape)}; pass student_channels/teacher_channels")
        n, c, h, w = preds_s.shape
        s = preds_s.reshape(n * c, h * w).float() / self.tau
        t = preds_t.detach().reshape(n * c, h * w).float() / self.tau
        p_t = F.softmax(t, dim=1)
        # KL(p_T || p_S) = Σ p_T (log p_T − log p_S), per channel
        kl = (p_t * (F.log_softmax(t, dim=1) - F.log_softmax(s, dim=1))).sum(dim=1)
        return (self.tau**2) * kl.sum() / (n * c)


class FeatureHintLoss(nn.Module):
    def __init__(self, student_channels: int | None = None, teacher_channels: int | None = None):
        super().__init__()
        self.align = _adapter(student_channels, teacher_channels)

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.align(preds_s).float(), preds_t.detach().float())


class KDLoss(nn.Module):
    def __init__(self, tau: float = 4.0):
        super().__init__()
        self.tau = tau

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        log_p_s = F.log_softmax(preds_s.float() / self.tau, dim=-1)
        log_p_t = F.log_softmax(preds_t.detach().float() / self.tau, dim=-1)
        return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * self.tau**2
