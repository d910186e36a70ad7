"""The one adapter to ultralytics: every ``ultralytics`` import of the project goes through here
(detection builds, trains, prunes and exports YOLOv8 with it; pose trains and evaluates its YOLOv8-pose peer).

Pinned to ultralytics 8.4.x (see pyproject). Ultralytics is used for what it owns — the YOLOv8
architectures (``DetectionModel`` / ``PoseModel`` from the YAML files it ships, no downloaded weights), its
loss (``v8DetectionLoss``), its dataset/augmentation pipeline (``YOLODataset``), NMS, and its own trainer
(the pose peer, and the detection benchmarks). Our training runs through Lightning.

Model files hold the *name* of a YAML shipped inside the ultralytics package plus plain numbers (classes,
keypoint shape, the pruned widths), never a model YAML: ultralytics' parser ``eval``s strings of a model YAML
(``activation``, module names), so a YAML read from a file someone sent would run their code.
:func:`build_known` builds only from the package's own files.

Importing this module configures ultralytics for an offline, DVC-managed repository first. ``common``'s core
never imports it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

from common.io import ROOT
from common.modelfile import ModelFileError, load_model_file, save_model_file

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
import ultralytics  # noqa: E402
from ultralytics.cfg import get_cfg  # noqa: E402
from ultralytics.data.build import build_yolo_dataset, seed_worker  # noqa: E402
from ultralytics.nn.modules.block import C2f  # noqa: E402
from ultralytics.nn.modules.conv import Conv  # noqa: E402
from ultralytics.nn.tasks import DetectionModel, PoseModel  # noqa: E402
from ultralytics.utils import DEFAULT_CFG, SETTINGS  # noqa: E402
from ultralytics.utils.loss import v8DetectionLoss  # noqa: E402
from ultralytics.utils.nms import non_max_suppression  # noqa: E402, F401  (the pose peer's decoding)

if SETTINGS.get("dvc") or SETTINGS.get("sync"):
    # otherwise ultralytics' trainer starts dvclive by itself and writes dvc.yaml into the working dir
    SETTINGS.update({"dvc": False, "sync": False})

__all__ = ["DetectionModel", "PoseModel", "build_model", "build_known", "split_c2f", "prune_ignored_layers",
           "save_model", "load_model", "model_meta", "train_cfg", "build_dataset", "detection_loss", "nms",
           "non_max_suppression", "seed_worker", "freeze_dfl", "InferenceWrapper", "ultralytics_train", "make_view",
           "head_decode_nodes"]

FORMAT = "edgerepro.yolov8.v3"
_LEGACY = ("edgerepro.yolov8.v1", "edgerepro.yolov8.v2")
_MODELS_DIR = Path(ultralytics.__file__).parent / "cfg" / "models"


def train_cfg(**overrides) -> SimpleNamespace:
    """ultralytics' default hyper-parameters (augmentation, loss gains) with ``overrides``."""
    overrides = {"plots": False, "verbose": False, **overrides}
    return get_cfg(DEFAULT_CFG, overrides)


def known_yaml(name: str) -> dict:
    """The architecture dict of a model YAML shipped inside the ultralytics package, e.g. ``yolov8n.yaml`` or
    ``yolov8n-pose.yaml`` (the scale letter picks the width/depth multipliers). Anything else — a path, a file
    in the working directory, a name the package does not ship — is refused."""
    import re

    import yaml

    if not isinstance(name, str) or Path(name).name != name or not re.fullmatch(r"[A-Za-z0-9_.-]+\.yaml", name):
        raise ModelFileError(f"{name!r}: not the name of a model YAML shipped with ultralytics (a bare file name "
                             f"such as yolov8n.yaml is expected)")
    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", Path(name).stem) + ".yaml"  # yolov8n.yaml → yolov8.yaml
    found = sorted(p for p in _MODELS_DIR.rglob("*.yaml") if p.name in (name, unified))
    if not found:
        raise ModelFileError(f"{name!r}: ultralytics {ultralytics.__version__} ships no such model YAML")
    d = yaml.safe_load(found[0].read_text())
    m = re.search(r"\d+([nslmx])", Path(name).stem)
    d["scale"] = m.group(1) if m else ""
    d["yaml_file"] = name
    return d


