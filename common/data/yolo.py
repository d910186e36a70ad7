"""YOLO box-label format (one ``class cx cy w h`` line per object, coordinates normalised to [0, 1]).

Used by every task that trains on boxes. :func:`validate_yolo_split` checks a whole split before training,
because ultralytics' loader drops bad images and labels with a warning, and our rule is: nothing is
skipped silently.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from common.data.errors import DataError, require_dir
from common.data.images import image_size, list_images

EPS = 1e-6


def format_yolo_line(cls: int, cx: float, cy: float, w: float, h: float) -> str:
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def xywh_pixels_to_yolo(x: float, y: float, w: float, h: float, img_w: int, img_h: int) -> tuple[float, ...]:
    """Top-left pixel box → normalised centre box."""
    return ((x + w / 2) / img_w, (y + h / 2) / img_h, w / img_w, h / img_h)


def parse_yolo_labels(path: str | Path, nc: int) -> list[tuple[int, float, float, float, float]]:
    path = Path(path)
    rows = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 5:
            raise DataError(path, f"{len(fields)} fields in {line!r}", line=lineno,
                            expected="5 fields: class cx cy w h")
        try:
            cls = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError as e:
            raise DataError(path, f"non-numeric field in {line!r}", line=lineno,
                            expected="an integer class and four floats") from e
        if not 0 <= cls < nc:
            raise DataError(path, f"class id {cls} out of range", line=lineno, expected=f"0 <= class < {nc}")
        if w <= 0 or h <= 0:
            raise DataError(path, f"empty box w={w} h={h}", line=lineno, expected="w > 0 and h > 0")
        if cx - w / 2 < -EPS or cy - h / 2 < -EPS or cx + w / 2 > 1 + EPS or cy + h / 2 > 1 + EPS:
            raise DataError(path, f"box ({cx}, {cy}, {w}, {h}) extends outside the image", line=lineno,
                            expected="normalised box inside [0, 1]")
        rows.append((cls, cx, cy, w, h))
    return rows


def label_path_for(image: Path) -> Path:
    """ultralytics' convention: ``…/images/<split>/x.jpg`` → ``…/labels/<split>/x.txt``."""
    parts = list(image.parts)
    idx = len(parts) - 1 - parts[::-1].index("images")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def validate_yolo_split(images_dir: str | Path, nc: int, *, check_images: bool = True) -> dict:
    """Check every image decodes and every label file parses; return counts. Raises :class:`DataError`."""
    images_dir = require_dir(images_dir, "images")
    images = list_images(images_dir)
    if not images:
        raise DataError(images_dir, "no images found", expected="*.jpg / *.png files")
    n_boxes = 0
    for img in images:
        if check_images:
            image_size(img)
        lab = label_path_for(img)
        if lab.exists():
            n_boxes += len(parse_yolo_labels(lab, nc))
    return {"images": len(images), "boxes": n_boxes}


def write_yolo_labels(path: str | Path, rows: Iterable[tuple[int, float, float, float, float]]) -> None:
    from common.io import atomic_write_text

    atomic_write_text(path, "".join(format_yolo_line(*r) + "\n" for r in rows))
