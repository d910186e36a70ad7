"""Lightning side of the edge task: the data module and one ``TaskModule`` per training stage (the shared
recipe of ``common.training.module``: parameter groups, lr schedule, warm-up, clipping).

* :class:`AutoencoderModule` — the 1-channel KL edge autoencoder: L1 + L2 + KL (× 1e-6) on soft edge maps;
* :class:`DiffusionEdgeModule` — latent decoupled diffusion with the two-head UNet, the adaptive Fourier
  filter (``aff``) and the uncertainty distillation (``ud``);
* :class:`RCFModule` — the CNN baseline with RCF's weighted BCE on every side output and the fusion.

Saved models are ``edgerepro.edges.v1`` files (:mod:`common.modelfile`): kind, config and state dict; loaders rebuild
the networks from checked plain config values only.
"""
from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from common.modelfile import ModelFormat, plain_config, plain_value
from common.training.module import TaskModule
from tasks.edges import models as M

FORMAT = "edgerepro.edges.v1"


# ----------------------------------------------------------------------------- data
def load_split(data_dir: str | Path, split: str) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """Names, images (N, H, W, 3) uint8 (a list when sizes differ) and per image the annotators' boundaries
    (A, H, W) of a prepared split (BSDS500 layout)."""
    from tasks.edges.data import load_bsds, read_image

    root = Path(data_dir)
    if not (root / "manifest.json").is_file():
        raise FileNotFoundError(f"{root / 'manifest.json'}: not found (run `dvc repro tasks/edges/dvc.yaml:prepare`)")
    items = load_bsds(root, split)
    images = [read_image(it.image) for it in items]
    if len({im.shape for im in images}) == 1:
        images = np.stack(images)
    return [it.name for it in items], images, [it.boundaries for it in items]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255


class EdgeDataset(Dataset):
    """(image, soft label) pairs. Train: the reference's augmentation — a random square crop of 25–100 % of
    the shorter side's area resized to ``crop`` (image bilinear, label nearest) and a horizontal flip.
    Validation: whole images (``crop`` ignored)."""

    def __init__(self, images, boundaries, crop: int | None, train: bool, seed: int = 0,
                 scale: tuple[float, float] = (0.25, 1.0)):
        from tasks.edges.data import soft_label

        self.images, self.labels = images, [soft_label(b) for b in boundaries]
        self.crop, self.train, self.seed, self.scale = crop, train, seed, scale
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        import cv2

        img, lab = self.images[i], self.labels[i]
        if self.train and self.crop:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            h, w = lab.shape
            side = int(round(min(h, w) * np.sqrt(rng.uniform(*self.scale))))
            side = max(8, min(side, h, w))
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            img = cv2.resize(img[y:y + side, x:x + side], (self.crop, self.crop), interpolation=cv2.INTER_LINEAR)
            lab = cv2.resize(lab[y:y + side, x:x + side], (self.crop, self.crop), interpolation=cv2.INTER_NEAREST)
            if rng.random() < 0.5:
                img, lab = img[:, ::-1], lab[:, ::-1]
        return {"image": to_tensor(img), "label": torch.from_numpy(np.ascontiguousarray(lab))[None].float(), "index": i}


class EdgeDataModule(L.LightningDataModule):
    """Prepared edge data (``data/edges/prepare/dataset``). ``val_limit``: validation images used while
    training (the evaluation stage always scores all)."""

    def __init__(self, data_dir: str = "data/edges/prepare/dataset", crop: int = 64, batch_size: int = 16,
                 val_limit: int | None = None, workers: int = 0, seed: int = 0):
        super().__init__()
        self.data_dir, self.crop, self.batch_size, self.val_limit = data_dir, crop, batch_size, val_limit
        self.workers, self.seed = workers, seed

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "train_set", None) is not None:
            return
        _, images, bounds = load_split(self.data_dir, "train")
        self.train_set = EdgeDataset(images, bounds, self.crop, True, self.seed)
        _, images, bounds = load_split(self.data_dir, "val")
        n = self.val_limit or len(images)
        self.val_set = EdgeDataset(images[:n], bounds[:n], None, False)

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
# networks are rebuilt from the stored config by our own constructors with explicit keyword arguments: only the
# keys below, each checked to be a plain int / float / bool (or a list of ints), reach them. The diffusers blocks
# inside (AutoencoderKL, ResnetBlock2D …) get fixed block types chosen here, never ``from_config`` with the
# file's dict, so nothing in a file can name a class to build or code to run.
_INT, _INTS, _FLOAT, _BOOL = "int", "ints", "float", "bool"  # kinds of common.modelfile.plain_value
AE_KEYS = {"block_out_channels": _INTS, "layers_per_block": _INT, "latent_channels": _INT, "norm_num_groups": _INT}
UNET_KEYS = {"latent_channels": _INT, "latent_size": _INTS, "dims": _INTS, "cond_channels": _INTS, "temb": _INT,
             "groups": _INT, "aff": _BOOL}
