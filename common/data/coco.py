"""COCO object-detection annotations (``instances_*.json``) → YOLO box labels.

Written by hand: ultralytics' ``convert_coco`` assumes COCO's own category ids (1-based, or its 91 → 80 map) and a
fixed output layout, and pycocotools reads but does not convert. Here any category ids map to contiguous classes
``0 … n-1`` in the order of their ids, the class names come from the file, and every object that cannot become a
YOLO box is counted in the returned statistics (nothing is dropped silently):

* ``iscrowd: 1`` regions are not objects (COCO's evaluation ignores them; ultralytics skips them too);
* boxes are clipped to the image; one with no area left is counted as ``empty_boxes``.
"""
from __future__ import annotations

import json
from pathlib import Path

from common.data.errors import DataError, require_dir

__all__ = ["CocoBoxes", "read_coco_boxes"]


class CocoBoxes:
    """One COCO json: ``names`` (by category id order), ``category_index`` (id → class), ``images`` (id → record)
    and ``boxes`` (image id → [(class, x, y, w, h) in pixels])."""

    def __init__(self, path: Path, names: list[str], category_index: dict[int, int], images: dict[int, dict],
                 boxes: dict[int, list[tuple]], skipped: dict[str, int]):
        self.path, self.names, self.category_index = path, names, category_index
        self.images, self.boxes, self.skipped = images, boxes, skipped


def _require(path: Path, rec, keys: tuple[str, ...], what: str, index: int) -> None:
    if not isinstance(rec, dict) or any(k not in rec for k in keys):
        raise DataError(path, f"{what} #{index} is {str(rec)[:80]!r}", expected=f"an object with {', '.join(keys)}")


def read_coco_boxes(path: str | Path) -> CocoBoxes:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file not found", expected="a COCO instances json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, f"not valid JSON ({e.msg})", line=e.lineno, expected="a COCO instances json") from e
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key) if isinstance(doc, dict) else None, list):
            raise DataError(path, f"no '{key}' list", expected="COCO keys images, annotations, categories")
    cats = doc["categories"]
    for i, c in enumerate(cats):
        _require(path, c, ("id", "name"), "category", i)
    if not cats:
        raise DataError(path, "no categories", expected="at least one category")
    ids = sorted(int(c["id"]) for c in cats)
    if len(set(ids)) != len(ids):
        raise DataError(path, "duplicate category ids", expected="unique ids")
    by_id = {int(c["id"]): str(c["name"]) for c in cats}
    category_index = {cid: k for k, cid in enumerate(ids)}
    images = {}
    for i, im in enumerate(doc["images"]):
        _require(path, im, ("id", "file_name", "width", "height"), "image", i)
        images[int(im["id"])] = im
    boxes: dict[int, list[tuple]] = {k: [] for k in images}
    skipped = {"crowd_regions": 0, "empty_boxes": 0}
    for i, a in enumerate(doc["annotations"]):
        _require(path, a, ("image_id", "category_id", "bbox"), "annotation", i)
        if a["image_id"] not in images:
            raise DataError(path, f"annotation #{i} refers to image id {a['image_id']}, which is not listed",
                            expected="an id from 'images'")
        if a["category_id"] not in category_index:
            raise DataError(path, f"annotation #{i} has category id {a['category_id']}, which is not listed",
                            expected=f"one of {ids}")
        if a.get("iscrowd", 0):
            skipped["crowd_regions"] += 1
            continue
        im = images[a["image_id"]]
        try:
            x, y, w, h = (float(v) for v in a["bbox"])
        except (TypeError, ValueError) as e:
            raise DataError(path, f"annotation #{i} bbox {a['bbox']!r}", expected="[x, y, width, height]") from e
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, float(im["width"])), min(y + h, float(im["height"]))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            skipped["empty_boxes"] += 1
            continue
        boxes[a["image_id"]].append((category_index[a["category_id"]], x0, y0, x1 - x0, y1 - y0))
    return CocoBoxes(path, [by_id[c] for c in ids], category_index, images, boxes, skipped)


def convert_coco_split(json_path: str | Path, images_dir: str | Path, out_root: Path, split: str, *,
                       progress: bool = True) -> tuple[list[str], dict]:
    """Write ``out_root/{images,labels}/<split>/`` from a COCO json and its image folder; returns (class names,
    statistics). Every listed image must exist and decode; its size must be the one the json records."""
    import shutil

    from tqdm import tqdm

    from common.data.images import image_size
    from common.data.yolo import write_yolo_labels, xywh_pixels_to_yolo

    coco = read_coco_boxes(json_path)
    images_dir = require_dir(images_dir, "images")
    img_out, lab_out = out_root / "images" / split, out_root / "labels" / split
    img_out.mkdir(parents=True, exist_ok=True)
    lab_out.mkdir(parents=True, exist_ok=True)
    n_boxes = background = 0
    for image_id, im in tqdm(sorted(coco.images.items()), desc=f"{split}: converting", unit="img",
                             disable=not progress):
        src = images_dir / im["file_name"]
        if not src.is_file():
            raise DataError(src, f"image of {coco.path.name} (id {image_id}) not found", expected="an image file")
        size = image_size(src)
        if size != (int(im["width"]), int(im["height"])):
            raise DataError(src, f"image is {size[0]}×{size[1]} but {coco.path.name} says "
                                 f"{im['width']}×{im['height']}", expected="the size the json records")
        stem = f"{image_id:012d}_{Path(im['file_name']).stem}"
        shutil.copyfile(src, img_out / f"{stem}{src.suffix.lower()}")
        rows = [(c, *xywh_pixels_to_yolo(x, y, w, h, size[0], size[1])) for c, x, y, w, h in coco.boxes[image_id]]
        background += not rows
        n_boxes += len(rows)
        write_yolo_labels(lab_out / f"{stem}.txt", rows)
    return coco.names, {"images": len(coco.images), "boxes": n_boxes, "background_images": background,
                        **coco.skipped}
