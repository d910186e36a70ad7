"""Distillation losses on embedding vectors ``(n, d)`` — the student's and the teacher's batch features.

Same call shape as :mod:`common.distill.losses` (``loss(student_features, teacher_features) -> scalar``),
so any task can use them as a :class:`common.training.module.DistillTerm` on a tapped embedding layer.

* :class:`PCMLoss` — Principal Component Mapping (MLLMEmbed-ReID, arXiv 2602.12936): match the student to the
  teacher only inside the teacher's dominant subspace, chosen per batch by singular-value energy.
* :class:`FeatureRelationLoss` — match the batch's pairwise cosine-similarity matrices.
* :class:`EmbeddingHintLoss` — plain feature KD: a linear head, then MSE to the teacher's embedding (FitNets on
  vectors; ``FeatureHintLoss`` is its twin for feature maps).

The paper has no code and its body is not public: the exact formulas below are **assumptions** built from its
stated ideas (each marked "Assumption" and each exposed as an argument, so a task can set it as a param).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def energy_rank(singular_values: torch.Tensor, tau: float) -> int:
    """Smallest k with Σ_{i≤k} s_i² / Σ_i s_i² ≥ τ (``singular_values`` in descending order); at least 1.

    τ ≥ 1 keeps every component. A zero spectrum (all-zero features) gives 1."""
    if not 0 < tau:
        raise ValueError(f"energy threshold tau must be > 0, got {tau}")
    energy = singular_values.detach().double().pow(2)
    total = energy.sum()
    if total <= 0:
        return 1
    cum = torch.cumsum(energy, 0) / total
    # a tolerance, so that a spectrum whose first k components hold exactly τ of the energy gives k
    k = int((cum < tau - 1e-9).sum().item()) + 1
    return min(k, int(singular_values.numel()))


def teacher_subspace(features: torch.Tensor, tau: float, center: bool = False, k_max: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """SVD of the teacher's batch features F_T = U S Vᵀ → (V_k (d, k), S, k) with k = :func:`energy_rank`."""
    x = features.detach().float()
    if center:
        x = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    k = energy_rank(s, tau)
    if k_max is not None:
        k = min(k, int(k_max))
    return vh[:k].T, s, k


class PCMLoss(nn.Module):
    """Principal Component Mapping loss.

    Per batch: F_T = U S Vᵀ (SVD of the teacher's ``(n, d_T)`` features); keep the top-k right singular vectors
    V_k, k the smallest with cumulative energy Σ_{i≤k} s_i² / Σ s_i² ≥ τ; a linear head h maps the student's
    features into the teacher's space and the loss matches the coordinates in that subspace:

        L = ‖ (h(F_S) − F_T) V_k ‖²_F / (n · k)

    Assumptions (the paper states the idea, not the formula): (1) the head maps to the teacher's d_T
    dimensions and the subspace is applied to both sides — V_kᵀ·h is the "linear map into the subspace", and
    it is invariant to the sign/rotation ambiguity of singular vectors, which changes from batch to batch (a
    head straight to k outputs would chase it); (2) squared error averaged over the n·k coordinates (at k = d_T
    it equals plain MSE feature KD); (3) no centring (``center=False``: "SVD of the batch features"; ``True``
    gives PCA); (4) optional L2 normalisation of both sides first (``normalize``).

    After each call, ``last_k`` holds the k used (log it to see the adaptive rank).
    """

    def __init__(self, student_dim: int, teacher_dim: int, tau: float = 0.9, center: bool = False,
                 normalize: bool = False, k_max: int | None = None):
        super().__init__()
        if not 0 < tau <= 1:
            raise ValueError(f"PCM energy threshold tau must be in (0, 1], got {tau}")
        self.head = nn.Linear(student_dim, teacher_dim)
        self.tau, self.center, self.normalize, self.k_max = tau, center, normalize, k_max
        self.last_k = 0

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        if preds_s.ndim != 2 or preds_t.ndim != 2 or preds_s.shape[0] != preds_t.shape[0]:
            raise ValueError(f"PCM needs (n, d) student and teacher features with the same n, got "
                             f"{tuple(preds_s.shape)} and {tuple(preds_t.shape)}")
        t = preds_t.detach().float()
        s = self.head(preds_s.float())
        if self.normalize:
            t, s = F.normalize(t, dim=1), F.normalize(s, dim=1)
        v_k, _, k = teacher_subspace(t, self.tau, self.center, self.k_max)
        self.last_k = k
        if self.center:
            mu = t.mean(0, keepdim=True)
            t, s = t - mu, s - mu
        return ((s - t) @ v_k).pow(2).sum() / (t.shape[0] * k)


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """The (n, n) matrix of pairwise cosine similarities of the rows of x."""
    x = F.normalize(x.float(), dim=1)
    return x @ x.T


class FeatureRelationLoss(nn.Module):
    """Feature Relation loss: L = mean_{i,j} (cos(f_S,i, f_S,j) − cos(f_T,i, f_T,j))², over the n × n pairs
    of the batch. No head: similarities are compared, not features, so the dimensions may differ.

    Assumption: squared error averaged over all n² entries (the diagonal is 1 on both sides and adds 0)."""

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        if preds_s.shape[0] != preds_t.shape[0]:
            raise ValueError(f"feature relation needs the same batch on both sides, got {preds_s.shape[0]} "
                             f"and {preds_t.shape[0]}")
        return (cosine_matrix(preds_s) - cosine_matrix(preds_t.detach())).pow(2).mean()


class EmbeddingHintLoss(nn.Module):
    """Plain feature KD on embeddings: MSE(h(F_S), F_T) with a linear head h (identity when the dims agree
    and ``head=False``)."""

    def __init__(self, student_dim: int, teacher_dim: int, normalize: bool = False, head: bool = True):
        super().__init__()
        self.head = nn.Linear(student_dim, teacher_dim) if head or student_dim != teacher_dim else nn.Identity()
        self.normalize = normalize

    def forward(self, preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
        s, t = self.head(preds_s.float()), preds_t.detach().float()
        if self.normalize:
            s, t = F.normalize(s, dim=1), F.normalize(t, dim=1)
        return F.mse_loss(s, t)
