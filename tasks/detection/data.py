"""Detection data: the VisDrone-DET → YOLO converter, a VisDrone-like synthetic generator, and the
Lightning DataModule over ultralytics' dataset/augmentation pipeline.

Layout written by ``prepare`` (ultralytics' convention)::

    <root>/data.yaml                    names, nc, train: images/train, val: images/val
    <root>/images/{train,val}/*.jpg
    <root>/labels/{train,val}/*.txt     class cx cy w h (normalised)
"""
from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import numpy as np

from common.data.errors import DataError, require_dir
from common.data.images import image_size, list_images
from common.data.synthetic import add_clutter_lines, add_sensor_noise, item_rng, textured_background
from common.data.yolo import format_yolo_line, validate_yolo_split, xywh_pixels_to_yolo
from common.io import atomic_write_text, read_yaml

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the heavy modules load inside the functions
    import torch

VISDRONE_CLASSES = ("pedestrian", "people", "bicycle", "car", "van", "truck", "tricycle", "awning-tricycle",
                    "bus", "motor")
VISDRONE_IGNORED = {0: "ignored region", 11: "others"}
VISDRONE_FIELDS = ("bbox_left", "bbox_top", "bbox_width", "bbox_height", "score", "object_category",
                   "truncation", "occlusion")


def write_data_yaml(root: Path, names: tuple[str, ...] | list[str]) -> None:
    import yaml

    # no `path:` — ultralytics then resolves train/val against this file's folder, so `yolo val data=<this file>`
    # works from any working directory (a relative `path: .` would be read against the working directory)
    doc = {"train": "images/train", "val": "images/val", "nc": len(names),
           "names": {i: n for i, n in enumerate(names)}}
    atomic_write_text(root / "data.yaml", yaml.safe_dump(doc, sort_keys=False))


# --------------------------------------------------------------------------- VisDrone-DET converter
def parse_visdrone_annotation(path: Path, img_w: int, img_h: int,
                              ) -> tuple[list[tuple[int, float, float, float, float]], int]:
    """One VisDrone-DET annotation file → (YOLO rows, number of boxes clipped to the image); classes 0 (ignored
    region) and 11 (others) dropped.

    A box crossing the image edge (by any amount: VisDrone annotates objects cut by the frame, with ``truncation``
    > 0) is clipped to the image and counted; one with no area inside the image is an error."""
    rows = []
    clipped = 0
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip().rstrip(",")
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 8:
            raise DataError(path, f"{len(fields)} fields in {raw.strip()!r}", line=lineno,
                            expected="8 comma-separated fields: " + ",".join(VISDRONE_FIELDS))
        try:
            x, y, w, h, _score, cat, _trunc, _occl = (int(float(f)) for f in fields)
        except ValueError as e:
            raise DataError(path, f"non-numeric field in {raw.strip()!r}", line=lineno,
                            expected="integers") from e
        if not 0 <= cat <= 11:
            raise DataError(path, f"object_category {cat} out of range", line=lineno,
                            expected="0..11 (1..10 objects, 0 ignored region, 11 others)")
        if cat in VISDRONE_IGNORED:
            continue
        if w <= 0 or h <= 0:
            raise DataError(path, f"empty box {w}x{h}", line=lineno, expected="bbox_width, bbox_height > 0")
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, img_w), min(y + h, img_h)
        if x1 <= x0 or y1 <= y0:
            raise DataError(path, f"box x={x} y={y} w={w} h={h} lies outside the {img_w}x{img_h} image",
                            line=lineno, expected="a box overlapping the image (one crossing its edge is clipped)")
        if (x0, y0, x1, y1) != (x, y, x + w, y + h):
            clipped += 1
        rows.append((cat - 1, *xywh_pixels_to_yolo(x0, y0, x1 - x0, y1 - y0, img_w, img_h)))
    return rows, clipped