def build_known(name: str, nc: int, kpt_shape: tuple[int, int] | None = None) -> DetectionModel:
    """A YOLO network (random init, nothing downloaded) from a YAML the ultralytics package ships, with ``nc``
    classes (and ``kpt_shape`` keypoints for a pose model): the only way model files are rebuilt."""
    if not isinstance(nc, int) or isinstance(nc, bool) or nc < 1:
        raise ModelFileError(f"number of classes must be a positive integer, got {nc!r}")
    d = known_yaml(name)
    if kpt_shape is not None or "kpt_shape" in d:
        kpt = tuple(kpt_shape if kpt_shape is not None else d["kpt_shape"])
        if len(kpt) != 2 or not all(isinstance(v, int) and v > 0 for v in kpt):
            raise ModelFileError(f"keypoint shape must be two positive integers, got {kpt_shape!r}")
        return PoseModel(d, nc=nc, data_kpt_shape=kpt, verbose=False)
    return DetectionModel(d, nc=nc, verbose=False)


def build_model(cfg: str = "yolov8n.yaml", nc: int = 10, hyp: SimpleNamespace | None = None) -> DetectionModel:
    """YOLOv8 from its architecture YAML (random init; nothing is downloaded)."""
    model = build_known(cfg, nc)
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
                      task: str = "detect", **train_args):
    """ultralytics' own trainer on one of our YOLO-format datasets (``data.yaml`` + ``images/`` + ``labels/``):
    the pose task's peer, and the reference in the detection benchmarks.

    The dataset is read through a symlink view (see :func:`make_view`) so ultralytics' label cache is not
    written into it. Returns the ``YOLO`` object (its ``trainer`` holds the run)."""
    import json

    import yaml
    from ultralytics import YOLO

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((Path(data_dir) / "data.yaml").read_text())
    view = make_view(Path(data_dir), ("train", "val"))
    (workdir / "data.yaml").write_text(json.dumps({**spec, "path": str(view), "train": spec.get("train", "images/train"),
                                                   "val": spec.get("val", "images/val")}))
    yolo = YOLO(model_cfg, task=task)
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


def import_checkpoint(path: str | Path, trusted: str | Path | None) -> tuple[DetectionModel, dict]:
    """A user's ultralytics checkpoint (``best.pt`` / ``last.pt`` saved by ``YOLO.train``) as a clean model of
    ours: rebuilt from the shipped YAML it names, with its weights and class names. Returns (model, facts).

    An ultralytics ``.pt`` is a pickle of Python objects: unpickling it runs code the file carries. It is
    opened only when ``trusted`` names the same file (the user's explicit opt-in); our own model files never
    need this (they are read with ``weights_only``)."""
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if trusted is None or Path(trusted).resolve() != path.resolve():
        raise ModelFileError(f"{path}: refused: an ultralytics checkpoint is a pickle, and unpickling it runs code "
                             f"from the file; if you trust this file, name it again in `trust_checkpoint`")
    from ultralytics.nn.tasks import load_checkpoint

    theirs, ckpt = load_checkpoint(str(path), device="cpu", fuse=False)
    arch = (getattr(theirs, "yaml", None) or {}).get("yaml_file")
    try:
        stock = known_yaml(Path(str(arch)).name)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: refused: built from {arch!r}, not from a model YAML ultralytics ships ({e}); "
                             f"only those architectures can be rebuilt and pruned here") from None
    diff = sorted(k for k in ("backbone", "head") if stock.get(k) != theirs.yaml.get(k))
    if diff:
        raise ModelFileError(f"{path}: refused: its {' and '.join(diff)} differ from ultralytics' {stock['yaml_file']}")
    kpt = theirs.yaml.get("kpt_shape") if isinstance(theirs, PoseModel) else None
    model = build_known(stock["yaml_file"], int(theirs.yaml["nc"]), tuple(kpt) if kpt else None)
    missing, unexpected = model.load_state_dict(theirs.float().state_dict(), strict=False)
    if missing or unexpected:
        raise ModelFileError(f"{path}: its weights do not fit {stock['yaml_file']} "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    names = getattr(theirs, "names", None) or {}
    model.names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
    model.args = train_cfg()
    facts = {"checkpoint": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
             "arch": stock["yaml_file"], "nc": int(theirs.yaml["nc"]), "names": [model.names[i] for i in
                                                                                 sorted(model.names)],
             "ultralytics_version": ckpt.get("version") if isinstance(ckpt, dict) else None,
             "train_imgsz": (ckpt.get("train_args") or {}).get("imgsz") if isinstance(ckpt, dict) else None,
             "epochs_trained": (ckpt.get("epoch") if isinstance(ckpt, dict) else None)}
    return model, facts


def letterbox_images(images_bgr: list, imgsz: int, stride: int = 32) -> torch.Tensor:
    """Images (HWC uint8 BGR, as cv2 / ultralytics read them) letterboxed to ``imgsz`` square exactly as
    ultralytics' predictor does (``LetterBox(auto=False)``): float (N, 3, imgsz, imgsz) RGB in [0, 1]."""
    import numpy as np
    from ultralytics.data.augment import LetterBox

    box = LetterBox((imgsz, imgsz), auto=False, stride=stride)
    batch = np.stack([box(image=im) for im in images_bgr])[..., ::-1].transpose(0, 3, 1, 2)  # BGR → RGB, NCHW
    return torch.from_numpy(np.ascontiguousarray(batch)).float() / 255


def boxes_to_image(boxes: torch.Tensor, imgsz: int, image_shape: tuple[int, int]) -> torch.Tensor:
    """xyxy boxes on the letterboxed ``imgsz`` input → pixels of the original image (height, width), clipped."""
    from ultralytics.utils import ops

    return ops.scale_boxes((imgsz, imgsz), boxes.clone(), image_shape)


def export_metadata(model: DetectionModel, imgsz: int, **extra) -> dict:
    """The metadata ultralytics' exporter writes into a model file (``ultralytics.engine.exporter``), so
    ``YOLO("model.onnx")`` and ``yolo predict/val model=…`` load our exports with their class names, stride, image
    size and task. ``extra`` adds our own keys (e.g. the variant and its precision)."""
    from datetime import datetime

    kpt = model.yaml.get("kpt_shape") if isinstance(model, PoseModel) else None
    names = getattr(model, "names", None) or {i: f"class{i}" for i in range(int(model.yaml["nc"]))}
    meta = {
        "description": f"edgerepro export of ultralytics {model.yaml.get('yaml_file')}",
        "author": "edgerepro",
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "version": ultralytics.__version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license): the architecture is ultralytics'",
        "docs": "https://docs.ultralytics.com",
        "stride": int(max(model.stride)),
        "task": "pose" if kpt else "detect",
        "head": type(model.model[-1]).__name__,
        "batch": 1,
        "imgsz": [int(imgsz), int(imgsz)],
        "names": {int(k): str(v) for k, v in names.items()},
        "args": {"batch": 1, "half": False, "int8": False, "dynamic": False, "nms": False},
        "channels": int(model.yaml.get("channels", 3)),
        "end2end": False,
    }
    if kpt:
        meta["kpt_shape"] = [int(v) for v in kpt]
    meta.update(extra)
    return meta


