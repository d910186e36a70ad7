"""Edge-detection data: a deterministic synthetic scene generator whose region boundaries give the ground
truth (several jittered "annotators" per image, so labels are soft), and loaders for BSDS500, NYUDv2 and
BIPED for the ``full`` profile and for a user's own folders (images + same-named edge maps, ``load_folder``).

Every prepared dataset — synthetic or real — is written in **BSDS500's layout**
(``images/<split>/<id>.png`` + ``groundTruth/<split>/<id>.mat``, a MATLAB cell array of structs with
``Segmentation`` and ``Boundaries``, one per annotator), so the training, evaluation and pyEdgeEval code
read one format and the BSDS reader runs on every profile.

Synthetic scenes (``synthetic_scene``): a curved Voronoi partition plus pasted objects (ellipses, convex
polygons); each region gets a colour and a texture (flat, multi-octave noise, stripes or dots), the scene
is lit by a gradient and a soft shadow, blurred and given sensor noise — so texture and shading make
gradients that are *not* boundaries (a detector must learn which edges a person would draw). Each
annotator sees the region map through a small smooth displacement (±1 px), merges low-contrast neighbours
with a probability that falls with their colour contrast, and drops small objects now and then — the ways
BSDS's human annotators disagree. The soft label of a pixel is the fraction of annotators marking it, as in
BSDS training (and DiffusionEdge's uncertainty threshold 0.3 has something to act on).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.data.errors import DataError, require_dir
from common.data.synthetic import item_rng

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# ----------------------------------------------------------------------------- synthetic scenes
def _smooth_field(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """A smooth random field (size, size) with values in about ±amplitude."""
    import cv2

    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) * amplitude


def _region_map(rng: np.random.Generator, size: int, n_regions: int, n_objects: int) -> np.ndarray:
    """(size, size) int32 labels: a Voronoi partition with curved borders, then objects pasted on top."""
    import cv2

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # warping the coordinates bends the straight Voronoi borders into natural-looking curves
    wy = yy + _smooth_field(rng, size, 4, size * 0.06)
    wx = xx + _smooth_field(rng, size, 4, size * 0.06)
    seeds = rng.uniform(0, size, (n_regions, 2)).astype(np.float32)
    d = (wy[None] - seeds[:, 0, None, None]) ** 2 + (wx[None] - seeds[:, 1, None, None]) ** 2
    labels = d.argmin(0).astype(np.int32)
    nxt = n_regions
    for _ in range(n_objects):
        mask = np.zeros((size, size), np.uint8)
        c = rng.uniform(0.15, 0.85, 2) * size
        r = rng.uniform(0.08, 0.25, 2) * size
        if rng.random() < 0.5:
            cv2.ellipse(mask, (int(c[0]), int(c[1])), (max(2, int(r[0])), max(2, int(r[1]))),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            rad = rng.uniform(0.5, 1.0, ang.size) * r.mean()
            pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
        if mask.sum() >= 9:
            labels[mask > 0] = nxt
            nxt += 1
    return _relabel(labels)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive labels 0..n−1 in order of first appearance."""
    _, inv = np.unique(labels, return_inverse=True)
    return inv.reshape(labels.shape).astype(np.int32)


