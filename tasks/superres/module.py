"""Lightning side of the super-resolution task: the data module and one ``TaskModule`` per training stage
(the shared recipe of ``common.training.module``: parameter groups, lr schedule, warm-up, clipping).

* :class:`AutoencoderModule` — ``AutoencoderKL`` on HR and upsampled-LR crops: L1 + (1 − SSIM) + KL; at the end the latent
  scale (1 / std of the latents) is measured, Stable Diffusion's convention;
* :class:`DiffusionModule` — v-prediction DDPM loss of the LR-conditioned latent UNet (multi-step model);
* :class:`FeatureModule` — the feature network behind the DISTS-style loss: which source a crop comes from
  and whether it is clean HR or an upsampled degraded LR (features that see content *and* degradation);
* :class:`OneStepModule` — D^3SR: LoRA generator, loss MSE + λ·EA-DISTS + λ_adv·L_adv with the latent
  discriminator at a random (or, ablation, fixed) t; with ``kd: true`` the baseline one-step model distilled
  from the multi-step teacher's DDIM samples instead (latent MSE, no DISTS, no discriminator).

Saved models (``save_sr_model``) are ``edgerepro.superres.v1`` files (:mod:`common.modelfile`): state dict + config;
LoRA is merged before saving, so every downstream stage loads ordinary diffusers modules, rebuilt from checked
plain config values only.
"""
from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from common.modelfile import ModelFileError, ModelFormat, plain_config, plain_value
from common.training.module import TaskModule
from tasks.superres import models as M

FORMAT = "edgerepro.superres.v1"


# ----------------------------------------------------------------------------- data
def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All HR and LR images of a prepared split as uint8 arrays (N, H, W, 3), and each item's source."""
    from tasks.superres.data import read_rgb

    root = Path(data_dir)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: not found (run `dvc repro tasks/superres/dvc.yaml:prepare`)")
    manifest = json.loads(manifest_path.read_text())
    items = manifest["splits"][split]
    hr = [read_rgb(root / split / "hr" / f"{it['name']}.png") for it in items]
    lr = [read_rgb(root / split / "lr" / f"{it['name']}.png") for it in items]
    if len({a.shape for a in hr}) > 1:  # real folders: differently sized images stay a list
        return hr, lr, [it["source"] for it in items]
    return np.stack(hr), np.stack(lr), [it["source"] for it in items]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255


class PairDataset(Dataset):
    """Aligned HR/LR crops (train: random crop of ``crop`` HR pixels + random flips / transposition;
    val: whole images, or a centre crop when ``crop`` is set)."""

    def __init__(self, hr, lr, sources, scale: int, crop: int | None, train: bool, seed: int = 0):
        self.hr, self.lr, self.sources, self.scale, self.crop, self.train, self.seed = hr, lr, sources, scale, crop, train, seed
        self.epoch = 0
        if crop is not None and crop % scale:
            raise ValueError(f"crop {crop} must be a multiple of the scale {scale}")

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        hr, lr = self.hr[i], self.lr[i]
        s = self.scale
        if self.crop:
            c = self.crop // s
            lh, lw = lr.shape[:2]
            if self.train:
                rng = np.random.default_rng([self.seed, self.epoch, i])
                y, x = int(rng.integers(0, lh - c + 1)), int(rng.integers(0, lw - c + 1))
            else:
                rng, y, x = None, (lh - c) // 2, (lw - c) // 2
            lr = lr[y:y + c, x:x + c]
            hr = hr[y * s:(y + c) * s, x * s:(x + c) * s]
            if rng is not None:
                if rng.random() < 0.5:
                    hr, lr = hr[:, ::-1], lr[:, ::-1]
                if rng.random() < 0.5:
                    hr, lr = hr.transpose(1, 0, 2), lr.transpose(1, 0, 2)
        return {"hr": to_tensor(hr), "lr": to_tensor(lr), "index": i}