def check_classes(model: DetectionModel, nc: int, model_path: str | Path, data: str | Path) -> None:
    """Stop when a model file's class count is not the data's (training would run, silently wrong)."""
    have = int(model.yaml["nc"])
    if have != nc:
        raise ModelFileError(f"{model_path}: the model has {have} classes but {data} has {nc}; a detector's head is "
                             f"sized by its classes — use a model trained on this data, or prepare data with "
                             f"{have} classes")


def save_model(path: str | Path, model: DetectionModel, **meta) -> None:
    """The architecture's *name* (a YAML the ultralytics package ships), classes, keypoint shape, block rewrites,
    shape plan and state dict: plain data only (``common.modelfile``). A pruned model round-trips: its widths
    are in the shape plan."""
    from common.compress.shapes import shape_plan

    arch = model.yaml.get("yaml_file")
    known_yaml(arch)  # only what load_model can rebuild is saved
    kpt = model.yaml.get("kpt_shape") if isinstance(model, PoseModel) else None
    names = getattr(model, "names", None)
    if isinstance(names, dict) and sorted(names) == list(range(int(model.yaml["nc"]))):
        meta = {"names": [str(names[i]) for i in sorted(names)], **meta}
    save_model_file(path, FORMAT, "pose" if kpt else "detect", arch=arch, nc=int(model.yaml["nc"]),
                    kpt_shape=[int(v) for v in kpt] if kpt else None,
                    c2f_split=any(isinstance(m, C2fSplit) for m in model.modules()), shape_plan=shape_plan(model),
                    state_dict=model.state_dict(), meta=meta)


def _legacy_arch(path: Path, stored: dict) -> str:
    """Files of formats v1/v2 stored the whole model YAML: accept one only if it *is* a shipped YAML (with its
    classes), so nothing a file carries reaches ultralytics' parser."""
    name = stored.get("yaml_file")
    try:
        stock = known_yaml(name)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: refused: its stored model YAML is not one ultralytics ships ({e})") from None
    diff = sorted(k for k in set(stock) | set(stored) if k not in ("nc", "channels", "kpt_shape")
                  and stock.get(k) != stored.get(k))
    if diff:
        raise ModelFileError(f"{path}: refused: its stored model YAML differs from ultralytics' {name} in "
                             f"{', '.join(map(repr, diff))} (a model YAML can run code in ultralytics' parser; "
                             f"only the shipped architectures are built)")
    return name


