"""The one adapter to ultralytics: every ``ultralytics`` import of the detection task goes through here.

Pinned to ultralytics 8.4.x (see pyproject). Ultralytics is used for what it owns — the YOLOv8
architecture (``DetectionModel`` from ``yolov8{n,s,m}.yaml``, no downloaded weights), its loss
(``v8DetectionLoss``), its dataset/augmentation pipeline (``YOLODataset``), NMS, and (for the
benchmark only) its own trainer. Training itself runs through our Lightning module.

Importing this module configures ultralytics for an offline, DVC-managed repository first.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

from common.io import ROOT

YOLO_CONFIG_DIR = Path(os.environ.get("YOLO_CONFIG_DIR", ROOT / ".yolo"))


def _configure_offline() -> None:
    os.environ["YOLO_CONFIG_DIR"] = str(YOLO_CONFIG_DIR)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    font_dir = YOLO_CONFIG_DIR / "Ultralytics"
    font = font_dir / "Arial.ttf"
    if not font.exists():  # ultralytics' plotting would otherwise try to download Arial.ttf
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        font_dir.mkdir(parents=True, exist_ok=True)
        tmp = font.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, font)


_configure_offline()

import torch  # noqa: E402
from ultralytics.cfg import get_cfg  # noqa: E402
from ultralytics.data.build import build_yolo_dataset, seed_worker  # noqa: E402
from ultralytics.nn.modules.block import C2f  # noqa: E402
from ultralytics.nn.modules.conv import Conv  # noqa: E402
from ultralytics.nn.tasks import DetectionModel  # noqa: E402
from ultralytics.utils import DEFAULT_CFG, SETTINGS  # noqa: E402
from ultralytics.utils.loss import v8DetectionLoss  # noqa: E402
from ultralytics.utils.nms import non_max_suppression  # noqa: E402

if SETTINGS.get("dvc") or SETTINGS.get("sync"):
    # otherwise ultralytics' trainer starts dvclive by itself and writes dvc.yaml into the working dir
    SETTINGS.update({"dvc": False, "sync": False})

__all__ = ["DetectionModel", "build_model", "split_c2f", "prune_ignored_layers", "save_model", "load_model", "train_cfg", "build_dataset", "detection_loss", "nms",
           "seed_worker", "freeze_dfl", "InferenceWrapper", "ultralytics_train"]


def train_cfg(**overrides) -> SimpleNamespace:
    """ultralytics' default hyper-parameters (augmentation, loss gains) with ``overrides``."""
    overrides = {"plots": False, "verbose": False, **overrides}
    return get_cfg(DEFAULT_CFG, overrides)


def build_model(cfg: str = "yolov8n.yaml", nc: int = 10, hyp: SimpleNamespace | None = None) -> DetectionModel:
    """YOLOv8 from its architecture YAML (random init; nothing is downloaded)."""
    model = DetectionModel(cfg, nc=nc, verbose=False)
    model.args = hyp or train_cfg()  # v8DetectionLoss reads box/cls/dfl gains from model.args
    return model


def freeze_dfl(model: DetectionModel) -> None:
    """ultralytics always freezes the DFL projection (a fixed arange conv)."""
    for name, p in model.named_parameters():
        if ".dfl" in name:
            p.requires_grad_(False)


def detection_loss(model: DetectionModel) -> v8DetectionLoss:
    """Build after the model is on its device (the loss captures the device) and after any pruning."""
    return v8DetectionLoss(model)


def build_dataset(images_dir: str | Path, names: dict[int, str], imgsz: int, batch: int, train: bool,
                  hyp: SimpleNamespace):
    data = {"names": names, "nc": len(names), "channels": 3}
    return build_yolo_dataset(hyp, str(images_dir), batch, data, mode="train" if train else "val", rect=False,
                              stride=32)


def nms(preds: torch.Tensor, conf: float = 0.001, iou: float = 0.7, max_det: int = 300) -> list[torch.Tensor]:
    """ultralytics' NMS with its validator's settings; each result is (n, 6): x1 y1 x2 y2 conf cls."""
    return non_max_suppression(preds, conf_thres=conf, iou_thres=iou, multi_label=True, max_det=max_det)