class SRDataModule(L.LightningDataModule):
    """Prepared HR/LR pairs (``data/superres/prepare/dataset``). ``val_crop``: centre crop of validation
    images (null = whole images; the evaluation stage always uses whole images)."""

    def __init__(self, data_dir: str = "data/superres/prepare/dataset", crop: int = 64, batch_size: int = 16,
                 val_crop: int | None = None, val_limit: int | None = None, workers: int = 0, scale: int = 4,
                 seed: int = 0):
        super().__init__()
        self.data_dir, self.crop, self.batch_size, self.val_crop = data_dir, crop, batch_size, val_crop
        self.val_limit, self.workers, self.scale, self.seed = val_limit, workers, scale, seed

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "train_set", None) is not None:
            return
        hr, lr, src = load_split(self.data_dir, "train")
        self.train_set = PairDataset(hr, lr, src, self.scale, self.crop, True, self.seed)
        hr, lr, src = load_split(self.data_dir, "val")
        n = self.val_limit or len(hr)
        self.val_set = PairDataset(hr[:n], lr[:n], src[:n], self.scale, self.val_crop, False)

    def train_dataloader(self):
        if self.trainer is not None:
            self.train_set.epoch = self.trainer.current_epoch
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.workers,
                          drop_last=len(self.train_set) > self.batch_size,
                          generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=self.workers)


# ----------------------------------------------------------------------------- saving / loading
# Model files go through common.modelfile (torch.load with weights_only: tensors and plain data only). The
# networks are rebuilt by our own builders with explicit keyword arguments from the stored config: only the keys
# below, each checked to be a plain int / bool (or a list of them), reach them. diffusers' AutoencoderKL and
# UNet2DModel get block types chosen by build_autoencoder / build_unet from a fixed set (a bool per level picks
# the attention block or not) — never ``from_config`` with the file's dict, which would honour a stored class name —
# so nothing in a file can name a class to build or code to run.
_INT, _INTS, _BOOLS = "int", "ints", "bools"  # kinds of common.modelfile.plain_value
AE_KEYS = {"block_out_channels": _INTS, "layers_per_block": _INT, "latent_channels": _INT, "norm_num_groups": _INT}
UNET_KEYS = {"block_out_channels": _INTS, "layers_per_block": _INT, "attention_levels": _BOOLS,
             "norm_num_groups": _INT, "attention_head_dim": _INT}
FEATURE_KEYS = {"channels": _INTS, "n_classes": _INT}
ONESTEP_KEYS = {"latent_channels": _INT, "generator_timestep": _INT}


FILES = ModelFormat(FORMAT)
save_sr_model = FILES.save  # (path, kind, state_dict, config, **extra)
_load = FILES.load


def load_codec(path: str | Path) -> M.LatentCodec:
    ck = _load(path, "autoencoder")
    ae = M.build_autoencoder(plain_config(ck.get("config"), AE_KEYS, path))
    ae.load_state_dict(ck["state_dict"])
    return M.freeze(M.LatentCodec(ae, float(plain_value(ck.get("scale"), "float", f"{path}: scale"))))


def _unet_from(ck: dict, path: str | Path) -> torch.nn.Module:
    cfg = ck.get("config")
    latent = plain_config(cfg, {"latent_channels": _INT}, path)
    if "latent_channels" not in latent:
        raise ModelFileError(f"{path}: config.latent_channels missing")
    unet = M.build_unet(latent["latent_channels"], plain_config(cfg.get("unet"), UNET_KEYS, path, "config.unet"))
    unet.load_state_dict(ck["state_dict"])
    return unet


def load_unet(path: str | Path) -> tuple[torch.nn.Module, dict]:
    ck = _load(path, "unet")
    return _unet_from(ck, path).eval(), ck


def load_features(path: str | Path) -> M.FeatureNet:
    ck = _load(path, "features")
    cfg = plain_config(ck.get("config"), FEATURE_KEYS, path)
    net = M.FeatureNet(cfg["channels"], cfg["n_classes"])
    net.load_state_dict(ck["state_dict"])
    return M.freeze(net)


