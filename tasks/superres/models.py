"""Networks of the D^3SR reproduction, all built from configs (no pretrained weights exist offline):

* the **autoencoder** — diffusers' ``AutoencoderKL`` (the latent space; frozen after ``train_autoencoder``). It
  downsamples 2× into 8 channels (SD's VAE: 8×, 4 channels): at 4× / 4 channels a VAE trained for minutes
  reconstructs our validation images no better than bicubic upsampling does from LR (measured: 22.9 vs
  22.6 dB), and at 2× / 4 channels only 1.3 dB better, which caps every latent SR model near the floor;
* the **diffusion UNet** — diffusers' ``UNet2DModel`` on ``[noisy HR latent, LR latent]`` (8 → 4 channels),
  trained as a multi-step latent diffusion SR model (the multi-step baseline, and the initialisation of the
  one-step generator and of the discriminator);
* the **feature network** behind our DISTS-style loss (VGG-like; VGG's ImageNet weights cannot be had);
* :class:`OneStepSR` — frozen encoder → the diffusion UNet + LoRA (peft) run once → frozen decoder;
* :class:`LatentDiscriminator` — a copy of the diffusion UNet's conv_in + down + mid blocks with LoRA and a
  patch-wise MLP head, scoring latents forward-diffused to a timestep t;
* :class:`MultiStepSR` — the diffusion UNet sampled by DDIM with K steps (K = 50 / 10 / 1).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- configs
AE_DEFAULT = {"block_out_channels": [16, 32], "layers_per_block": 1, "latent_channels": 8, "norm_num_groups": 8}
UNET_DEFAULT = {"block_out_channels": [32, 64, 96], "layers_per_block": 1, "attention_levels": [False, True, True],
                "norm_num_groups": 16, "attention_head_dim": 32}
SCHEDULER = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "clip_sample": False, "prediction_type": "v_prediction"}  # Stable Diffusion 2.1's schedule and target
FEATURES_DEFAULT = {"channels": [32, 64, 96, 128]}


def build_autoencoder(cfg: dict | None = None):
    from diffusers import AutoencoderKL

    c = {**AE_DEFAULT, **(cfg or {})}
    n = len(c["block_out_channels"])
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(c["block_out_channels"]),
                         layers_per_block=c["layers_per_block"], latent_channels=c["latent_channels"],
                         norm_num_groups=c["norm_num_groups"], mid_block_add_attention=False)


def build_unet(latent_channels: int, cfg: dict | None = None):
    from diffusers import UNet2DModel

    c = {**UNET_DEFAULT, **(cfg or {})}
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in c["attention_levels"])
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(c["attention_levels"]))
    return UNet2DModel(in_channels=2 * latent_channels, out_channels=latent_channels, down_block_types=down,
                       up_block_types=up, block_out_channels=tuple(c["block_out_channels"]),
                       layers_per_block=c["layers_per_block"], norm_num_groups=c["norm_num_groups"],
                       attention_head_dim=c["attention_head_dim"])


def build_scheduler(kind: str = "ddpm"):
    from diffusers import DDIMScheduler, DDPMScheduler

    cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}[kind]
    extra = {"set_alpha_to_one": True, "timestep_spacing": "trailing"} if kind == "ddim" else {}
    return cls(**SCHEDULER, **extra)


class LatentCodec(nn.Module):
    """The frozen autoencoder as the SR models see it: ``encode`` an RGB image in [0, 1] to a latent scaled
    to unit variance (the posterior mean × ``scale``, Stable Diffusion's convention) and ``decode`` back."""

    def __init__(self, autoencoder: nn.Module, scale: float = 1.0):
        super().__init__()
        self.ae = autoencoder
        self.register_buffer("scale", torch.tensor(float(scale)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.ae.encode(x * 2 - 1).latent_dist.mean * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return ((self.ae.decode(z / self.scale).sample + 1) / 2).clamp(0, 1)

    def encode_lr(self, lr: torch.Tensor, factor: int) -> torch.Tensor:
        """LR → bicubic ×factor → latent (the conditioning of every SR model here, as in OSEDiff / D^3SR)."""
        return self.encode(upsample(lr, factor))


def upsample(lr: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(lr, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


def freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# ----------------------------------------------------------------------------- LoRA (peft)
LORA_TARGETS = r".*(conv1|conv2|conv_shortcut|to_q|to_k|to_v|to_out\.0|conv_in|time_emb_proj)$"


def add_lora(module: nn.Module, rank: int, alpha: float | None = None, targets: str = LORA_TARGETS,
             adapter: str = "default") -> nn.Module:
    """Inject LoRA adapters (peft) into the convs / attention projections matched by ``targets`` and freeze
    everything else: only ``lora_`` parameters of ``module`` stay trainable."""
    from peft import LoraConfig, inject_adapter_in_model

    cfg = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, target_modules=targets,
                     init_lora_weights=True)
    inject_adapter_in_model(cfg, module, adapter_name=adapter)
    for name, p in module.named_parameters():
        p.requires_grad_("lora_" in name)
    return module


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its base weight (for export: the deployed graph has no extra convs)."""
    from peft.tuners.lora import LoraLayer

    for m in module.modules():
        if isinstance(m, LoraLayer) and not m.merged:
            m.merge()
    return module


# ----------------------------------------------------------------------------- SR models
def alphas_cumprod() -> torch.Tensor:
    return build_scheduler("ddpm").alphas_cumprod.float()


class OneStepSR(nn.Module):
    """D^3SR's generator: z_L = E(bicubic(x_L)); v̂ = UNet([z_L, z_L], t_g); ẑ_H = √ᾱ·z_L − √(1−ᾱ)·v̂ — the LR
    latent read as the noisy latent at the fixed timestep t_g and the UNet's x₀ estimate taken in one step
    (the OSEDiff / D^3SR one-step parametrisation, with SD 2.1's v-prediction); x̂_H = D(ẑ_H). The UNet is
    the pretrained diffusion UNet with LoRA."""

    def __init__(self, codec: LatentCodec, unet: nn.Module, timestep: int, factor: int):
        super().__init__()
        self.codec = freeze(codec)
        self.unet = unet
        self.factor = factor
        a = alphas_cumprod()[timestep]
        self.register_buffer("t", torch.tensor([timestep], dtype=torch.long))
        self.register_buffer("sqrt_a", a.sqrt())
        self.register_buffer("sqrt_1ma", (1 - a).sqrt())

    def latent(self, z_lr: torch.Tensor) -> torch.Tensor:
        v = self.unet(torch.cat([z_lr, z_lr], 1), self.t.expand(z_lr.shape[0])).sample
        return self.sqrt_a * z_lr - self.sqrt_1ma * v

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        z_lr = self.codec.encode_lr(lr, self.factor)
        return self.codec.decode(self.latent(z_lr))

    def train(self, mode: bool = True):
        super().train(mode)
        self.codec.eval()  # frozen
        return self


class MultiStepSR(nn.Module):
    """The multi-step latent diffusion SR model: DDIM sampling of ``steps`` steps from Gaussian noise,
    conditioned on the LR latent at every step. ``generator`` fixes the initial noise."""

    def __init__(self, codec: LatentCodec, unet: nn.Module, factor: int, steps: int = 50, seed: int = 0):
        super().__init__()
        self.codec, self.unet, self.factor, self.steps, self.seed = codec, unet, factor, steps, seed

    @torch.no_grad()
    def latent(self, z_lr: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None):
        sched = build_scheduler("ddim")
        sched.set_timesteps(steps or self.steps)
        g = generator or torch.Generator().manual_seed(self.seed)
        z = torch.randn(z_lr.shape, generator=g).to(z_lr)
        for t in sched.timesteps:
            out = self.unet(torch.cat([z, z_lr], 1), t.expand(z.shape[0]).to(z.device)).sample
            z = sched.step(out, t, z).prev_sample
        return z

    @torch.no_grad()
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(self.latent(self.codec.encode_lr(lr, self.factor)))


class LatentDiscriminator(nn.Module):
    """D^3SR's discriminator on noisy latents: the diffusion UNet's conv_in, time embedding, down blocks
    and mid block (a copy, with LoRA) → a patch-wise MLP head (1×1 convs) → one logit per latent patch.
    Input: a latent forward-diffused to timestep t, and the LR latent (the UNet's conditioning channels)."""

    def __init__(self, unet: nn.Module, rank: int = 8, hidden: int | None = None):
        super().__init__()
        u = copy.deepcopy(unet)
        self.time_proj, self.time_embedding, self.conv_in = u.time_proj, u.time_embedding, u.conv_in
        self.down_blocks, self.mid_block = u.down_blocks, u.mid_block
        self.dtype_ref = u.conv_in.weight
        add_lora(self, rank)
        ch = u.config.block_out_channels[-1]
        hidden = hidden or ch
        self.head = nn.Sequential(nn.GroupNorm(u.config.norm_num_groups, ch), nn.SiLU(), nn.Conv2d(ch, hidden, 1),
                                  nn.SiLU(), nn.Conv2d(hidden, 1, 1))

    def forward(self, z_t: torch.Tensor, z_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embedding(self.time_proj(t).to(z_t.dtype))
        h = self.conv_in(torch.cat([z_t, z_lr], 1))
        for block in self.down_blocks:
            h, _ = block(hidden_states=h, temb=emb)
        h = self.mid_block(h, emb)
        return self.head(h)


# ----------------------------------------------------------------------------- feature network (DISTS)
class FeatureNet(nn.Module):
    """A VGG-style network (VGG-BN: conv–BN–ReLU ×2 per stage, L2 pooling between stages as in DISTS) whose
    stage outputs feed the DISTS-style distance (DISTS uses VGG16's five stages; VGG's ImageNet weights cannot
    be had offline, so this one is trained by ``train_features``). ``forward`` returns classification logits
    from the global averages of every stage (the early stages carry the blur / noise statistics);
    :meth:`stages` returns the feature maps [image, stage1, …] that DISTS compares."""

    def __init__(self, channels=(32, 64, 96, 128), n_classes: int = 16):
        super().__init__()
        blocks, c_in = [], 3
        for i, c in enumerate(channels):
            layers = [] if i == 0 else [L2Pool()]
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            blocks.append(nn.Sequential(*layers))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.channels = list(channels)
        self.head = nn.Linear(sum(channels), n_classes)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [x]
        h = (x - self.mean) / self.std
        for b in self.blocks:
            h = b(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([f.mean((2, 3)) for f in self.stages(x)[1:]], 1))

    @property
    def stage_channels(self) -> list[int]:
        return [3] + self.channels


class L2Pool(nn.Module):
    """DISTS' L2 pooling (a Hanning-window weighted L2 norm, stride 2) in place of max pooling."""

    def __init__(self):
        super().__init__()
        w = torch.hann_window(5, periodic=False)[1:-1]
        k = w[:, None] * w[None, :]
        self.register_buffer("kernel", (k / k.sum())[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        y = F.conv2d(x ** 2, self.kernel.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)
        return (y + 1e-12).sqrt()


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


# ----------------------------------------------------------------------------- exported graphs
class Bicubic(nn.Module):
    """The floor: bicubic upsampling by ``factor`` (exported like every model)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return upsample(lr, self.factor)


class LREncoder(nn.Module):
    """The multi-step model's first graph: LR → its conditioning latent."""

    def __init__(self, codec: LatentCodec, factor: int):
        super().__init__()
        self.codec, self.factor = codec, factor

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.codec.encode_lr(lr, self.factor)


class LatentDecoder(nn.Module):
    """The multi-step model's last graph: latent → SR image."""

    def __init__(self, codec: LatentCodec):
        super().__init__()
        self.codec = codec

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(z)


class UNetStep(nn.Module):
    """One denoising call of the multi-step model: (noisy latent, LR latent, timestep) → the UNet's output."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, z: torch.Tensor, z_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([z, z_lr], 1), t).sample
