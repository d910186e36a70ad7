"""OCR data: the prepared splits (Hugging Face ``datasets`` Arrow tables + image files), the ICDAR-style
real-data loader, and the torch datasets of the detector (DB targets) and the recogniser (word crops).

A split is a folder ``<root>/<split>/`` saved by ``datasets.Dataset.save_to_disk`` with one row per image:
``file`` (relative to ``<root>/images``), ``width``, ``height``, ``language``, ``edge_case`` and ``words``
(a list of ``{text, lang, quad: [x1,y1,…,x4,y4], ignore}``; ``ignore`` marks ICDAR's ``###`` don't-care
regions, which neither count as misses nor as false positives). This module does not import torch: the
engines use it in processes whose memory is measured. The torch datasets are in :mod:`tasks.ocr.datasets`.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from common.data.errors import DataError, require_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DONT_CARE = "###"


# ----------------------------------------------------------------------------- splits on disk
def save_split(rows: list[dict], out: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(rows).save_to_disk(str(out))


def load_split(root: str | Path, split: str) -> list[dict]:
    """Rows of a prepared split; a missing or foreign folder is a clear error."""
    from datasets import load_from_disk

    path = Path(root) / split
    require_dir(path, f"the prepared OCR split {split!r} (run `dvc repro tasks/ocr/dvc.yaml:prepare`)")
    try:
        ds = load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001 - re-raised with the folder named
        raise DataError(path, f"cannot load as a Hugging Face dataset: {e}",
                        expected="a folder written by datasets.Dataset.save_to_disk") from e
    need = {"file", "width", "height", "language", "edge_case", "words"}
    if not need <= set(ds.column_names):
        raise DataError(path, f"columns {sorted(ds.column_names)}", expected=f"columns {sorted(need)}")
    return ds.to_list()


def read_rgb(path: str | Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, "cannot read image", expected="a readable image file (jpg/png/bmp)")
    return np.ascontiguousarray(img[..., ::-1])


# ----------------------------------------------------------------------------- ICDAR-style real data
def read_icdar_gt(path: str | Path, *, script_column: bool = False) -> list[dict]:
    """One ICDAR ground-truth file: ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` per line (ICDAR 2015), or with
    ``script_column`` ``x1,…,y4,script,transcription`` (ICDAR MLT). The transcription may contain commas;
    ``###`` marks a don't-care region. A UTF-8 BOM is accepted (ICDAR 2015 files carry one)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 at byte {e.start}", line=line,
                        expected="a UTF-8 encoded transcription file") from e
    words = []
    n_fields = 10 if script_column else 9
    form = "x1,y1,x2,y2,x3,y3,x4,y4," + ("script," if script_column else "") + "transcription"
    for ln, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.rstrip("\r").split(",", n_fields - 1)
        if len(parts) < n_fields:
            raise DataError(path, f"{len(parts)} comma-separated fields in {raw!r}", line=ln,
                            expected=f"'{form}'")
        try:
            quad = [float(v) for v in parts[:8]]
        except ValueError as e:
            raise DataError(path, f"non-numeric coordinate in {raw!r}", line=ln, expected=f"'{form}'") from e
        transcription = unicodedata.normalize("NFC", parts[-1].strip())
        if not transcription:
            raise DataError(path, "empty transcription", line=ln,
                            expected=f"a word, or {DONT_CARE} for a don't-care region")
        if any(unicodedata.category(c) == "Cc" or c == "\ufffd" for c in transcription):
            raise DataError(path, f"control or replacement character in transcription {transcription!r} "
                            "(mis-encoded file?)", line=ln, expected="printable UTF-8 text")
        words.append({"text": transcription, "lang": parts[8].strip() if script_column else "",
                      "quad": quad, "ignore": transcription == DONT_CARE})
    return words


def load_icdar(images_dir: str | Path, gt_dir: str | Path, *, script_column: bool = False,
               language: str = "") -> list[dict]:
    """Rows (split schema) for every image of ``images_dir`` with its ``gt_<stem>.txt`` in ``gt_dir``;
    an image without ground truth is an error (never skipped silently)."""
    from common.data.images import image_size

    images_dir, gt_dir = require_dir(images_dir, "images"), require_dir(gt_dir, "ground-truth files")
    rows = []
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(images_dir, "no images", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    for img in files:
        gt = gt_dir / f"gt_{img.stem}.txt"
        if not gt.is_file():
            raise DataError(gt, f"ground truth of {img.name} not found", expected=f"gt_{img.stem}.txt beside the others")
        w, h = image_size(img)
        rows.append({"file": str(img.resolve()), "width": w, "height": h, "language": language,
                     "edge_case": "real", "words": read_icdar_gt(gt, script_column=script_column)})
    return rows


# ----------------------------------------------------------------------------- geometry
def order_quad(pts: np.ndarray) -> np.ndarray:
    """Four points → top-left, top-right, bottom-right, bottom-left (for boxes rotated < 45°)."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    xs = pts[np.argsort(pts[:, 0])]
    left, right = xs[:2], xs[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.stack([tl, tr, br, bl])


def crop_word(img: np.ndarray, quad, height: int = 32, max_width: int = 128) -> np.ndarray:
    """Rectify a word quad to ``height`` px (aspect kept, width ≤ ``max_width``), right-padded with zeros:
    float32 (3, height, max_width) in [0, 1]."""
    import cv2

    q = np.asarray(quad, np.float32).reshape(4, 2)
    w = max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3]), 1.0)
    h = max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1]), 1.0)
    out_w = int(np.clip(round(height * w / h), 4, max_width))
    m = cv2.getPerspectiveTransform(q, np.float32([[0, 0], [out_w, 0], [out_w, height], [0, height]]))
    crop = cv2.warpPerspective(img, m, (out_w, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    canvas = np.zeros((height, max_width, 3), np.float32)
    canvas[:, :out_w] = crop.astype(np.float32) / 255.0
    return canvas.transpose(2, 0, 1)


def resize_for_detector(img: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale the long side to ``size`` and pad bottom/right to a square: (size, size, 3) uint8, scale."""
    import cv2

    h, w = img.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out, s