def dataset_scale(data_dir: str | Path) -> int:
    """The upscaling factor the ``prepare`` stage wrote the dataset with (its ``manifest.json``)."""
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (run `dvc repro tasks/superres/dvc.yaml:prepare`)")
    scale = json.loads(path.read_text()).get("scale")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
        raise ValueError(f"{path}: `scale` must be an integer ≥ 2, got {scale!r}")
    return scale


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    import piq

    return piq.psnr(x.clamp(0, 1), y, data_range=1.0, reduction="none", convert_to_greyscale=True)


# ----------------------------------------------------------------------------- stage modules
class _SRModule(TaskModule):
    def batch_size_of(self, batch) -> int:
        return int(batch["hr"].shape[0])

    def _log_val(self, name: str, value: torch.Tensor, batch) -> None:
        self.log(f"val/{name}", value.mean(), batch_size=self.batch_size_of(batch), prog_bar=name == "psnr")


class AutoencoderModule(_SRModule):
    """Args: config (AutoencoderKL sizes), kl_weight, ssim_weight, lr_fraction (share of each batch that is a
    bicubic-upsampled LR crop instead of an HR crop; every crop is reconstructed to itself), and the recipe of
    ``TaskModule``."""

    def __init__(self, config: dict | None = None, kl_weight: float = 1e-6, ssim_weight: float = 0.2,
                 lr_fraction: float = 0.5, scale: int = 4, **recipe):
        super().__init__(**recipe)
        self.lr_fraction, self.factor = lr_fraction, scale
        self.config = {**M.AE_DEFAULT, **(config or {})}
        self.model = M.build_autoencoder(self.config)
        self.kl_weight, self.ssim_weight = kl_weight, ssim_weight
        self.latent_scale = 1.0

    def task_loss(self, batch):
        import piq

        x = batch["hr"]
        if self.lr_fraction and "lr" in batch:
            # the SR models encode bicubic-upsampled LR images too: the autoencoder learns both domains (trained on
            # clean HR only it lost 1.7 dB on them — AE(bicubic) 20.6 vs bicubic 22.4 dB, measured — which put every
            # latent SR model's starting point below the bicubic floor)
            pick = torch.rand(x.shape[0], device=x.device) < self.lr_fraction
            x = torch.where(pick[:, None, None, None], M.upsample(batch["lr"], self.factor), x)
        post = self.model.encode(x * 2 - 1).latent_dist
        # the posterior mean is decoded (the SR models only ever decode means); the KL term still regularises
        # the latent. Decoding samples trains slower at our budget (22.0 vs 22.5 dB after 200 steps, measured).
        rec = ((self.model.decode(post.mean).sample + 1) / 2)
        l1 = F.l1_loss(rec, x)
        ssim = piq.ssim(rec.clamp(0, 1), x, data_range=1.0)
        kl = post.kl().mean() / x[0].numel()
        loss = l1 + self.ssim_weight * (1 - ssim) + self.kl_weight * kl
        return loss * x.shape[0], {"l1": l1.detach(), "ssim": ssim.detach(), "kl": kl.detach()}

    def validation_step(self, batch, batch_idx):
        x = batch["hr"]
        rec = (self.model.decode(self.model.encode(x * 2 - 1).latent_dist.mean).sample + 1) / 2
        self._log_val("psnr", psnr(rec, x), batch)

    def on_fit_end(self) -> None:
        """Latent scale = 1 / std of the posterior means over the training data (≤ 512 crops)."""
        loader = self.trainer.datamodule.train_dataloader()
        zs, n = [], 0
        self.model.eval()
        with torch.no_grad():
            for batch in loader:
                zs.append(self.model.encode(batch["hr"].to(self.device) * 2 - 1).latent_dist.mean.flatten())
                n += batch["hr"].shape[0]
                if n >= 512:
                    break
        self.latent_scale = float(1.0 / torch.cat(zs).std())

    def save(self, path: str | Path, **extra) -> None:
        save_sr_model(path, "autoencoder", self.model.state_dict(), self.config, scale=self.latent_scale, **extra)


class _LatentModule(_SRModule):
    """Holds the frozen codec of ``autoencoder`` (a ``train_autoencoder`` output)."""

    def __init__(self, autoencoder: str, scale: int = 4, **recipe):
        super().__init__(**recipe)
        self.codec = load_codec(autoencoder)
        self.factor = scale

    def train(self, mode: bool = True):
        super().train(mode)
        self.codec.eval()
        return self


