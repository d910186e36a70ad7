"""D^3SR's losses (arXiv 2410.04224, §3): DISTS-style distance, edge-aware DISTS, the non-saturating GAN on
latents forward-diffused to a random timestep.

DISTS (Ding et al., TPAMI 2020) is written here because piq's ``DISTS`` downloads VGG16 and its α/β
weights at construction; ours runs the same formula on our own feature network (``models.FeatureNet``).
The α/β weights of DISTS were fitted to human judgments we do not have: we use uniform weights
(α = β = 1 / (2·Σ channels)), DISTS' own initialisation — an assumption, said in the report.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

C1 = C2 = 1e-6  # DISTS' stabilising constants


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Per-channel Sobel gradient magnitude, same shape as ``x`` (replicate padding)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device) / 4
    k = torch.stack([kx, kx.t()])[:, None]  # (2, 1, 3, 3)
    c = x.shape[1]
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.repeat(c, 1, 1, 1), groups=c)
    g = g.view(x.shape[0], c, 2, *x.shape[2:])
    return (g.pow(2).sum(2) + 1e-12).sqrt()


def dists_from_features(fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
    """DISTS(x, y) = 1 − Σ_j Σ_i (α_ij·l(x̃_ij, ỹ_ij) + β_ij·s(x̃_ij, ỹ_ij)) over stages j and channels i, with
    l = (2μxμy + c1)/(μx² + μy² + c1) (texture: global means) and s = (2σxy + c2)/(σx² + σy² + c2)
    (structure: global (co)variances); uniform α = β. Returns one distance per image, shape (B,)."""
    total = sum(f.shape[1] for f in fx)
    sim = 0.0
    for a, b in zip(fx, fy):
        mx, my = a.mean((2, 3)), b.mean((2, 3))
        vx = (a - mx[..., None, None]).pow(2).mean((2, 3))
        vy = (b - my[..., None, None]).pow(2).mean((2, 3))
        cxy = ((a - mx[..., None, None]) * (b - my[..., None, None])).mean((2, 3))
        lum = (2 * mx * my + C1) / (mx ** 2 + my ** 2 + C1)
        struct = (2 * cxy + C2) / (vx + vy + C2)
        sim = sim + (lum + struct).sum(1) / (2 * total)
    return 1 - sim


class DISTS(nn.Module):
    """DISTS-style distance on a frozen feature network; ``edge_weight`` > 0 adds the edge-aware term of
    D^3SR's EA-DISTS: DISTS(x̂, x) + edge_weight · DISTS(Sobel(x̂), Sobel(x)). Inputs in [0, 1]."""

    def __init__(self, features: nn.Module, edge_weight: float = 0.0):
        super().__init__()
        self.features = features.eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.edge_weight = edge_weight

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()
        return self

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fy = self.features.stages(y)
        return dists_from_features(self.features.stages(x), fy)

    def edge_distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(sobel(x).clamp(0, 1), sobel(y).clamp(0, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        d = self.distance(x, y)
        if self.edge_weight:
            d = d + self.edge_weight * self.edge_distance(x, y)
        return d.mean()


# ----------------------------------------------------------------------------- adversarial
def sample_timesteps(n: int, mode: str, fixed_t: int, t_min: int, t_max: int, generator=None,
                     device=None) -> torch.Tensor:
    """Timesteps of the latent discriminator: D^3SR draws t uniformly (``random``, in [t_min, t_max]); the
    ablation keeps one ``fixed`` t."""
    if mode == "fixed":
        return torch.full((n,), fixed_t, dtype=torch.long, device=device)
    if mode != "random":
        raise ValueError(f"discriminator timestep mode must be 'random' or 'fixed', got {mode!r}")
    return torch.randint(t_min, t_max + 1, (n,), generator=generator).to(device)


def forward_diffuse(z0: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """q(z_t | z_0) = N(√ᾱ_t z_0, (1 − ᾱ_t) I)."""
    a = alphas_cumprod.to(z0.device)[t].view(-1, *([1] * (z0.dim() - 1)))
    noise = torch.randn_like(z0) if noise is None else noise
    return a.sqrt() * z0 + (1 - a).sqrt() * noise


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN, discriminator side: −log σ(D(real)) − log(1 − σ(D(fake)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN, generator side: −log σ(D(fake))."""
    return F.softplus(-fake_logits).mean()