def _texture(rng: np.random.Generator, size: int, colour: np.ndarray) -> np.ndarray:
    """A region's appearance (size, size, 3) float32 in 0..255: its colour with one texture on top."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.broadcast_to(colour.astype(np.float32), (size, size, 3)).copy()
    kind = rng.choice(["flat", "noise", "stripes", "dots"], p=[0.25, 0.35, 0.25, 0.15])
    amp = float(rng.uniform(8, 35))
    if kind == "noise":
        field = sum(_smooth_field(rng, size, 2 ** (o + 2), 1.0) / 2 ** o for o in range(3))
        img += amp * field[..., None]
    elif kind == "stripes":
        theta, freq = rng.uniform(0, np.pi), rng.uniform(4, 14)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3))
        img += amp * wave[..., None]
    elif kind == "dots":
        n = int(rng.integers(20, 60))
        for y, x in rng.uniform(0, size, (n, 2)).astype(int):
            img[max(0, y - 1):y + 1, max(0, x - 1):x + 1] += amp * rng.choice([-1, 1])
    return img


def _boundaries(seg: np.ndarray) -> np.ndarray:
    """1-pixel boundaries of a segmentation (BSDS's ``seg2bmap`` convention: a pixel is on a boundary when
    its right or lower neighbour has another label). (H, W) uint8 0/1."""
    b = np.zeros(seg.shape, np.uint8)
    b[:, :-1] |= (seg[:, :-1] != seg[:, 1:]).astype(np.uint8)
    b[:-1, :] |= (seg[:-1, :] != seg[1:, :]).astype(np.uint8)
    return b


def _neighbour_pairs(seg: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for a, b in ((seg[:, :-1], seg[:, 1:]), (seg[:-1, :], seg[1:, :])):
        m = a != b
        for i, j in zip(a[m].tolist(), b[m].tolist()):
            pairs.add((min(i, j), max(i, j)))
    return pairs


@dataclass(frozen=True)
class Annotators:
    """How the synthetic annotators disagree. ``contrast_mid``: colour distance (0..441) at which half of
    them draw a boundary; ``contrast_width``: softness of that choice; ``jitter_px``: amplitude of each
    annotator's smooth displacement; ``drop_small``: probability of ignoring an object below ``small_frac``
    of the image."""
    count: int = 5
    contrast_mid: float = 40.0
    contrast_width: float = 12.0
    jitter_px: float = 0.7
    drop_small: float = 0.4
    small_frac: float = 0.02


def annotate(rng: np.random.Generator, labels: np.ndarray, colours: np.ndarray,
             a: Annotators = Annotators()) -> tuple[np.ndarray, np.ndarray]:
    """Per annotator (A, H, W) segmentations (uint16, labels from 1, as BSDS) and boundaries (uint8)."""
    import cv2

    size = labels.shape[0]
    n = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=n) / labels.size
    pairs = sorted(_neighbour_pairs(labels))
    segs, bounds = [], []
    for _ in range(a.count):
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in pairs:  # merge low-contrast neighbours (probability falls with contrast)
            contrast = float(np.linalg.norm(colours[i] - colours[j]))
            p_draw = 1.0 / (1.0 + np.exp(-(contrast - a.contrast_mid) / a.contrast_width))
            if rng.random() > p_draw:
                parent[find(i)] = find(j)
        for i, j in pairs:  # sometimes ignore a small object: it joins a neighbour
            small = i if area[i] < area[j] else j
            if area[small] < a.small_frac and rng.random() < a.drop_small:
                parent[find(small)] = find(j if small == i else i)
        merged = np.array([find(i) for i in range(n)], np.int32)[labels]
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        my = yy + _smooth_field(rng, size, 3, a.jitter_px)
        mx = xx + _smooth_field(rng, size, 3, a.jitter_px)
        warped = cv2.remap(merged.astype(np.float32), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        seg = _relabel(warped.astype(np.int32)) + 1
        segs.append(seg.astype(np.uint16))
        bounds.append(_boundaries(seg))
    return np.stack(segs), np.stack(bounds)


def synthetic_scene(seed: int, index: int, size: int, annotators: Annotators = Annotators()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: image (size, size, 3) uint8 RGB, segmentations (A, size, size) uint16 and boundaries
    (A, size, size) uint8 of its A annotators. Identical for the same (seed, index) whatever else is made."""
    import cv2

    rng = item_rng(seed, index, stream=31)
    labels = _region_map(rng, size, int(rng.integers(3, 8)), int(rng.integers(1, 5)))
    n = int(labels.max()) + 1
    colours = rng.uniform(20, 235, (n, 3))
    for i in range(1, n):  # some neighbours nearly share a colour: the boundaries annotators disagree on
        if rng.random() < 0.3:
            colours[i] = np.clip(colours[int(rng.integers(0, i))] + rng.normal(0, 18, 3), 0, 255)
    img = np.zeros((size, size, 3), np.float32)
    for i in range(n):
        m = labels == i
        img[m] = _texture(rng, size, colours[i])[m]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    theta = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.1, 0.35) * ((xx - 0.5) * np.cos(theta) + (yy - 0.5) * np.sin(theta))
    c = rng.uniform(0, 1, 2)
    light *= 1 - rng.uniform(0, 0.35) * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * rng.uniform(0.05, 0.2) ** 2))
    img *= light[..., None]
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.1)))
    img += rng.normal(0, rng.uniform(2, 7), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    segs, bounds = annotate(rng, labels, colours, annotators)
    return img, segs, bounds


def soft_label(boundaries: np.ndarray) -> np.ndarray:
    """Fraction of annotators marking each pixel: (A, H, W) 0/1 → (H, W) float32 in [0, 1]."""
    return boundaries.astype(np.float32).mean(0)


# ----------------------------------------------------------------------------- BSDS500 layout (the prepared format)
def write_bsds_item(root: str | Path, split: str, name: str, image: np.ndarray, segs: np.ndarray,
                    bounds: np.ndarray) -> None:
    """``images/<split>/<name>.png`` and ``groundTruth/<split>/<name>.mat`` as BSDS500 stores them."""
    import scipy.io
    from PIL import Image

    root = Path(root)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / split / f"{name}.png")
    cell = np.empty((1, len(bounds)), dtype=object)
    for i, (s, b) in enumerate(zip(segs, bounds)):
        cell[0, i] = {"Segmentation": s.astype(np.uint16), "Boundaries": b.astype(bool)}
    scipy.io.savemat(root / "groundTruth" / split / f"{name}.mat", {"groundTruth": cell}, do_compression=True)


