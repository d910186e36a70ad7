"""DiffusionEdge's networks at CPU scale, built from diffusers blocks where they exist.

* :func:`build_autoencoder` / :class:`EdgeCodec` — the frozen first stage: diffusers ``AutoencoderKL`` on
  1-channel edge maps in [−1, 1], 4× down, 3 latent channels, latents × 0.3 (the paper's fixed scale).
* :class:`AdaptiveFourierFilter` — ``irfft2(rfft2(x) · W)`` with a learnable complex weight W of shape
  (C, H, W/2 + 1), ``norm="ortho"``. The transforms are written as products with DFT matrices: exactly
  ``torch.fft``'s r2c / c2r (a test checks it), and exportable to ONNX (the TorchScript exporter has no
  FFT). At a size other than the one it was built for, W is resized bilinearly (the reference code only
  runs at its training size, with sliding windows).
* :class:`DecoupledUNet` — the conditional latent UNet with two heads: a shared encoder + middle
  (ResNet blocks with the time embedding, attention in the middle), then per head a decoupling block
  ``x + AFF(conv(GN(x)))`` at the bottleneck and its own decoder; outputs preconditioned as the reference
  implementation does (Ĉ = (1 − t)·x_t + t/√(t² + 1)·F_C, ε̂ = √t·x_t + √(1 − t)/√(t² + 1)·F_ε).
  The image condition comes from :class:`ConditionEncoder` (a small CNN trained with the UNet — the paper
  uses an ImageNet Swin-B, which cannot be downloaded here) and is fused at every encoder and decoder level
  by concatenation + 1×1 conv (the reference fuses by windowed cross-attention; a simplification stated in
  the report).
* :class:`EdgeSampler` / :class:`FixedNoiseSampler` — sampler + decoder as one module (image → edge map); the
  latter with a fixed start noise, the graph exported to ONNX;
* :class:`RCFNet` — the CNN baseline: an RCF/HED-style network (VGG-like stages, a side output per stage,
  upsampled and fused by a 1×1 conv), deep supervision on every side and the fusion.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LATENT_SCALE = 0.3  # DiffusionEdge's fixed latent scale factor
AE_DEFAULT = {"block_out_channels": [32, 64, 64], "layers_per_block": 1, "latent_channels": 3, "norm_num_groups": 8}
UNET_DEFAULT = {"dims": [64, 96, 128], "cond_channels": [32, 48, 64, 96], "temb": 128, "groups": 8, "aff": True}
RCF_DEFAULT = {"channels": [16, 32, 64, 128]}


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


# ----------------------------------------------------------------------------- first stage
def build_autoencoder(cfg: dict | None = None):
    from diffusers import AutoencoderKL

    c = {**AE_DEFAULT, **(cfg or {})}
    n = len(c["block_out_channels"])
    return AutoencoderKL(in_channels=1, out_channels=1, down_block_types=["DownEncoderBlock2D"] * n,
                         up_block_types=["UpDecoderBlock2D"] * n, block_out_channels=list(c["block_out_channels"]),
                         layers_per_block=c["layers_per_block"], latent_channels=c["latent_channels"],
                         norm_num_groups=c["norm_num_groups"])


class EdgeCodec(nn.Module):
    """Edge map (B, 1, H, W) in [0, 1] ↔ scaled latent (B, 3, H/4, W/4)."""

    def __init__(self, autoencoder, scale: float = LATENT_SCALE):
        super().__init__()
        self.ae, self.scale = autoencoder, scale

    def encode(self, edge: torch.Tensor, sample: bool = True) -> torch.Tensor:
        post = self.ae.encode(edge * 2 - 1).latent_dist
        return (post.sample() if sample else post.mode()) * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return ((self.ae.decode(z / self.scale).sample + 1) / 2).clamp(0, 1)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.ae.config.block_out_channels) - 1)


# ----------------------------------------------------------------------------- adaptive Fourier filter
def _rdft_mats(n: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos / −sin matrices (n//2 + 1, n) of the orthonormal real DFT along one axis."""
    k = torch.arange(n // 2 + 1, dtype=torch.float64)[:, None]
    x = torch.arange(n, dtype=torch.float64)[None]
    ang = 2 * math.pi * k * x / n
    return (torch.cos(ang) / math.sqrt(n)).to(device, dtype), (-torch.sin(ang) / math.sqrt(n)).to(device, dtype)


def _dft_mats(n: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    ang = 2 * math.pi * k * k.T / n
    return (torch.cos(ang) / math.sqrt(n)).to(device, dtype), (-torch.sin(ang) / math.sqrt(n)).to(device, dtype)


def rfft2_ortho(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.fft.rfft2(x, norm="ortho")`` as (real, imag) by matrix products. x: (..., H, W)."""
    h, w = x.shape[-2:]
    cw, sw = _rdft_mats(w, x.device, x.dtype)  # (Wf, W)
    ch, sh = _dft_mats(h, x.device, x.dtype)  # (H, H)
    ar, ai = x @ cw.T, x @ sw.T  # along W: (..., H, Wf)
    return ch @ ar - sh @ ai, ch @ ai + sh @ ar  # along H (complex): (F_r + i F_i)(A_r + i A_i)


def irfft2_ortho(real: torch.Tensor, imag: torch.Tensor, w: int) -> torch.Tensor:
    """``torch.fft.irfft2(real + i·imag, s=(H, w), norm="ortho")`` by matrix products (c2r semantics: the
    imaginary parts of the DC and Nyquist columns are ignored)."""
    h = real.shape[-2]
    ch, sh = _dft_mats(h, real.device, real.dtype)  # inverse along H uses the conjugate: cos + i·sin
    zr, zi = ch @ real + sh @ imag, ch @ imag - sh @ real
    cw, sw = _rdft_mats(w, real.device, real.dtype)  # (Wf, W); sw = −sin
    a = torch.full((w // 2 + 1, 1), 2.0, device=real.device, dtype=real.dtype)
    a[0] = 1.0
    if w % 2 == 0:
        a[-1] = 1.0
    # Re(Z e^{+iθ}) = Z_r cos θ − Z_i sin θ
    return zr @ (a * cw) + zi @ (a * sw)


class AdaptiveFourierFilter(nn.Module):
    """``irfft2(rfft2(x, ortho) · W, ortho)`` with a learnable complex W (C, H, W/2 + 1) per channel and
    frequency (initialised ``N(0, 0.02²)`` as the reference)."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.size = (height, width)
        self.weight = nn.Parameter(torch.randn(channels, height, width // 2 + 1, 2) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        wt = self.weight
        if (h, w // 2 + 1) != tuple(wt.shape[1:3]):
            wt = F.interpolate(wt.permute(0, 3, 1, 2), size=(h, w // 2 + 1), mode="bilinear",
                               align_corners=True).permute(0, 2, 3, 1)
        xr, xi = rfft2_ortho(x)
        wr, wi = wt[..., 0], wt[..., 1]
        return irfft2_ortho(xr * wr - xi * wi, xr * wi + xi * wr, w)


# ----------------------------------------------------------------------------- conditional UNet
def _gn(c: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, c), c)


class ConditionEncoder(nn.Module):
    """Image (B, 3, H, W) in [0, 1] → features at 1/4, 1/8, 1/16, … (one per UNet level + the stem's)."""

    def __init__(self, channels: list[int], levels: int):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        chans = list(channels)
        if len(chans) < levels + 1:
            raise ValueError(f"cond_channels needs {levels + 1} entries (stem + one per UNet level), got {chans}")
        self.stem = nn.Sequential(block(3, chans[0], 2), block(chans[0], chans[0], 2))  # → 1/4
        self.stages = nn.ModuleList(block(chans[i], chans[i + 1], 1 if i == 0 else 2) for i in range(levels))
        self.out_channels = chans[1:levels + 1]

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(img * 2 - 1)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class Fuse(nn.Module):
    """Condition fusion: ``GN(x + conv1×1([x, cond]))``."""

    def __init__(self, dim: int, cond: int, groups: int):
        super().__init__()
        self.proj = nn.Conv2d(dim + cond, dim, 1)
        self.norm = _gn(dim, groups)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if cond.shape[-2:] != x.shape[-2:]:
            cond = F.interpolate(cond, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.norm(x + self.proj(torch.cat([x, cond], 1)))


class Decoder(nn.Module):
    """One head's decoder: per level (deepest first) [skip → ResBlock → fuse → skip → ResBlock → upsample]."""

    def __init__(self, dims: list[int], conds: list[int], temb: int, groups: int, out_channels: int):
        from diffusers.models.resnet import ResnetBlock2D, Upsample2D

        super().__init__()
        self.levels = nn.ModuleList()
        x_dim = dims[-1]
        for i in reversed(range(len(dims))):
            d = dims[i]
            lvl = nn.ModuleDict({
                "res1": ResnetBlock2D(in_channels=x_dim + d, out_channels=d, temb_channels=temb, groups=min(groups, d)),
                "fuse": Fuse(d, conds[i], groups),
                "res2": ResnetBlock2D(in_channels=d + d, out_channels=d, temb_channels=temb, groups=min(groups, d)),
            })
            if i > 0:
                lvl["up"] = Upsample2D(d, use_conv=True)
            self.levels.append(lvl)
            x_dim = d
        self.final = ResnetBlock2D(in_channels=dims[0] * 2, out_channels=dims[0], temb_channels=temb, groups=min(groups, dims[0]))
        self.out = nn.Conv2d(dims[0], out_channels, 1)

    def forward(self, x, skips: list[torch.Tensor], conds: list[torch.Tensor], temb, r) -> torch.Tensor:
        skips = list(skips)
        for j, lvl in enumerate(self.levels):
            i = len(self.levels) - 1 - j
            x = lvl["res1"](torch.cat([x, skips.pop()], 1), temb)
            x = lvl["fuse"](x, conds[i])
            x = lvl["res2"](torch.cat([x, skips.pop()], 1), temb)
            if "up" in lvl:
                x = lvl["up"](x)
        return self.out(self.final(torch.cat([x, r], 1), temb))


class DecoupledUNet(nn.Module):
    """Two-head conditional UNet of latent decoupled diffusion: ``forward(x_t, t, image) → (Ĉ, ε̂)``.

    Args: latent_channels; latent_size (h, w) it is built for (the AFF weight's size); dims per level;
    cond_channels (stem + one per level); temb (time-embedding width); groups (GroupNorm); aff (adaptive
    Fourier filter in the decoupling blocks; false = the ablation)."""

    def __init__(self, latent_channels: int = 3, latent_size: tuple[int, int] = (16, 16), dims: list[int] | None = None,
                 cond_channels: list[int] | None = None, temb: int = 128, groups: int = 8, aff: bool = True):
        from diffusers.models.attention_processor import Attention
        from diffusers.models.embeddings import GaussianFourierProjection, TimestepEmbedding
        from diffusers.models.resnet import Downsample2D, ResnetBlock2D

        super().__init__()
        dims = list(dims or UNET_DEFAULT["dims"])
        cond_channels = list(cond_channels or UNET_DEFAULT["cond_channels"])
        self.config = {"latent_channels": latent_channels, "latent_size": list(latent_size), "dims": dims,
                       "cond_channels": cond_channels, "temb": temb, "groups": groups, "aff": aff}
        self.cond = ConditionEncoder(cond_channels, len(dims))
        conds = self.cond.out_channels
        self.time_proj = GaussianFourierProjection(temb // 2, scale=16.0, log=False)
        self.time_mlp = TimestepEmbedding(temb, temb)
        self.init = nn.Sequential(nn.Conv2d(latent_channels + conds[0], dims[0], 7, 1, 3), _gn(dims[0], groups))
        self.down = nn.ModuleList()
        x_dim = dims[0]
        for i, d in enumerate(dims):
            lvl = nn.ModuleDict({
                "res1": ResnetBlock2D(in_channels=x_dim, out_channels=d, temb_channels=temb, groups=min(groups, x_dim), groups_out=min(groups, d)),
                "fuse": Fuse(d, conds[i], groups),
                "res2": ResnetBlock2D(in_channels=d, out_channels=d, temb_channels=temb, groups=min(groups, d)),
            })
            if i < len(dims) - 1:
                lvl["down"] = Downsample2D(d, use_conv=True)
            self.down.append(lvl)
            x_dim = d
        mid = dims[-1]
        self.mid1 = ResnetBlock2D(in_channels=mid, out_channels=mid, temb_channels=temb, groups=min(groups, mid))
        self.mid_attn = Attention(mid, heads=4, dim_head=mid // 4, norm_num_groups=min(groups, mid), residual_connection=True,
                                  bias=True)
        self.mid2 = ResnetBlock2D(in_channels=mid, out_channels=mid, temb_channels=temb, groups=min(groups, mid))
        bh, bw = (s // 2 ** (len(dims) - 1) for s in latent_size)

        def decouple():
            layers = [_gn(mid, groups), nn.Conv2d(mid, mid, 3, 1, 1)]
            if aff:
                layers.append(AdaptiveFourierFilter(mid, bh, bw))
            return nn.Sequential(*layers)

        self.decouple_c, self.decouple_eps = decouple(), decouple()
        self.dec_c = Decoder(dims, conds, temb, groups, latent_channels)
        self.dec_eps = Decoder(dims, conds, temb, groups, latent_channels)

    def forward(self, xt: torch.Tensor, t: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if t.dim() == 0:
            t = t.expand(xt.shape[0])
        conds = self.cond(image)
        temb = self.time_mlp(self.time_proj(torch.log(t.clamp(min=1e-8)) / 4))
        c0 = conds[0] if conds[0].shape[-2:] == xt.shape[-2:] else F.interpolate(conds[0], size=xt.shape[-2:], mode="bilinear")
        x = r = self.init(torch.cat([xt, c0], 1))
        skips = []
        for i, lvl in enumerate(self.down):
            x = lvl["res1"](x, temb)
            x = lvl["fuse"](x, conds[i])
            skips.append(x)
            x = lvl["res2"](x, temb)
            skips.append(x)
            if "down" in lvl:
                x = lvl["down"](x)
        x = self.mid2(self.mid_attn(self.mid1(x, temb)), temb)
        fc = self.dec_c(x + self.decouple_c(x), skips, conds, temb, r)
        fe = self.dec_eps(x + self.decouple_eps(x), skips, conds, temb, r)
        tt = t.view(-1, 1, 1, 1)
        denom = (tt ** 2 + 1).sqrt()
        c_hat = (1 - tt) * xt + tt / denom * fc
        eps_hat = tt.sqrt() * xt + (1 - tt).clamp(min=0).sqrt() / denom * fe
        return c_hat, eps_hat


@torch.no_grad()
def sample_latent(unet: DecoupledUNet, image: torch.Tensor, latent_shape: tuple[int, ...], steps: int,
                  generator: torch.Generator | None = None, stochastic: bool = True) -> torch.Tensor:
    """DiffusionEdge's sampler: x_1 ~ N(0, I), ``steps`` equal steps to 0 (the last split at 1e-4)."""
    from tasks.edges.losses import sampling_step, sampling_times, x0_from

    x = torch.randn(latent_shape, generator=generator, device=image.device, dtype=image.dtype)
    times = sampling_times(steps)
    for t, s in zip(times[:-1], times[1:]):
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=x.dtype)
        c_hat, eps_hat = unet(x, tt, image)
        x0 = x0_from(x, c_hat, eps_hat, tt)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if stochastic else None
        x = sampling_step(x, x0, eps_hat, t, s, noise)
    return x


class EdgeSampler(nn.Module):
    """Image (B, 3, H, W) in [0, 1] → edge probabilities (B, 1, H, W): sampler + frozen decoder in one module
    (what evaluation, latency and ONNX export see). Deterministic (posterior means) unless ``stochastic``;
    the start noise comes from ``seed``."""

    def __init__(self, unet: DecoupledUNet, codec: EdgeCodec, steps: int, seed: int = 0, stochastic: bool = False):
        super().__init__()
        self.unet, self.codec, self.steps, self.seed, self.stochastic = unet, codec, steps, seed, stochastic

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (autoencoder factor × the UNet's downsamplings)."""
        return self.codec.factor * 2 ** (len(self.unet.config["dims"]) - 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:  # reflect-pad to a multiple, crop the prediction back
            image = F.pad(image, (0, pw, 0, ph), mode="reflect")
        f = self.codec.factor
        shape = (image.shape[0], self.unet.config["latent_channels"], image.shape[2] // f, image.shape[3] // f)
        g = torch.Generator(device=image.device).manual_seed(self.seed)
        z = sample_latent(self.unet, image, shape, self.steps, g, self.stochastic)
        return self.codec.decode(z)[..., :h, :w]


class FixedNoiseSampler(nn.Module):
    """The deterministic sampler (posterior means) + decoder with a fixed start noise of one input size: the
    graph exported to ONNX (image → edge map)."""

    def __init__(self, sampler: EdgeSampler, shape: tuple[int, int, int, int]):
        super().__init__()
        self.sampler = sampler
        f = sampler.codec.factor
        z = torch.randn((1, sampler.unet.config["latent_channels"], shape[2] // f, shape[3] // f),
                        generator=torch.Generator().manual_seed(0))
        self.register_buffer("z", z)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        from tasks.edges.losses import sampling_step, sampling_times, x0_from

        x = self.z.expand(image.shape[0], -1, -1, -1)
        times = sampling_times(self.sampler.steps)
        for t, s in zip(times[:-1], times[1:]):
            tt = torch.full((x.shape[0],), t, dtype=x.dtype)
            c_hat, eps_hat = self.sampler.unet(x, tt, image)
            x = sampling_step(x, x0_from(x, c_hat, eps_hat, tt), eps_hat, t, s)
        return self.sampler.codec.decode(x)


# ----------------------------------------------------------------------------- CNN baseline
class RCFNet(nn.Module):
    """RCF/HED-style edge CNN: VGG-like stages (2 convs each, max-pool between), a 1×1 side output per stage
    upsampled to the input, a 1×1 fusion of all sides. ``forward`` → list of side probabilities + fused
    (last); ``predict`` → the fused map only."""

    def __init__(self, channels: list[int] | None = None):
        super().__init__()
        channels = list(channels or RCF_DEFAULT["channels"])
        self.config = {"channels": channels}
        self.stages = nn.ModuleList()
        cin = 3
        for c in channels:
            self.stages.append(nn.Sequential(nn.Conv2d(cin, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                             nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
            cin = c
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in channels)
        self.fuse = nn.Conv2d(len(channels), 1, 1)
        nn.init.constant_(self.fuse.weight, 1.0 / len(channels))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = image * 2 - 1
        size = image.shape[-2:]
        logits = []
        for i, (stage, side) in enumerate(zip(self.stages, self.sides)):
            if i:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            x = stage(x)
            logits.append(F.interpolate(side(x), size=size, mode="bilinear", align_corners=False))
        logits.append(self.fuse(torch.cat(logits, 1)))
        return [torch.sigmoid(z) for z in logits]

    def predict(self, image: torch.Tensor) -> torch.Tensor:
        return self.forward(image)[-1]


class RCFPredict(nn.Module):
    def __init__(self, net: RCFNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net.predict(image)


def canny(image: np.ndarray, low: float, high: float, blur: float = 1.0) -> np.ndarray:
    """OpenCV Canny on an (H, W, 3) uint8 RGB image → (H, W) float32 0/1 edge map (the classical peer)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if blur > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), blur)
    return (cv2.Canny(grey, low, high) > 0).astype(np.float32)
