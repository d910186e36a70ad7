"""The networks of our edge OCR:

* :class:`DBNet` — a DB text detector (Liao et al. 2020): a light depthwise-separable backbone (strides
  4/8/16/32), DB's FPN neck (top-down sum, 3×3 smoothing, all levels upsampled to 1/4 and concatenated) and
  its two heads (probability and threshold maps, each conv → two stride-2 transposed convs → sigmoid at
  full resolution);
* :class:`CRNN` — the edge recogniser (Shi et al., TPAMI 2017): a VGG-style conv stack that collapses the
  height of a 32-px crop, two BiLSTM layers and a per-column classifier trained with CTC;
  The "big model" (teacher) is a CRNN about 4× the student (wider convs, BiLSTM 2 × 128): the same output
  frames, so the student can be distilled from it frame by frame;
* :class:`ConvTransformerCTC` — a wider conv stack and a Transformer encoder (``transformers``' BERT encoder
  from a ``BertConfig``) over its feature columns, classified with CTC (``arch: convtr``);
* :class:`ViTCTC` — a pure Vision Transformer (``ViTConfig``) recogniser; from random init at our data scale
  it did not leave the CTC plateau in the smoke budget, nor did ``convtr`` (both options for ``full``).

Every recogniser exposes a module named ``head`` whose output is the (B, T, C) frame logits (the tap the
distillation reads).

Trained networks are saved with :func:`save_ocr_model` (``common.modelfile``: the kind, the architecture's
name and plain numbers, the state dict) and rebuilt by :func:`load_ocr_model` from those values only.
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def dw_block(cin: int, cout: int, s: int) -> nn.Sequential:
    return nn.Sequential(conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1))


class DBNet(nn.Module):
    """Input (B, 3, H, W) in [0, 1], H and W multiples of 32. Output (prob, thresh), each (B, 1, H, W)."""

    def __init__(self, widths: tuple[int, ...] = (16, 24, 48, 96, 128), neck: int = 64, depth: tuple[int, ...] = (1, 2, 2, 1)):
        super().__init__()
        self.stem = conv_bn(3, widths[0], 3, 2)
        stages, cin = [], widths[0]
        for w, d in zip(widths[1:], depth):
            stages.append(nn.Sequential(dw_block(cin, w, 2), *[dw_block(w, w, 1) for _ in range(d - 1)]))
            cin = w
        self.stages = nn.ModuleList(stages)  # strides 4, 8, 16, 32
        self.lateral = nn.ModuleList(nn.Conv2d(w, neck, 1, bias=False) for w in widths[1:])
        self.smooth = nn.ModuleList(nn.Conv2d(neck, neck // 4, 3, 1, 1, bias=False) for _ in widths[1:])
        self.prob_head = self._head(neck)
        self.thresh_head = self._head(neck)

    @staticmethod
    def _head(c: int) -> nn.Sequential:
        return nn.Sequential(conv_bn(c, c // 4, 3), nn.ConvTranspose2d(c // 4, c // 4, 2, 2), nn.BatchNorm2d(c // 4),
                             nn.ReLU(inplace=True), nn.ConvTranspose2d(c // 4, 1, 2, 2), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, y = [], self.stem(x)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        lat = [l(f) for l, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 2, -1, -1):  # top-down pathway
            lat[i] = lat[i] + nn.functional.interpolate(lat[i + 1], size=lat[i].shape[-2:], mode="nearest")
        size = lat[0].shape[-2:]
        fused = torch.cat([nn.functional.interpolate(s(l), size=size, mode="nearest") if i else s(l)
                           for i, (s, l) in enumerate(zip(self.smooth, lat))], 1)
        return self.prob_head(fused), self.thresh_head(fused)


def column_features(widths: tuple[int, ...]) -> nn.Sequential:
    """CRNN's VGG-style conv stack: (B, 3, 32, W) → (B, C, 1, W/4), one feature column per CTC frame."""
    c1, c2, c3, c4 = widths
    return nn.Sequential(
        conv_bn(3, c1), nn.MaxPool2d(2, 2),                       # 16 × W/2
        conv_bn(c1, c2), nn.MaxPool2d(2, 2),                      # 8 × W/4
        conv_bn(c2, c3), conv_bn(c3, c3), nn.MaxPool2d((2, 1)),   # 4 × W/4
        conv_bn(c3, c4), conv_bn(c4, c4), nn.MaxPool2d((2, 1)),   # 2 × W/4
        nn.Conv2d(c4, c4, (2, 1), bias=False), nn.BatchNorm2d(c4), nn.ReLU(inplace=True))  # 1 × W/4