RCF_KEYS = {"channels": _INTS}


FILES = ModelFormat(FORMAT)
save_edge_model = FILES.save  # (path, kind, state_dict, config, **extra)
_load = FILES.load


def load_codec(path: str | Path) -> M.EdgeCodec:
    ck = _load(path, "autoencoder")
    ae = M.build_autoencoder(plain_config(ck.get("config"), AE_KEYS, path))
    ae.load_state_dict(ck["state_dict"])
    return M.freeze(M.EdgeCodec(ae, float(plain_value(ck.get("scale", M.LATENT_SCALE), _FLOAT, f"{path}: scale"))))


def load_unet(path: str | Path) -> M.DecoupledUNet:
    ck = _load(path, "unet")
    unet = M.DecoupledUNet(**plain_config(ck.get("config"), UNET_KEYS, path))
    unet.load_state_dict(ck["state_dict"])
    return unet.eval()


def load_rcf(path: str | Path) -> M.RCFNet:
    ck = _load(path, "rcf")
    net = M.RCFNet(**plain_config(ck.get("config"), RCF_KEYS, path))
    net.load_state_dict(ck["state_dict"])
    return net.eval()


# ----------------------------------------------------------------------------- stage modules
class _EdgeModule(TaskModule):
    def batch_size_of(self, batch) -> int:
        return int(batch["image"].shape[0])

    def _log_val(self, name: str, value: torch.Tensor, batch) -> None:
        self.log(f"val/{name}", value.mean(), batch_size=self.batch_size_of(batch), prog_bar=True)