def load_model(path: str | Path) -> DetectionModel:
    """A YOLO model saved by :func:`save_model` (detection or pose), rebuilt from a shipped YAML."""
    from common.compress.shapes import apply_shape_plan

    path = Path(path)
    ck = load_model_file(path, (FORMAT, *_LEGACY))
    if ck["format"] == FORMAT:
        arch, nc, kpt = ck.get("arch"), ck.get("nc"), ck.get("kpt_shape")
    else:
        arch, nc, kpt = _legacy_arch(path, dict(ck["model_yaml"])), ck["model_yaml"].get("nc"), None
    try:
        model = build_known(arch, nc, tuple(kpt) if kpt else None)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: refused: {e}") from None
    if ck.get("c2f_split"):
        split_c2f(model)
    if ck.get("shape_plan"):
        apply_shape_plan(model, ck["shape_plan"], ck["state_dict"])
    else:
        model.load_state_dict(ck["state_dict"])
    model.args = train_cfg()
    names = (ck.get("meta") or {}).get("names")
    if names and len(names) == nc:
        model.names = dict(enumerate(names))
    return model


def model_meta(path: str | Path) -> dict:
    """The ``meta`` dict saved with a model file."""
    return dict(load_model_file(path, (FORMAT, *_LEGACY)).get("meta") or {})


def make_view(root: Path, splits: tuple[str, ...]) -> Path:
    """A scratch tree of symlinks to a YOLO-format dataset's ``images/`` and ``labels/``.

    ultralytics writes a ``labels/<split>.cache`` file beside the labels; pointing it at this view keeps
    the DVC-tracked dataset (and a user's raw data) untouched."""
    import tempfile

    view = Path(tempfile.mkdtemp(prefix="edgerepro-yolo-view-"))
    for split in splits:
        for kind in ("images", "labels"):
            src = Path(root) / kind / split
            dst = view / kind / split
            dst.mkdir(parents=True)
            if src.is_dir():
                for f in src.iterdir():
                    os.symlink(f.resolve(), dst / f.name)
    return view


def head_decode_nodes(onnx_path: Path, head_index: int) -> list[str]:
    """ONNX nodes of a Detect/Pose head's decoding (DFL softmax, box arithmetic, class sigmoid, keypoint
    decoding, the final concat). They stay fp32 in an INT8 model: one uint8 scale cannot hold box coordinates
    in pixels and probabilities in [0, 1] at once (class scores would all round to 0). The box and class convs
    (cv2/cv3 branches) are quantized like the rest; a pose head's keypoint branch (cv4) stays fp32 too."""
    import onnx

    prefix = f"/model.{head_index}/"
    return [n.name for n in onnx.load(str(onnx_path), load_external_data=False).graph.node
            if prefix in n.name and "/cv2." not in n.name and "/cv3." not in n.name]


def write_checkpoint(model: DetectionModel, path: str | Path, imgsz: int, data_yaml: str | Path) -> Path:
    """Our model as an ultralytics checkpoint (``{"model": …, "train_args": …}``, ultralytics' default arguments
    attached as a checkpoint it trained would carry), for ultralytics' own exporter: the peer a user would pick.
    The file is a pickle of *our* model object, read back only by ultralytics in the same stage."""
    from ultralytics.cfg import get_cfg

    model = model.float().eval()
    model.args = vars(get_cfg())
    torch.save({"model": model, "train_args": {"imgsz": int(imgsz), "data": str(data_yaml)},
                "date": None, "version": ultralytics.__version__}, str(path))
    return Path(path)


def export_with_ultralytics(checkpoint: str | Path, **args) -> Path:
    """``YOLO(checkpoint).export(**args)`` (e.g. ``format="openvino", int8=True``): the exported folder or file."""
    from ultralytics import YOLO

    return Path(YOLO(str(checkpoint), task="detect").export(device="cpu", **args))


def validate_with_ultralytics(model_path: str | Path, data_yaml: str | Path, imgsz: int, workdir: str | Path) -> dict:
    """ultralytics' own ``val`` of any model file it loads (ours or its exports) on the data's ``val`` split, at
    its documented evaluation settings (conf 0.001, IoU 0.7), batch 1: ``{"map50", "map50_95"}``."""
    from ultralytics import YOLO

    res = YOLO(str(model_path), task="detect").val(data=str(data_yaml), imgsz=int(imgsz), batch=1, split="val",
                                                   conf=0.001, iou=0.7, device="cpu", plots=False, verbose=False,
                                                   rect=False, project=str(workdir), name="val", exist_ok=True)
    return {"map50": float(res.box.map50), "map50_95": float(res.box.map)}


def version() -> str:
    return ultralytics.__version__