class CRNN(nn.Module):
    """Input (B, 3, 32, W) → logits (B, W/4, num_classes)."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 96), hidden: int = 64):
        super().__init__()
        self.features = column_features(widths)
        self.rnn = nn.LSTM(widths[-1], hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2).transpose(1, 2)  # (B, T, C)
        return self.head(self.rnn(f)[0])


class ConvTransformerCTC(nn.Module):
    """A wider conv stack, then a Transformer encoder (``transformers``' BERT encoder built
    from a ``BertConfig``, learned positions) over the feature columns instead of the BiLSTM.
    Input (B, 3, 32, W) → logits (B, W/4, num_classes)."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (32, 64, 128, 192), hidden: int = 192,
                 layers: int = 4, heads: int = 4, mlp: int = 768, max_frames: int = 128):
        super().__init__()
        from transformers import BertConfig, BertModel

        self.features = column_features(widths)
        self.proj = nn.Linear(widths[-1], hidden)
        cfg = BertConfig(vocab_size=1, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=mlp, max_position_embeddings=max_frames, type_vocab_size=1,
                         hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0)
        self.encoder = BertModel(cfg, add_pooling_layer=False)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.proj(self.features(x).squeeze(2).transpose(1, 2))  # (B, T, hidden)
        return self.head(self.encoder(inputs_embeds=f).last_hidden_state)


class ViTCTC(nn.Module):
    """Input (B, 3, 32, W) → logits (B, W/patch_w, num_classes); a ``transformers`` ViT encoder."""

    def __init__(self, num_classes: int, width: int = 160, height: int = 32, patch: tuple[int, int] = (16, 4),
                 hidden: int = 192, layers: int = 6, heads: int = 3, mlp: int = 768):
        super().__init__()
        from transformers import ViTConfig, ViTModel

        if height % patch[0] or width % patch[1]:
            raise ValueError(f"crop {height}×{width} is not a multiple of the patch {patch}")
        cfg = ViTConfig(image_size=(height, width), patch_size=tuple(patch), num_channels=3, hidden_size=hidden,
                        num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=mlp,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.grid = (height // patch[0], width // patch[1])
        self.encoder = ViTModel(cfg, add_pooling_layer=False)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tok = self.encoder(pixel_values=x).last_hidden_state[:, 1:]  # drop [CLS]
        b, _, c = tok.shape
        cols = tok.reshape(b, self.grid[0], self.grid[1], c).mean(1)  # pool each column of patches
        return self.head(cols)


RECOGNISERS = {"crnn": CRNN, "convtr": ConvTransformerCTC, "vit": ViTCTC}


def build_recogniser(arch: str, num_classes: int, **kwargs) -> nn.Module:
    if arch not in RECOGNISERS:
        raise ValueError(f"unknown recogniser {arch!r}; expected one of {sorted(RECOGNISERS)}")
    return RECOGNISERS[arch](num_classes, **kwargs)


# ----------------------------------------------------------------------------- model files
FORMAT = "edgerepro.ocr.v1"


def save_ocr_model(path, model: nn.Module, kind: str, arch: dict, **meta) -> None:
    """``kind`` ``det`` (a :class:`DBNet`, ``arch`` its arguments) or ``rec`` (``arch``: the recogniser's name,
    ``num_classes`` and its arguments), the state dict and ``meta``, as a ``common.modelfile`` file."""
    from common.modelfile import save_model_file

    save_model_file(path, FORMAT, kind, arch=arch, state_dict=model.state_dict(), meta=meta)


def _plain(v) -> bool:
    """A number, a flag, or a list of numbers (what architecture arguments are); nothing that can run code."""
    if isinstance(v, (list, tuple)):
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    return isinstance(v, (int, float, bool))


def _checked(path, kind: str, arch) -> tuple[type, dict]:
    """(class, keyword arguments) of a stored architecture: a known network, its own argument names, plain values."""
    import inspect

    from common.modelfile import ModelFileError

    arch = dict(arch) if isinstance(arch, dict) else {}
    cls = DBNet if kind == "det" else RECOGNISERS.get(arch.pop("arch", None))
    names = set(inspect.signature(cls.__init__).parameters) - {"self"} if cls else set()
    if cls is None or not arch or not set(arch) <= names or not all(_plain(v) for v in arch.values()):
        raise ModelFileError(f"{path}: refused: {kind!r} architecture {arch!r} is not a known OCR network with plain "
                             f"arguments (detector: DBNet; recognisers: {', '.join(sorted(RECOGNISERS))})")
    return cls, arch


def load_ocr_model(path) -> tuple[nn.Module, dict]:
    """(model in eval mode, the saved record without weights: format, kind, arch, meta)."""
    from common.modelfile import load_model_file

    ck = load_model_file(path, FORMAT, kind=("det", "rec"))
    cls, kwargs = _checked(path, ck["kind"], ck.get("arch"))
    model = cls(**kwargs)
    model.load_state_dict(ck["state_dict"])
    return model.eval(), {k: v for k, v in ck.items() if k != "state_dict"}
