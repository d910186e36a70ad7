"""LitePose (Wang et al., CVPR 2022, arXiv 2205.01271; repo mit-han-lab/litepose), written from the
paper and the repo's ``pose_mobilenet.py`` architecture.

* Stem: conv3×3 s2 (32) → depthwise 3×3 (32) → pointwise 1×1 to ``input_channel`` + BN (no activation).
* Backbone: one branch of MobileNetV2 inverted bottlenecks (expansion 6, ``kernel``×``kernel`` depthwise,
  ReLU6), 4 stages of 6/8/10/10 blocks with strides 2/2/2/1 → features at 1/4, 1/8, 1/16, 1/16.
* Fusion deconv head: three 4×4 stride-2 transposed convs 1/16 → 1/8 → 1/4 → 1/2. Each level is
  ``BN+ReLU(deconv(previous head feature) + deconv(backbone feature of the previous level))``; the final
  layers at 1/4 and 1/2 are likewise ``SepConv5×5(head feature) + SepConv5×5(backbone feature)``.
  With ``fusion=False`` the backbone ("raw") branches are dropped (the paper's fusion ablation).
* Outputs: 1/4 → K heatmaps + K associative-embedding tags; 1/2 → K heatmaps (HigherHRNet-style).

The published configurations (``mobile_configs/search-*.json`` of the repo) are in :data:`CONFIGS`.
Trained models are saved with :func:`save_pose_model` (``common.modelfile``: the architecture as four plain
values, the state dict and a ``meta`` dict) and rebuilt by :func:`load_pose_model` from those values only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LitePoseConfig:
    input_channel: int
    channels: tuple[int, int, int, int]
    deconv: tuple[int, int, int]
    img_size: int
    blocks: tuple[int, int, int, int] = (6, 8, 10, 10)
    strides: tuple[int, int, int, int] = (2, 2, 2, 1)
    expansion: int = 6
    kernel: int = 7


# The authors' search results, field for field: mit-han-lab/litepose, mobile_configs/search-{XS,S,M,L}.json
# (commit 768922ff): input_channel, backbone_setting[].channel, deconv_setting, img_size; every block [6, 7].
CONFIGS: dict[str, LitePoseConfig] = {
    "XS": LitePoseConfig(16, (16, 32, 48, 80), (16, 24, 24), 256),
    "S": LitePoseConfig(16, (16, 32, 48, 120), (32, 24, 32), 448),
    "M": LitePoseConfig(16, (24, 48, 72, 120), (64, 40, 32), 448),
    "L": LitePoseConfig(24, (24, 64, 96, 160), (64, 40, 32), 512),
}


def make_divisible(v: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding (to a multiple of ``divisor``, never more than 10 % down)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU6(inplace=True))


class InvertedBottleneck(nn.Module):
    """MobileNetV2 block: 1×1 expand → k×k depthwise (stride) → 1×1 project (+ residual when shapes match)."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int):
        super().__init__()
        hidden = make_divisible(round(cin * expansion))
        self.expand = conv_bn_relu6(cin, hidden, 1)
        self.depthwise = conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden)
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class SepConv(nn.Sequential):
    """Depthwise k×k + BN + ReLU → pointwise 1×1 (with bias: it produces the heatmaps/tags)."""

    def __init__(self, cin: int, cout: int, k: int = 5):
        super().__init__(nn.Conv2d(cin, cin, k, 1, k // 2, groups=cin, bias=False), nn.BatchNorm2d(cin),
                         nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1))


def deconv4x4(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)