def _val_bce(prob: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Per-image mean weighted BCE (validation score of every stage)."""
    from tasks.edges.losses import weighted_bce

    return weighted_bce(prob, label, reduction="none").mean(dim=(1, 2, 3))


class AutoencoderModule(_EdgeModule):
    """Args: config (AutoencoderKL sizes), kl_weight (1e-6, the reference's), latent_scale (0.3), and the
    recipe of ``TaskModule``. The reference adds LPIPS and a patch GAN; neither has offline weights here, and
    the edge maps it reconstructs are near-binary."""

    def __init__(self, config: dict | None = None, kl_weight: float = 1e-6, latent_scale: float = M.LATENT_SCALE,
                 **recipe):
        super().__init__(**recipe)
        self.config = {**M.AE_DEFAULT, **(config or {})}
        self.model = M.build_autoencoder(self.config)
        self.kl_weight, self.latent_scale = kl_weight, latent_scale

    def task_loss(self, batch):
        x = batch["label"] * 2 - 1
        post = self.model.encode(x).latent_dist
        rec = self.model.decode(post.sample()).sample
        l1, l2 = F.l1_loss(rec, x), F.mse_loss(rec, x)
        kl = post.kl().mean() / x[0].numel()
        loss = l1 + l2 + self.kl_weight * kl
        return loss * x.shape[0], {"l1": l1.detach(), "l2": l2.detach(), "kl": kl.detach()}

    def validation_step(self, batch, batch_idx):
        codec = M.EdgeCodec(self.model, self.latent_scale)
        rec = codec.decode(codec.encode(batch["label"], sample=False))
        self._log_val("mae", (rec - batch["label"]).abs().mean(dim=(1, 2, 3)), batch)

    def save(self, path: str | Path, **extra) -> None:
        save_edge_model(path, "autoencoder", self.model.state_dict(), self.config, scale=self.latent_scale, **extra)


class DiffusionEdgeModule(_EdgeModule):
    """DiffusionEdge: latent decoupled diffusion conditioned on the image.

    Loss per sample: ``w1(t)‖Ĉ − C‖² + w2(t)‖ε̂ − ε‖² + (1 − t)²|x̂_0 − x_0|`` (:mod:`tasks.edges.losses`),
    x_0 = 0.3 · a sample of the frozen encoder's posterior, t ~ U[1e-4, 1). Uncertainty distillation
    (``ud``): x̂_0 is decoded **without gradient**, the weighted BCE against the annotator fractions is taken
    per pixel, and injected as the gradient of x̂_0 with weight (1 − t)²: ``ud_mode: pixel`` (the paper:
    the per-pixel loss map, average-pooled to the latent grid, is each latent element's gradient) or
    ``scalar`` (the public code: every element gets the mean). The decoder is never backpropagated through.

    Args:
        autoencoder: a ``train_autoencoder`` model file.
        unet: DecoupledUNet sizes (dims, cond_channels, temb, groups).
        aff: adaptive Fourier filter in the decoupling blocks (false = ablation).
        ud: uncertainty distillation (false = ablation).
        ud_mode: "pixel" or "scalar" (see above).
        ud_weight: factor on the injected gradient (the reference: 1).
        threshold: annotator fraction above which a pixel is an edge (0 < y ≤ threshold is ignored).
        neg_weight: RCF's λ on negatives (1.1).
        crop: training crop (the latent size the AFF weight is built for is crop / 4).
        val_steps: sampling steps at validation.
    """

    def __init__(self, autoencoder: str, unet: dict | None = None, aff: bool = True, ud: bool = True,
                 ud_mode: str = "pixel", ud_weight: float = 1.0, threshold: float = 0.3, neg_weight: float = 1.1,
                 crop: int = 64, val_steps: int = 1, **recipe):
        super().__init__(**recipe)
        if ud_mode not in ("pixel", "scalar"):
            raise ValueError(f"ud_mode must be 'pixel' or 'scalar', got {ud_mode!r}")
        self.codec = load_codec(autoencoder)
        f = self.codec.factor
        cfg = {**{k: v for k, v in M.UNET_DEFAULT.items() if k != "aff"}, **(unet or {})}
        self.model = M.DecoupledUNet(self.codec.ae.config.latent_channels, (crop // f, crop // f), aff=aff,
                                     **{k: cfg[k] for k in ("dims", "cond_channels", "temb", "groups")})
        self.ud, self.ud_mode, self.ud_weight = ud, ud_mode, ud_weight
        self.threshold, self.neg_weight, self.val_steps = threshold, neg_weight, val_steps
        self.settings = {"aff": aff, "ud": ud, "ud_mode": ud_mode, "ud_weight": ud_weight, "threshold": threshold,
                         "neg_weight": neg_weight, "crop": crop}

    def train(self, mode: bool = True):
        super().train(mode)
        self.codec.eval()
        return self

    def _ud_gradient(self, x0_hat: torch.Tensor, label: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The gradient injected on x̂_0 (same shape), computed without gradient."""
        from tasks.edges.losses import weighted_bce

        with torch.no_grad():
            prob = self.codec.decode(x0_hat.detach())
            bce = weighted_bce(prob, label, self.threshold, self.neg_weight, reduction="none")  # (B, 1, H, W)
            w = (1 - t).view(-1, 1, 1, 1) ** 2
            if self.ud_mode == "pixel":
                g = F.adaptive_avg_pool2d(bce, x0_hat.shape[-2:]) * w
                g = g.expand_as(x0_hat)
            else:  # the reference code: one scalar for every element
                g = torch.full_like(x0_hat, float((bce.mean(dim=(1, 2, 3)) * w.flatten()).mean()))
        return g / x0_hat.numel(), bce.mean(dim=(1, 2, 3))

    def task_loss(self, batch):
        from tasks.edges.losses import decoupled_forward, decoupled_loss

        img, label = batch["image"], batch["label"]
        with torch.no_grad():
            x0 = self.codec.encode(label, sample=True)
        t = torch.rand(x0.shape[0], device=x0.device) * (1 - 1e-4) + 1e-4
        eps = torch.randn_like(x0)
        xt, c = decoupled_forward(x0, t, eps)
        c_hat, eps_hat = self.model(xt, t, img)
        loss, parts, x0_hat = decoupled_loss(c_hat, eps_hat, c, eps, x0, xt, t)
        if self.ud:
            g, bce = self._ud_gradient(x0_hat, label, t)
            loss = loss + self.ud_weight * (g * x0_hat).sum()  # d/dx̂_0 of this term = g: the injected gradient
            parts["ud_bce"] = bce.mean()
        return loss * x0.shape[0], parts

    def validation_step(self, batch, batch_idx):
        prob = M.EdgeSampler(self.model, self.codec, self.val_steps, seed=batch_idx)(batch["image"])
        self._log_val("bce", _val_bce(prob, batch["label"]), batch)

    def save(self, path: str | Path, **extra) -> None:
        save_edge_model(path, "unet", self.model.state_dict(), self.model.config, settings=self.settings, **extra)


class RCFModule(_EdgeModule):
    """The CNN baseline: RCF's weighted BCE (summed over pixels) on every side output and the fusion."""

    def __init__(self, channels: list[int] | None = None, threshold: float = 0.3, neg_weight: float = 1.1, **recipe):
        super().__init__(**recipe)
        self.model = M.RCFNet(channels)
        self.threshold, self.neg_weight = threshold, neg_weight

    def task_loss(self, batch):
        from tasks.edges.losses import weighted_bce

        outs = self.model(batch["image"])
        parts = [weighted_bce(p, batch["label"], self.threshold, self.neg_weight) for p in outs]
        loss = sum(parts)
        return loss * batch["image"].shape[0], {"fuse_bce": parts[-1].detach()}

    def validation_step(self, batch, batch_idx):
        self._log_val("bce", _val_bce(self.model.predict(batch["image"]), batch["label"]), batch)

    def save(self, path: str | Path, **extra) -> None:
        save_edge_model(path, "rcf", self.model.state_dict(), self.model.config, **extra)


def read_metrics(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