class DiffusionModule(_LatentModule):
    """The multi-step latent diffusion SR model: v-prediction loss ‖v − v̂([z_t, z_L], t)‖², v = √ᾱ·ε − √(1−ᾱ)·z₀
    (SD 2.1's target: at high t it asks for the clean latent, which the LR conditioning largely gives), z_t from
    q(z_t | E(x_H)), z_L = E(bicubic(x_L)). Validation: PSNR of ``val_steps``-step DDIM samples."""

    def __init__(self, autoencoder: str, unet: dict | None = None, val_steps: int = 10, scale: int = 4, **recipe):
        super().__init__(autoencoder, scale, **recipe)
        self.unet_config = {**M.UNET_DEFAULT, **(unet or {})}
        self.latent_channels = self.codec.ae.config.latent_channels
        self.model = M.build_unet(self.latent_channels, self.unet_config)
        self.register_buffer("alphas_cumprod", M.alphas_cumprod(), persistent=False)
        self.val_steps = val_steps

    def task_loss(self, batch):
        from tasks.superres.losses import forward_diffuse

        with torch.no_grad():
            z0 = self.codec.encode(batch["hr"])
            z_lr = self.codec.encode_lr(batch["lr"], self.factor)
        t = torch.randint(0, len(self.alphas_cumprod), (z0.shape[0],), device=z0.device)
        noise = torch.randn_like(z0)
        z_t = forward_diffuse(z0, t, self.alphas_cumprod, noise)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        v = a.sqrt() * noise - (1 - a).sqrt() * z0  # the v-prediction target (SD 2.1)
        mse = F.mse_loss(self.model(torch.cat([z_t, z_lr], 1), t).sample, v)
        return mse * z0.shape[0], {"v_mse": mse.detach()}

    def validation_step(self, batch, batch_idx):
        sr = M.MultiStepSR(self.codec, self.model, self.factor, self.val_steps, seed=batch_idx)(batch["lr"])
        self._log_val("psnr", psnr(sr, batch["hr"]), batch)

    def save(self, path: str | Path, **extra) -> None:
        save_sr_model(path, "unet", self.model.state_dict(),
                      {"latent_channels": self.latent_channels, "unet": self.unet_config}, **extra)


class FeatureModule(_SRModule):
    """Trains :class:`models.FeatureNet` on two labels per crop: its source (each training photo, or
    'texture') and whether it is the clean HR crop or the bicubic-upsampled degraded LR crop."""

    def __init__(self, channels: list[int] | None = None, sources: list[str] | None = None, scale: int = 4,
                 **recipe):
        from tasks.superres.data import TRAIN_PHOTOS

        super().__init__(**recipe)
        self.sources = list(sources or [*TRAIN_PHOTOS, "texture"])
        self.channels = list(channels or M.FEATURES_DEFAULT["channels"])
        self.model = M.FeatureNet(self.channels, len(self.sources) + 2)
        self.factor = scale

    def _labels(self, batch) -> torch.Tensor:
        ds = self.trainer.datamodule.train_set if self.training else self.trainer.datamodule.val_set
        idx = {s: i for i, s in enumerate(self.sources)}
        return torch.tensor([idx.get(ds.sources[int(i)], -100) for i in batch["index"]], device=batch["hr"].device)

    def _forward(self, batch):
        x = torch.cat([batch["hr"], M.upsample(batch["lr"], self.factor)])
        logits = self.model(x)
        n = batch["hr"].shape[0]
        degraded = torch.cat([torch.zeros(n), torch.ones(n)]).long().to(x.device)
        return logits[:, :-2], logits[:, -2:], self._labels(batch).repeat(2), degraded

    def task_loss(self, batch):
        src_logits, deg_logits, src, deg = self._forward(batch)
        ce_src = F.cross_entropy(src_logits, src, ignore_index=-100)
        ce_deg = F.cross_entropy(deg_logits, deg)
        acc = (deg_logits.argmax(1) == deg).float().mean()
        return (ce_src + ce_deg) * batch["hr"].shape[0], {"ce_source": ce_src.detach(), "ce_degraded": ce_deg.detach(),
                                                          "acc_degraded": acc}

    def validation_step(self, batch, batch_idx):
        _, deg_logits, _, deg = self._forward(batch)  # validation photos are unseen: only 'degraded' is scored
        self._log_val("acc_degraded", (deg_logits.argmax(1) == deg).float(), batch)

    def save(self, path: str | Path, **extra) -> None:
        save_sr_model(path, "features", self.model.state_dict(),
                      {"channels": self.channels, "n_classes": len(self.sources) + 2, "sources": self.sources}, **extra)