def convert_visdrone_split(src: str | Path, out_root: Path, split: str) -> dict:
    """``src`` = a VisDrone-DET folder holding ``images/`` and ``annotations/`` (e.g. VisDrone2019-DET-val).

    Returns ``{"images", "boxes", "clipped_boxes"}``: ``clipped_boxes`` counts the boxes crossing the image edge
    that were clipped to it (also logged when there are any)."""
    src = require_dir(src, "VisDrone split")
    images_dir = require_dir(src / "images", "VisDrone images")
    ann_dir = require_dir(src / "annotations", "VisDrone annotations")
    images = list_images(images_dir)
    if not images:
        raise DataError(images_dir, "no images found", expected="*.jpg files")
    (out_root / "images" / split).mkdir(parents=True, exist_ok=True)
    (out_root / "labels" / split).mkdir(parents=True, exist_ok=True)
    n_boxes = n_clipped = 0
    for img in images:
        ann = ann_dir / f"{img.stem}.txt"
        if not ann.is_file():
            raise DataError(ann, "annotation file missing for image " + img.name, expected=f"{ann.name}")
        w, h = image_size(img)
        rows, clipped = parse_visdrone_annotation(ann, w, h)
        n_boxes += len(rows)
        n_clipped += clipped
        shutil.copyfile(img, out_root / "images" / split / img.name)
        (out_root / "labels" / split / f"{img.stem}.txt").write_text("".join(format_yolo_line(*r) + "\n" for r in rows))
    if n_clipped:
        print(f"{src.name}: {n_clipped} boxes crossing the image edge clipped to it")
    return {"images": len(images), "boxes": n_boxes, "clipped_boxes": n_clipped}


# --------------------------------------------------------------------------- synthetic VisDrone-like scenes
# Per class: base size (w, h) in pixels at 256 px, BGR colour, drawing style. Distinct shape, size and
# colour make the task learnable from a few hundred images; small sizes and dense scenes keep it VisDrone-like.
SYNTH_SPECS = {
    0: ((6, 6), (40, 40, 220), "disc"),          # pedestrian
    1: ((12, 6), (0, 140, 255), "pair"),         # people
    2: ((12, 7), (0, 220, 220), "ring"),         # bicycle
    3: ((15, 9), (220, 90, 30), "rect"),         # car
    4: ((19, 12), (230, 220, 60), "rect"),       # van
    5: ((28, 12), (40, 170, 40), "truck"),       # truck
    6: ((12, 12), (200, 40, 200), "triangle"),   # tricycle
    7: ((13, 13), (90, 30, 130), "awning"),      # awning-tricycle
    8: ((38, 14), (235, 235, 235), "bus"),       # bus
    9: ((9, 9), (40, 90, 150), "diamond"),       # motor
}