class LitePose(nn.Module):
    """LitePose-{XS,S,M,L}. ``forward`` returns ``(out_quarter, out_half)``: (B, 2K, H/4, W/4) = K heatmaps
    then K tags, and (B, K, H/2, W/2) heatmaps.

    Args:
        config: "XS", "S", "M" or "L".
        num_joints: K (14 for CrowdPose, 17 for COCO).
        kernel: depthwise kernel size of every backbone block (paper: 7; the ablation: 3).
        fusion: fuse backbone features into the deconv head and the final layers (paper: yes).
    """

    def __init__(self, config: str = "XS", num_joints: int = 14, kernel: int | None = None, fusion: bool = True):
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"unknown LitePose config {config!r}; expected one of {sorted(CONFIGS)}")
        cfg = CONFIGS[config]
        kernel = kernel or cfg.kernel
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.config, self.num_joints, self.kernel, self.fusion = config, num_joints, kernel, fusion
        cin = make_divisible(cfg.input_channel)
        self.stem = nn.Sequential(conv_bn_relu6(3, 32, 3, 2), conv_bn_relu6(32, 32, 3, 1, groups=32),
                                  nn.Conv2d(32, cin, 1, bias=False), nn.BatchNorm2d(cin))
        channels = [cin]
        stages = []
        for n, c, s in zip(cfg.blocks, cfg.channels, cfg.strides):
            c = make_divisible(c)
            blocks = []
            for i in range(n):
                blocks.append(InvertedBottleneck(cin, c, s if i == 0 else 1, kernel, cfg.expansion))
                cin = c
            stages.append(nn.Sequential(*blocks))
            channels.append(c)
        self.stages = nn.ModuleList(stages)
        self.channels = channels  # stem (1/2), stage1 (1/4), stage2 (1/8), stage3 (1/16), stage4 (1/16)
        # deconv level i takes the head feature and (fusion) the backbone feature channels[-2 - i]
        self.deconv_refined, self.deconv_raw, self.deconv_bnrelu = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = channels[-1]
        for i, planes in enumerate(cfg.deconv):
            self.deconv_refined.append(deconv4x4(prev, planes))
            self.deconv_raw.append(deconv4x4(channels[-2 - i], planes) if fusion else nn.Identity())
            self.deconv_bnrelu.append(nn.Sequential(nn.BatchNorm2d(planes), nn.ReLU(inplace=True)))
            prev = planes
        # final layers after deconv levels 1 (1/4: heatmaps + tags) and 2 (1/2: heatmaps)
        outs = [2 * num_joints, num_joints]
        self.final_refined = nn.ModuleList(SepConv(cfg.deconv[i + 1], outs[i]) for i in range(2))
        self.final_raw = nn.ModuleList((SepConv(channels[-4 - i], outs[i]) if fusion else nn.Identity())
                                       for i in range(2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        refined, raw = feats[-1], feats[-2]
        outputs = []
        for i in range(3):
            y = self.deconv_refined[i](refined)
            if self.fusion:
                y = y + self.deconv_raw[i](raw)
            refined = self.deconv_bnrelu[i](y)
            raw = feats[-3 - i]
            if i > 0:
                out = self.final_refined[i - 1](refined)
                if self.fusion:
                    out = out + self.final_raw[i - 1](raw)
                outputs.append(out)
        return outputs[0], outputs[1]


def count_gmacs(model: nn.Module, imgsz: int) -> float:
    """Multiply-accumulates (G) of one ``imgsz``×``imgsz`` image, by ``torch.utils.flop_counter`` (FLOPs / 2;
    it counts convolutions, transposed convolutions and matmuls; BN/ReLU/additions are not MACs)."""
    from common.evaluate.profile import count_gflops

    return count_gflops(model, torch.zeros(1, 3, imgsz, imgsz)) / 2


# ----------------------------------------------------------------------------- model files
FORMAT = "edgerepro.litepose.v1"
KIND = "litepose"


def save_pose_model(path, model: LitePose, **meta) -> None:
    """``model``'s architecture (configuration name, joints, kernel, fusion), state dict and ``meta`` (variant,
    input size, decoding tag threshold …) as a ``common.modelfile`` file."""
    from common.modelfile import save_model_file

    arch = {"config": model.config, "num_joints": int(model.num_joints), "kernel": int(model.kernel),
            "fusion": bool(model.fusion)}
    save_model_file(path, FORMAT, KIND, arch=arch, state_dict=model.state_dict(), meta=meta)


def _arch(path, arch) -> dict:
    """The stored architecture, checked: a known configuration name and plain numbers / a flag, nothing else."""
    from common.modelfile import ModelFileError

    def count(v, below: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 < v < below

    ok = (isinstance(arch, dict) and set(arch) == {"config", "num_joints", "kernel", "fusion"}
          and arch["config"] in CONFIGS and count(arch["num_joints"], 1000)
          and (arch["kernel"] is None or count(arch["kernel"], 32)) and isinstance(arch["fusion"], bool))
    if not ok:
        raise ModelFileError(f"{path}: refused: its architecture {arch!r} is not a LitePose configuration "
                             f"({'/'.join(CONFIGS)}, 1–999 joints, a kernel below 32, fusion true/false)")
    return dict(arch)


def load_pose_model(path) -> LitePose:
    """A LitePose saved by :func:`save_pose_model`, rebuilt from its stored architecture values."""
    from common.modelfile import load_model_file

    ck = load_model_file(path, FORMAT)  # no kind check: files written before common.modelfile carry none
    model = LitePose(**_arch(path, ck.get("arch")))
    model.load_state_dict(ck["state_dict"])
    return model


def load_pose_meta(path) -> dict:
    """The ``meta`` a LitePose file was saved with (variant, input size, decoding tag threshold, …)."""
    from common.modelfile import read_meta

    return read_meta(path, FORMAT)