def read_bsds_mat(path: str | Path) -> np.ndarray:
    """Boundaries of every annotator in a BSDS500 ``groundTruth`` file: (A, H, W) uint8 0/1."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for non-MAT input
        raise DataError(path, f"cannot read MAT file ({e.__class__.__name__}: {e})",
                        expected="a MATLAB .mat file with a 'groundTruth' cell array") from e
    if "groundTruth" not in mat:
        raise DataError(path, f"no 'groundTruth' variable (has {sorted(k for k in mat if not k.startswith('__'))})",
                        expected="BSDS500's groundTruth cell array of structs with Boundaries")
    cell = np.asarray(mat["groundTruth"]).ravel()
    if cell.size == 0:
        raise DataError(path, "empty groundTruth", expected="at least one annotator")
    out = []
    for i, entry in enumerate(cell):
        names = entry.dtype.names or ()
        if "Boundaries" not in names:
            raise DataError(path, f"annotator {i + 1} has no 'Boundaries' field (has {list(names)})",
                            expected="structs with Segmentation and Boundaries")
        b = np.asarray(entry["Boundaries"][0, 0])
        if b.ndim != 2:
            raise DataError(path, f"annotator {i + 1}: Boundaries of shape {b.shape}", expected="a 2-D map")
        out.append((b > 0).astype(np.uint8))
    if len({b.shape for b in out}) > 1:
        raise DataError(path, f"annotators' maps differ in size: {sorted({b.shape for b in out})}",
                        expected="one size per image")
    return np.stack(out)


@dataclass
class EdgeItem:
    name: str
    image: Path
    boundaries: np.ndarray  # (A, H, W) uint8


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a clear error for unreadable files."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, "cannot read image", expected="a readable image file (png/jpg/bmp/tif)")
    return np.ascontiguousarray(img[..., ::-1])


def _images(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(folder, "no images", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    return files


def _check_size(img_path: Path, gt_path: Path, gt: np.ndarray) -> None:
    from common.data.images import image_size

    w, h = image_size(img_path)
    if gt.shape[-2:] != (h, w):
        raise DataError(gt_path, f"ground truth {gt.shape[-1]}×{gt.shape[-2]} but image {img_path.name} is {w}×{h}",
                        expected="ground truth of the image's size")


def load_bsds(root: str | Path, split: str) -> list[EdgeItem]:
    """BSDS500: ``<root>/images/<split>/*.jpg|png`` and ``<root>/groundTruth/<split>/<id>.mat``."""
    root = Path(root)
    img_dir = require_dir(root / "images" / split, f"BSDS500 {split} images")
    gt_dir = require_dir(root / "groundTruth" / split, f"BSDS500 {split} groundTruth")
    items = []
    for p in _images(img_dir):
        mat = gt_dir / f"{p.stem}.mat"
        if not mat.is_file():
            raise DataError(mat, f"missing ground truth for image {p.name}", expected="one <id>.mat per image")
        gt = read_bsds_mat(mat)
        _check_size(p, mat, gt)
        items.append(EdgeItem(p.stem, p, gt))
    return items


EDGE_THRESHOLD = 127  # BIPED's rule: an 8-bit map (max > 1) marks an edge where the value is > 127; a 0/1 map where > 0


def binarise(m: np.ndarray) -> np.ndarray:
    """(H, W) 8-bit greyscale edge map → (1, H, W) uint8 0/1 (:data:`EDGE_THRESHOLD`)."""
    return (m > EDGE_THRESHOLD).astype(np.uint8)[None] if m.max() > 1 else (m > 0).astype(np.uint8)[None]


def _binary_png(path: Path) -> np.ndarray:
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise DataError(path, "cannot read edge map", expected="a greyscale image (edges > 0)")
    return binarise(m)


def load_nyud(root: str | Path, split: str) -> list[EdgeItem]:
    """NYUDv2 as distributed for edge detection (RCF / PiDiNet): ``<root>/<split>/Images/*.png`` with
    ``<root>/<split>/GT/<id>.png`` (binary edge map) or ``<id>.mat`` (BSDS-style groundTruth)."""
    root = Path(root)
    img_dir = require_dir(root / split / "Images", f"NYUDv2 {split} Images")
    gt_dir = require_dir(root / split / "GT", f"NYUDv2 {split} GT")
    items = []
    for p in _images(img_dir):
        png, mat = gt_dir / f"{p.stem}.png", gt_dir / f"{p.stem}.mat"
        if mat.is_file():
            gt, src = read_bsds_mat(mat), mat
        elif png.is_file():
            gt, src = _binary_png(png), png
        else:
            raise DataError(gt_dir / f"{p.stem}.png", f"missing ground truth for image {p.name}",
                            expected="<id>.png or <id>.mat per image")
        _check_size(p, src, gt)
        items.append(EdgeItem(p.stem, p, gt))
    return items


def load_biped(root: str | Path, split: str) -> list[EdgeItem]:
    """BIPED: ``<root>/edges/imgs/<split>/rgbr/**.jpg`` with ``<root>/edges/edge_maps/<split>/rgbr/**.png``
    (same relative path and stem; train images sit under ``rgbr/real/``)."""
    root = Path(root)
    img_root = require_dir(root / "edges" / "imgs" / split / "rgbr", f"BIPED {split} images")
    gt_root = require_dir(root / "edges" / "edge_maps" / split / "rgbr", f"BIPED {split} edge maps")
    files = sorted(p for p in img_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(img_root, "no images", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    items = []
    for p in files:
        gt_path = gt_root / p.relative_to(img_root).with_suffix(".png")
        if not gt_path.is_file():
            raise DataError(gt_path, f"missing edge map for image {p.name}", expected="<stem>.png per image")
        gt = _binary_png(gt_path)
        _check_size(p, gt_path, gt)
        items.append(EdgeItem(re.sub(r"[^\w.-]", "_", str(p.relative_to(img_root).with_suffix(""))), p, gt))
    return items


def read_edge_map(path: str | Path) -> np.ndarray:
    """A user's edge map as (H, W) uint8 0..255 — 0/1 for a 1-bit map, or a 16-/32-bit one whose values are all 0
    or 1 (binary, as :func:`binarise` reads 0/1 maps): single-channel (1-bit, 8-bit or 16-bit greyscale) or
    convertible to it — a palette or RGB(A) image whose colour channels are equal everywhere (a grey map saved in colour), with
    no transparency. A colour map, a transparent one or an unreadable file is a :class:`DataError`."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    expected = "a single-channel edge map (or RGB with equal channels), edges bright"
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA")
                mode = "RGBA"
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"cannot read edge map ({e.__class__.__name__}: {e})", expected=expected) from e
    if mode == "1":
        return arr.astype(np.uint8)  # 0/1
    if mode == "L":
        return arr
    if mode.startswith("I") and arr.ndim == 2:  # 16-/32-bit greyscale: to 8 bits, as OpenCV reads BIPED's maps
        if arr.min() >= 0 and arr.max() <= 1:  # a 0/1 map stored in 16 bits: binary, not 1/65535 of white
            return arr.astype(np.uint8)
        top = 65535 if mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
        return np.clip(np.round(arr.astype(np.float64) / top * 255), 0, 255).astype(np.uint8)
    if mode in ("LA", "RGBA") and arr[..., -1].min() < 255:
        raise DataError(path, f"edge map has transparency (mode {mode}, alpha min {int(arr[..., -1].min())})",
                        expected=expected)
    if mode in ("LA", "RGB", "RGBA"):
        colour = arr[..., :-1] if mode in ("LA", "RGBA") else arr
        if colour.shape[-1] > 1 and not (colour == colour[..., :1]).all():
            raise DataError(path, f"edge map is a colour image (mode {mode}, its channels differ)", expected=expected)
        return np.ascontiguousarray(colour[..., 0])
    raise DataError(path, f"edge map of unsupported mode {mode}", expected=expected)


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    """stem → file for the images in ``folder``; two files with one stem (``a.png`` + ``a.jpg``) are an error."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.stem in out:
            raise DataError(p, f"two {what} share the name {p.stem!r} ({out[p.stem].name}, {p.name})",
                            expected="one file per name")
        out[p.stem] = p
    if not out:
        raise DataError(folder, f"no {what}", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    return out


def load_folder(images_dir: str | Path, edges_dir: str | Path) -> list[EdgeItem]:
    """A user's folder of images with same-named edge maps in another folder (matched by file stem, any image
    suffix on either side). Edge maps are read by :func:`read_edge_map` and binarised as BIPED's
    (:func:`binarise`: > 127 on 8-bit maps, > 0 on 0/1 maps); one annotator per image."""
    img_dir = require_dir(images_dir, "images")
    edge_dir = require_dir(edges_dir, "edge maps")
    images, edges = _by_stem(img_dir, "images"), _by_stem(edge_dir, "edge maps")
    no_edges, no_image = sorted(set(images) - set(edges)), sorted(set(edges) - set(images))
    if no_edges or no_image:
        parts = []
        if no_edges:
            parts.append(f"{len(no_edges)} image(s) in {img_dir} without an edge map in {edge_dir}: "
                         f"{', '.join(images[k].name for k in no_edges[:5])}{' …' if len(no_edges) > 5 else ''}")
        if no_image:
            parts.append(f"{len(no_image)} edge map(s) in {edge_dir} without an image in {img_dir}: "
                         f"{', '.join(edges[k].name for k in no_image[:5])}{' …' if len(no_image) > 5 else ''}")
        raise DataError(img_dir, "; ".join(parts), expected="one edge map per image, matched by file name (stem)")
    items, names, gt_any = [], {}, {}
    for stem in sorted(images):
        name = re.sub(r"[^\w.-]", "_", stem)
        if name in names:
            raise DataError(images[stem], f"its name becomes {name!r}, as {names[name].name}'s does",
                            expected="file names that differ in letters, digits, '.', '-' or '_'")
        names[name] = images[stem]
        gt = binarise(read_edge_map(edges[stem]))
        _check_size(images[stem], edges[stem], gt)
        gt_any[stem] = bool(gt.any())
        items.append(EdgeItem(name, images[stem], gt))
    empty = [edges[stem].name for stem in sorted(images) if not gt_any[stem]]
    if empty:  # legitimate (a blank image has no edges) but said, not silent
        print(f"note: {len(empty)} of {len(items)} edge map(s) in {edge_dir} have no edge pixel: "
              f"{', '.join(empty[:5])}{' …' if len(empty) > 5 else ''}")
    return items


def empty_edge_maps(items: list[EdgeItem]) -> list[str]:
    """Names of the items whose ground truth has no edge pixel (for prepare's counts: an empty map is allowed)."""
    return [it.name for it in items if not it.boundaries.any()]


LOADERS = {"bsds": load_bsds, "nyud": load_nyud, "biped": load_biped}