class InferenceWrapper(torch.nn.Module):
    """Returns only the decoded predictions (B, 4 + nc, anchors) of a YOLO model in eval mode."""

    def __init__(self, model: DetectionModel):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def ultralytics_train(data_dir: str | Path, workdir: str | Path, model_cfg: str, callbacks: dict | None = None,
                      **train_args):
    """ultralytics' own trainer on one of our datasets — the reference in benchmarks, never in a pipeline.

    The dataset is read through a symlink view (see ``data.make_view``) so ultralytics' label cache is not
    written into it. Returns the ``YOLO`` object (its ``trainer`` holds the run)."""
    import json

    from ultralytics import YOLO

    from tasks.detection.data import make_view, read_names

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    view = make_view(Path(data_dir), ("train", "val"))
    (workdir / "data.yaml").write_text(json.dumps({"path": str(view), "train": "images/train", "val": "images/val",
                                                   "names": read_names(Path(data_dir))}))
    yolo = YOLO(model_cfg, task="detect")
    for event, fn in (callbacks or {}).items():
        yolo.add_callback(event, fn)
    try:
        yolo.train(data=str(workdir / "data.yaml"), device="cpu", amp=False, plots=False, verbose=False,
                   project=str(workdir), name="ultralytics", exist_ok=True, **train_args)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    return yolo


class C2fSplit(torch.nn.Module):
    """C2f with its ``cv1`` split into two convs (``cv1a`` → first half, ``cv1b`` → second half of the
    channels), computing exactly what C2f computes.

    Why: C2f's ``cv1(x).chunk(2, 1)`` (or ``split``) couples the two halves of one conv's output in a way
    Torch-Pruning 1.6's dependency graph cannot follow (pruning fails or breaks the split); with two convs
    each half is an ordinary conv whose channels can be pruned independently.
    """

    def __init__(self, c2f: C2f):
        super().__init__()
        c = c2f.c
        conv, bn = c2f.cv1.conv, c2f.cv1.bn
        self.cv1a = Conv(conv.in_channels, c, conv.kernel_size, conv.stride, act=c2f.cv1.act)
        self.cv1b = Conv(conv.in_channels, c, conv.kernel_size, conv.stride, act=c2f.cv1.act)
        for half, sl in ((self.cv1a, slice(0, c)), (self.cv1b, slice(c, 2 * c))):
            half.conv.weight.data.copy_(conv.weight.data[sl])
            half.bn.weight.data.copy_(bn.weight.data[sl])
            half.bn.bias.data.copy_(bn.bias.data[sl])
            half.bn.running_mean.data.copy_(bn.running_mean[sl])
            half.bn.running_var.data.copy_(bn.running_var[sl])
            half.bn.eps, half.bn.momentum = bn.eps, bn.momentum
        self.m = c2f.m
        self.cv2 = c2f.cv2
        for attr in ("f", "i", "type", "np"):  # ultralytics' routing attributes
            if hasattr(c2f, attr):
                setattr(self, attr, getattr(c2f, attr))
        self.train(c2f.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1a(x), self.cv1b(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def split_c2f(model: DetectionModel) -> DetectionModel:
    """Replace every C2f of ``model`` by an equivalent :class:`C2fSplit` (in place; module names kept)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is C2f:
                setattr(parent, name, C2fSplit(child))
    return model


def prune_ignored_layers(model: DetectionModel) -> list[torch.nn.Module]:
    """Layers whose output channels are the detector's interface: the DFL projection and the last conv
    of every box (cv2) and class (cv3) branch of the Detect head."""
    head = model.model[-1]
    ignored = [head.dfl] if hasattr(head, "dfl") else []
    for branches in (head.cv2, head.cv3):
        for seq in branches:
            ignored.append(seq[-1])
    return ignored


def save_model(path: str | Path, model: DetectionModel, **meta) -> None:
    """Architecture dict + block rewrites + shape plan + state dict (no pickled classes), loadable with
    ``weights_only=True``. A pruned model round-trips: its widths are in the shape plan."""
    import io

    from common.compress.shapes import shape_plan
    from common.io import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"format": "edgerepro.yolov8.v2", "model_yaml": model.yaml,
                "c2f_split": any(isinstance(m, C2fSplit) for m in model.modules()),
                "shape_plan": shape_plan(model),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_model(path: str | Path) -> DetectionModel:
    from common.compress.shapes import apply_shape_plan

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found (run the stage that writes it)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt not in ("edgerepro.yolov8.v1", "edgerepro.yolov8.v2"):
        raise ValueError(f"{path}: not an edgerepro YOLOv8 model file (expected format edgerepro.yolov8.v2, "
                         f"got {fmt!r})")
    model = DetectionModel(dict(ckpt["model_yaml"]), nc=ckpt["model_yaml"].get("nc"), verbose=False)
    if ckpt.get("c2f_split"):
        split_c2f(model)
    if ckpt.get("shape_plan"):
        apply_shape_plan(model, ckpt["shape_plan"], ckpt["state_dict"])
    else:
        model.load_state_dict(ckpt["state_dict"])
    model.args = train_cfg()
    return model


def model_meta(path: str | Path) -> dict:
    """The ``meta`` dict saved with a model file."""
    return torch.load(Path(path), map_location="cpu", weights_only=True).get("meta", {})
