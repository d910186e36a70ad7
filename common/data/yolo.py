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


# ------------------------------------------------------------------ a user's dataset described by data.yaml
class YoloDataYaml:
    """An ultralytics detection dataset described by a ``data.yaml`` (what ultralytics and Roboflow write):

    ``path`` (the root; relative → relative to the YAML's folder; absent → the YAML's folder), ``train`` / ``val``
    (each a folder of images, searched recursively, or a ``.txt`` file listing image paths, or a list of those; all
    relative to the root), ``names`` (a list, or a ``{0: name, …}`` mapping) and optionally ``nc`` (must equal the
    number of names). Labels follow ultralytics' convention: ``…/images/…/x.jpg`` ↔ ``…/labels/…/x.txt``; an image
    without a label file is a background image.

    Read by hand rather than by ``ultralytics.data.utils.check_det_dataset``: that function downloads a dataset it
    cannot find and resolves relative roots against ultralytics' global datasets folder; here every path is local and
    a missing one is an error naming the YAML.
    """

    SPLITS = ("train", "val")

    def __init__(self, path: str | Path):
        from common.io import read_yaml

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "data.yaml not found", expected="an ultralytics dataset YAML (path, train, val, names)")
        doc = read_yaml(self.path)
        if not isinstance(doc, dict):
            raise DataError(self.path, "not a mapping", expected="keys path, train, val, names")
        root = Path(doc.get("path") or ".")
        self.root = root if root.is_absolute() else (self.path.parent / root)
        self.names = self._names(doc)
        self.splits: dict[str, list[Path]] = {}
        for split in self.SPLITS:
            if not doc.get(split):
                raise DataError(self.path, f"no '{split}:' entry", expected=f"a folder or list file of {split} images")
            entries = doc[split] if isinstance(doc[split], list) else [doc[split]]
            images: list[Path] = []
            for entry in entries:
                images += self._images(str(entry), split)
            if not images:
                raise DataError(self.path, f"'{split}:' lists no images", expected="*.jpg / *.png files")
            self.splits[split] = images

    def _names(self, doc: dict) -> list[str]:
        names = doc.get("names")
        if isinstance(names, dict):
            keys = sorted(names)
            if keys != list(range(len(keys))):
                raise DataError(self.path, f"class ids {keys} in 'names:'", expected="ids 0, 1, …, n-1")
            names = [names[k] for k in keys]
        if not isinstance(names, list) or not names:
            raise DataError(self.path, "no class names", expected="a 'names:' list or {id: name} mapping")
        if "nc" in doc and doc["nc"] != len(names):
            raise DataError(self.path, f"nc is {doc['nc']} but 'names:' has {len(names)} classes",
                            expected="nc equal to the number of names")
        return [str(n) for n in names]

    def _images(self, entry: str, split: str) -> list[Path]:
        p = Path(entry)
        p = p if p.is_absolute() else self.root / p
        if p.is_dir():
            return list_images(p, recursive=True)
        if p.is_file() and p.suffix == ".txt":  # one image per line; relative lines (ultralytics: "./x") are under the list file's folder
            out = []
            for lineno, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                img = Path(line)
                img = img if img.is_absolute() else (p.parent / img)
                if not img.is_file():
                    raise DataError(p, f"image {line!r} not found ({img})", line=lineno, expected="an existing image")
                out.append(img)
            return out
        raise DataError(self.path, f"'{split}: {entry}' not found ({p})",
                        expected=f"a folder of images or a .txt list of images, relative to path: {self.root}")

    def label_for(self, image: Path) -> Path:
        if "images" not in image.parts:
            raise DataError(image, "the image's path has no 'images' folder, so its label file cannot be found",
                            expected="ultralytics' layout …/images/…/x.jpg with labels in …/labels/…/x.txt")
        return label_path_for(image)


def copy_yolo_split(images: list[Path], label_for, out_root: Path, split: str, nc: int, *,
                    progress: bool = True) -> dict:
    """Copy ``images`` and their labels (checked: file:line errors) into ``out_root/{images,labels}/<split>/``
    under unique flat names; returns counts (images, boxes, background images)."""
    import shutil

    from tqdm import tqdm

    img_dir, lab_dir = out_root / "images" / split, out_root / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    n_boxes = background = 0
    for img in tqdm(images, desc=f"{split}: copying", unit="img", disable=not progress):
        stem, k = img.stem, 1
        while stem in used:  # same file name in two folders
            k += 1
            stem = f"{img.stem}_{k}"
        used.add(stem)
        image_size(img)  # decodes: a corrupt image fails here with its name
        shutil.copyfile(img, img_dir / f"{stem}{img.suffix.lower()}")
        lab = label_for(img)
        rows = parse_yolo_labels(lab, nc) if lab.is_file() else []
        background += not rows
        n_boxes += len(rows)
        write_yolo_labels(lab_dir / f"{stem}.txt", rows)
    return {"images": len(images), "boxes": n_boxes, "background_images": background}