def _draw_object(img: np.ndarray, cls: int, x0: int, y0: int, w: int, h: int, colour) -> None:
    import cv2

    style = SYNTH_SPECS[cls][2]
    x1, y1 = x0 + w - 1, y0 + h - 1
    cx, cy = x0 + w // 2, y0 + h // 2
    darker = tuple(int(c * 0.45) for c in colour)
    if style == "disc":
        cv2.ellipse(img, (cx, cy), (max(w // 2, 1), max(h // 2, 1)), 0, 0, 360, colour, -1)
    elif style == "pair":
        r = max(min(w // 4, h // 2), 1)
        cv2.circle(img, (x0 + r, cy), r, colour, -1)
        cv2.circle(img, (x1 - r, cy), r, colour, -1)
    elif style == "ring":
        cv2.ellipse(img, (cx, cy), (max(w // 2 - 1, 1), max(h // 2 - 1, 1)), 0, 0, 360, colour, 2)
    elif style in ("rect", "truck", "bus"):
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
        if style == "truck":  # a darker cab at one end
            if w >= h:
                cv2.rectangle(img, (x0, y0), (x0 + w // 4, y1), darker, -1)
            else:
                cv2.rectangle(img, (x0, y0), (x1, y0 + h // 4), darker, -1)
        elif style == "bus":  # a row of windows
            if w >= h:
                for xx in range(x0 + 3, x1 - 2, 5):
                    cv2.rectangle(img, (xx, cy - 1), (xx + 2, cy + 1), darker, -1)
            else:
                for yy in range(y0 + 3, y1 - 2, 5):
                    cv2.rectangle(img, (cx - 1, yy), (cx + 1, yy + 2), darker, -1)
    elif style in ("triangle", "awning"):
        pts = np.array([[cx, y0], [x0, y1], [x1, y1]], np.int32)
        cv2.fillPoly(img, [pts], colour)
        if style == "awning":
            cv2.rectangle(img, (x0, y0), (x1, y0 + max(h // 4, 1)), (250, 250, 250), -1)
    elif style == "diamond":
        pts = np.array([[cx, y0], [x1, cy], [cx, y1], [x0, cy]], np.int32)
        cv2.fillPoly(img, [pts], colour)


def synth_scene(seed: int, index: int, size: int, min_objects: int, max_objects: int):
    """One deterministic scene: (BGR uint8 image, list of YOLO rows)."""
    rng = item_rng(seed, index)
    img = textured_background(rng, size, size)
    add_clutter_lines(img, rng, int(rng.integers(3, 9)))
    scale = size / 256.0
    boxes: list[tuple[int, int, int, int]] = []
    rows = []
    n = int(rng.integers(min_objects, max_objects + 1))
    for _ in range(n):
        cls = int(rng.integers(0, len(SYNTH_SPECS)))
        (bw, bh), colour, _ = SYNTH_SPECS[cls]
        jitter = rng.uniform(0.85, 1.15)
        w, h = max(int(round(bw * scale * jitter)), 3), max(int(round(bh * scale * jitter)), 3)
        if bw != bh and rng.random() < 0.5:  # vehicles drive both ways
            w, h = h, w
        for _attempt in range(20):
            x0 = int(rng.integers(1, size - w - 1))
            y0 = int(rng.integers(1, size - h - 1))
            if all(x0 + w + 2 <= bx or bx + bw_ + 2 <= x0 or y0 + h + 2 <= by or by + bh_ + 2 <= y0
                   for bx, by, bw_, bh_ in boxes):
                break
        else:
            continue  # scene too crowded for this object: draw fewer (deterministic)
        col = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour)
        _draw_object(img, cls, x0, y0, w, h, col)
        boxes.append((x0, y0, w, h))
        rows.append((cls, *xywh_pixels_to_yolo(x0, y0, w, h, size, size)))
    img = add_sensor_noise(img, rng, sigma=4.0)
    return img, rows


def generate_synthetic(out_root: Path, splits: dict[str, int], size: int, seed: int,
                       min_objects: int = 8, max_objects: int = 25, progress: bool = True) -> dict:
    import cv2
    from tqdm import tqdm

    stats = {}
    offset = 0
    for split, count in splits.items():
        (out_root / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_root / "labels" / split).mkdir(parents=True, exist_ok=True)
        n_boxes = 0
        for i in tqdm(range(count), desc=f"synthetic {split}", disable=not progress):
            img, rows = synth_scene(seed, offset + i, size, min_objects, max_objects)
            stem = f"{split}_{i:05d}"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {stem}")
            (out_root / "images" / split / f"{stem}.jpg").write_bytes(buf.tobytes())
            (out_root / "labels" / split / f"{stem}.txt").write_text("".join(format_yolo_line(*r) + "\n" for r in rows))
            n_boxes += len(rows)
        offset += count
        stats[split] = {"images": count, "boxes": n_boxes}
    return stats


# --------------------------------------------------------------------------- DataModule
def read_names(root: Path) -> dict[int, str]:
    path = root / "data.yaml"
    doc = read_yaml(path)
    names = doc.get("names") if isinstance(doc, dict) else None
    if not names:
        raise DataError(path, "no class names", expected="a 'names:' mapping or list")
    return dict(enumerate(names)) if isinstance(names, list) else {int(k): v for k, v in names.items()}


class DetectionDataModule(L.LightningDataModule):
    """YOLO-format dataset through ultralytics' ``YOLODataset`` (mosaic and the rest of its augmentation),
    validated up front so a corrupt image or label fails with its file name.

    Args:
        data_dir: dataset root holding data.yaml, images/{train,val} and labels/{train,val}.
        imgsz: training and validation image size (letterboxed square).
        batch_size: training batch size (validation uses twice as many).
        workers: data-loading worker processes.
        close_mosaic: turn mosaic/mixup off for the last N epochs (ultralytics' default 10).
        validate_images: decode every image before training (slower start, clear errors).
        hyp: overrides of ultralytics' augmentation hyper-parameters (e.g. {mosaic: 0.5, fliplr: 0.0}).
    """

    def __init__(self, data_dir: str = "data/detection/prepare/dataset", imgsz: int = 256, batch_size: int = 16,
                 workers: int = 2, close_mosaic: int = 10, validate_images: bool = True,
                 hyp: dict | None = None):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.imgsz = imgsz
        self.batch_size = batch_size
        self.workers = workers
        self.close_mosaic = close_mosaic
        self.validate_images = validate_images
        self.hyp_overrides = dict(hyp or {})
        self.names: dict[int, str] = {}
        self._view: Path | None = None
        self._train = self._val = None
        self._mosaic_closed = False

    @property
    def nc(self) -> int:
        """Number of classes, from the dataset's data.yaml (linked to the model's ``nc``)."""
        return len(self.class_names)

    @property
    def class_names(self) -> list[str]:
        """Class names in id order, from the dataset's data.yaml (linked to the model's ``names``)."""
        if not self.names:
            self.names = read_names(self.data_dir)
        return [self.names[i] for i in sorted(self.names)]

    def hyp(self):
        from common.adapters.ultralytics import train_cfg

        return train_cfg(imgsz=self.imgsz, batch=self.batch_size, workers=self.workers, **self.hyp_overrides)

    def setup(self, stage: str | None = None) -> None:
        if self._view is not None:
            return
        root = require_dir(self.data_dir, "detection dataset (run `dvc repro tasks/detection` or prepare)")
        self.names = read_names(root)
        for split in ("train", "val"):
            validate_yolo_split(root / "images" / split, self.nc, check_images=self.validate_images)
        from common.adapters.ultralytics import make_view

        self._view = make_view(root, ("train", "val"))
        from common.adapters.ultralytics import build_dataset

        hyp = self.hyp()
        self._train = build_dataset(self._view / "images" / "train", self.names, self.imgsz, self.batch_size, True, hyp)
        self._val = build_dataset(self._view / "images" / "val", self.names, self.imgsz, self.batch_size * 2, False, hyp)

    def teardown(self, stage: str | None = None) -> None:
        if self._view is not None:
            shutil.rmtree(self._view, ignore_errors=True)
            self._view = None

    def state_dict(self) -> dict:
        """Saved with every checkpoint: ultralytics' mosaic draws its partner images from the dataset's buffer of
        recently loaded images, which a resumed run must start from (with ``workers > 0`` each epoch's worker
        copies start empty anyway)."""
        return {"buffer": [int(i) for i in self._train.buffer]} if self._train is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self._train is None or "buffer" not in state:
            return
        ds = self._train
        for j in list(ds.buffer):
            ds.ims[j], ds.im_hw0[j], ds.im_hw[j] = None, None, None
        ds.buffer.clear()
        for j in state["buffer"]:  # reloading appends each index again, in order, and caches the image
            ds.load_image(j)

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """ultralytics' ``close_mosaic``: no mosaic/mixup in the last N epochs (workers are re-created
        each epoch, so they pick the change up)."""
        if self.close_mosaic and not self._mosaic_closed and epoch >= max_epochs - self.close_mosaic:
            self._train.close_mosaic(hyp=self.hyp())
            self._mosaic_closed = True

    def _loader(self, ds, batch_size: int, shuffle: bool):
        import torch
        from torch.utils.data import DataLoader

        from common.adapters.ultralytics import seed_worker

        g = torch.Generator()
        g.manual_seed(torch.initial_seed() % 2**63)
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=self.workers,
                          collate_fn=ds.collate_fn, worker_init_fn=seed_worker, generator=g,
                          pin_memory=False, drop_last=False)

    def train_dataloader(self):
        return self._loader(self._train, self.batch_size, True)

    def val_dataloader(self):
        return self._loader(self._val, self.batch_size * 2, False)

    def test_dataloader(self):
        return self.val_dataloader()

    def predict_dataloader(self):
        return self.val_dataloader()


def letterboxed_images(data_dir: str | Path, split: str, imgsz: int, n: int) -> "torch.Tensor":
    """The first ``n`` images of ``split`` letterboxed to ``imgsz`` exactly as the evaluator feeds them
    (no augmentation), as float (n, 3, imgsz, imgsz) in [0, 1]: export checks and INT8 calibration."""
    import torch

    from common.adapters.ultralytics import build_dataset, train_cfg

    root = require_dir(Path(data_dir), "detection dataset (run `dvc repro tasks/detection` or prepare)")
    names = read_names(root)
    from common.adapters.ultralytics import make_view

    view = make_view(root, (split,))
    try:
        ds = build_dataset(view / "images" / split, names, imgsz, n, False, train_cfg(imgsz=imgsz))
        items = [ds[i] for i in range(min(n, len(ds)))]
    finally:
        shutil.rmtree(view, ignore_errors=True)
    if not items:
        raise DataError(root / "images" / split, "no images", expected="at least one image")
    return torch.stack([it["img"] for it in items]).float() / 255