class OneStepModule(_LatentModule):
    """D^3SR's one-step generator (or, with ``kd``, the one-step KD baseline).

    Args:
        unet: the ``train_diffusion`` output (initialises the generator and the discriminator).
        features: the ``train_features`` output (the network of the DISTS-style loss).
        generator_timestep: t_g of the one-step parametrisation (:class:`models.OneStepSR`).
        lora_rank / disc_lora_rank: LoRA ranks of the generator's and the discriminator's UNet.
        dists_weight: λ on (EA-)DISTS; edge_weight: weight of the Sobel term inside EA-DISTS (0 = DISTS
            only, the ablation); adv_weight: λ_adv (0 = no discriminator).
        disc_timesteps: 'random' (D^3SR: t ~ U[t_min, t_max]) or 'fixed' (ablation: t = fixed_t).
        kd: train by distillation from the multi-step teacher instead: ‖ẑ − z_teacher‖² with z_teacher the
            teacher's ``kd_teacher_steps``-step DDIM sample for the same LR.
    """

    def __init__(self, autoencoder: str, unet: str, features: str | None = None, generator_timestep: int = 100,
                 lora_rank: int = 16, disc_lora_rank: int = 16, dists_weight: float = 0.2, edge_weight: float = 1.0,
                 adv_weight: float = 0.02, disc_timesteps: str = "random", fixed_t: int = 500, t_min: int = 0,
                 t_max: int = 999, kd: bool = False, kd_teacher_steps: int = 10, scale: int = 4, **recipe):
        from tasks.superres.losses import DISTS

        super().__init__(autoencoder, scale, **recipe)
        base, ck = load_unet(unet)
        self.unet_meta = ck["config"]
        self.model = M.OneStepSR(self.codec, M.add_lora(_clone(base), lora_rank), generator_timestep, scale)
        self.kd = kd
        self.kd_teacher_steps = kd_teacher_steps
        self.register_buffer("alphas_cumprod", M.alphas_cumprod(), persistent=False)
        self.settings = {"generator_timestep": generator_timestep, "lora_rank": lora_rank, "kd": kd,
                         "dists_weight": dists_weight, "edge_weight": edge_weight, "adv_weight": adv_weight,
                         "disc_timesteps": disc_timesteps, "fixed_t": fixed_t, "t_min": t_min, "t_max": t_max,
                         "disc_lora_rank": disc_lora_rank, "kd_teacher_steps": kd_teacher_steps}
        if kd:
            self.teacher_sr = M.MultiStepSR(self.codec, M.freeze(base), scale, kd_teacher_steps)
            self.dists, self.disc, self.adv_weight, self.dists_weight = None, None, 0.0, 0.0
        else:
            if dists_weight and not features:
                raise ValueError("dists_weight > 0 needs the feature network (features: path)")
            self.dists = DISTS(load_features(features), edge_weight) if dists_weight else None
            self.dists_weight, self.adv_weight = dists_weight, adv_weight
            self.disc = M.LatentDiscriminator(base, disc_lora_rank) if adv_weight else None
        self.disc_timesteps, self.fixed_t, self.t_min, self.t_max = disc_timesteps, fixed_t, t_min, t_max

    def task_loss(self, batch):
        from tasks.superres import losses as Ls

        hr, lr = batch["hr"], batch["lr"]
        n = hr.shape[0]
        with torch.no_grad():
            z_lr = self.codec.encode_lr(lr, self.factor)
        z_hat = self.model.latent(z_lr)
        items = {}
        if self.kd:
            with torch.no_grad():
                z_teacher = self.teacher_sr.latent(z_lr, generator=torch.Generator().manual_seed(int(self.global_step)))
            loss = F.mse_loss(z_hat, z_teacher)
            items["kd_mse"] = loss.detach()
            return loss * n, items
        x_hat = (self.codec.ae.decode(z_hat / self.codec.scale).sample + 1) / 2
        mse = F.mse_loss(x_hat, hr)
        loss = mse
        items["mse"] = mse.detach()
        if self.dists is not None:
            d = self.dists(x_hat, hr)
            loss = loss + self.dists_weight * d
            items["ea_dists" if self.dists.edge_weight else "dists"] = d.detach()
        if self.disc is not None:
            t = Ls.sample_timesteps(n, self.disc_timesteps, self.fixed_t, self.t_min, self.t_max, device=hr.device)
            with torch.no_grad():
                z_real = self.codec.encode(hr)
            d_params = [p for p in self.disc.parameters() if p.requires_grad]
            for p in d_params:  # generator step: gradients reach G through the fake latent only
                p.requires_grad_(False)
            g = Ls.g_loss(self.disc(Ls.forward_diffuse(z_hat, t, self.alphas_cumprod), z_lr, t))
            for p in d_params:
                p.requires_grad_(True)
            d = Ls.d_loss(self.disc(Ls.forward_diffuse(z_real, t, self.alphas_cumprod), z_lr, t),
                          self.disc(Ls.forward_diffuse(z_hat.detach(), t, self.alphas_cumprod), z_lr, t))
            # one backward, one optimizer step for both players (simultaneous gradient descent): G's loss
            # cannot move D (its parameters were frozen while it was computed) and D's sees a detached fake
            loss = loss + self.adv_weight * g + d
            items.update({"g_adv": g.detach(), "d_loss": d.detach()})
        return loss * n, items

    def validation_step(self, batch, batch_idx):
        sr = self.model(batch["lr"])
        self._log_val("psnr", psnr(sr, batch["hr"]), batch)

    def generator_unet(self) -> torch.nn.Module:
        """The generator's UNet with LoRA merged into ordinary diffusers weights (a copy)."""
        from peft.tuners.lora import LoraLayer

        unet = _clone(self.model.unet)
        M.merge_lora(unet)
        # replace every LoRA wrapper by its (merged) base layer
        for name, m in list(unet.named_modules()):
            if isinstance(m, LoraLayer):
                parent = unet.get_submodule(name.rsplit(".", 1)[0]) if "." in name else unet
                setattr(parent, name.rsplit(".", 1)[-1], m.get_base_layer())
        return unet

    def save(self, path: str | Path, **extra) -> None:
        unet = self.generator_unet()
        trainable = M.count_params(self.model, trainable_only=True)
        save_sr_model(path, "onestep", unet.state_dict(), {**self.unet_meta, **self.settings},
                      trainable_params=trainable, sr_scale=int(self.factor), **extra)


def _clone(module: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(module)


def onestep_scale(path: str | Path) -> int | None:
    """The upscaling factor a one-step generator was trained for (None: a file from before it was stored)."""
    trained = _load(path, "onestep").get("sr_scale")
    return None if trained is None else int(plain_value(trained, "int", f"{path}: sr_scale"))


def load_onestep(path: str | Path, codec: M.LatentCodec, scale: int = 4) -> M.OneStepSR:
    ck = _load(path, "onestep")
    trained = ck.get("sr_scale")
    if trained is not None and int(plain_value(trained, "int", f"{path}: sr_scale")) != int(scale):
        raise ModelFileError(f"{path}: the generator was trained for ×{trained}, not ×{scale}")
    unet = _unet_from(ck, path)
    timestep = plain_config(ck["config"], ONESTEP_KEYS, path)["generator_timestep"]
    return M.OneStepSR(codec, unet, timestep, scale).eval()
