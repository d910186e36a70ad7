"""Super-resolution data: HR sources (the real photos scikit-image ships + procedural textures), a
Real-ESRGAN-style degradation that makes LR from HR, and loaders for real paired / HR-only folders
(DIV2K, RealSR, DRealSR layouts) for the ``full`` profile.

The degradation is written here (numpy + OpenCV) because basicsr, which holds Real-ESRGAN's, imports a
torchvision module removed years ago and cannot be installed beside our torch. It keeps Real-ESRGAN's
*second-order* structure (Wang et al., ICCVW 2021, §3): twice {blur (isotropic / anisotropic Gaussian),
random resize (area / bilinear / bicubic), Gaussian or Poisson noise (colour or grey), JPEG}, then the
final resize to HR / scale and a last JPEG. Every random choice comes from a generator seeded by
``(seed, index)``, so an LR image is the same whatever the number of images made.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.data.errors import DataError, require_dir
from common.data.synthetic import item_rng

# real photos shipped inside scikit-image (no download); grey ones are used as RGB
TRAIN_PHOTOS = ("astronaut", "coffee", "hubble_deep_field", "retina", "immunohistochemistry", "moon", "brick",
                "grass", "coins", "clock", "cell", "page", "text")
VAL_PHOTOS = ("chelsea", "rocket", "camera", "gravel")  # held out: validation crops come from unseen photos
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as (H, W, 3) uint8 RGB."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A procedural texture with the structures SR must restore: sharp-edged shapes, stripes and
    multi-octave noise, in random colours. (size, size, 3) uint8."""
    import cv2

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32)
    for octave in range(4):  # fractal value noise
        n = 2 ** (octave + 2)
        coarse = rng.uniform(0, 1, (n, n, 3)).astype(np.float32)
        img += cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) / 2 ** octave
    img = img / 2 * 255
    for _ in range(int(rng.integers(1, 4))):  # oriented stripes (fine periodic detail)
        theta, freq = rng.uniform(0, np.pi), rng.uniform(8, 40)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3))
        mask = (rng.uniform(0, 1, 2) < 0.5)
        stripe = (wave > 0) if mask[0] else (wave + 1) / 2
        img = img * 0.6 + 0.4 * stripe[..., None] * rng.uniform(0, 255, 3).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 10))):  # sharp-edged shapes
        c = tuple(int(v) for v in rng.uniform(0, 255, 3))
        pts = rng.uniform(0, size, (int(rng.integers(3, 7)), 2)).astype(np.int32)
        if rng.random() < 0.5:
            cv2.fillPoly(out, [cv2.convexHull(pts)], c, lineType=cv2.LINE_AA)
        else:
            cv2.circle(out, tuple(int(v) for v in pts[0]), int(rng.integers(3, size // 4)), c, int(rng.choice([-1, 1, 2])),
                       lineType=cv2.LINE_AA)
    return out


# ----------------------------------------------------------------------------- degradation
@dataclass(frozen=True)
class Degradation:
    """Real-ESRGAN's ranges (its ``train_realesrnet_x4plus.yml``), first and second order."""
    scale: int = 4
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    noise_sigma: tuple[float, float] = (1.0, 30.0)
    noise_sigma2: tuple[float, float] = (1.0, 25.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    poisson_scale2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)
    second_order_prob: float = 0.8


_INTERP = (1, 2, 3)  # cv2.INTER_LINEAR, INTER_CUBIC, INTER_AREA


def gaussian_kernel(rng: np.random.Generator, sigma_range: tuple[float, float], size: int = 21) -> np.ndarray:
    """Isotropic or anisotropic (rotated) Gaussian kernel, normalised to sum 1."""
    sx = rng.uniform(*sigma_range)
    sy = sx if rng.random() < 0.5 else rng.uniform(*sigma_range)
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    cov = np.array([[c, -s], [s, c]]) @ np.diag([sx ** 2, sy ** 2]) @ np.array([[c, s], [-s, c]])
    inv = np.linalg.inv(cov)
    r = np.arange(size) - size // 2
    grid = np.stack(np.meshgrid(r, r), -1).astype(np.float64)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", grid, inv, grid))
    return (k / k.sum()).astype(np.float32)


def _noise(img: np.ndarray, rng: np.random.Generator, sigma: tuple, poisson: tuple, gray_prob: float) -> np.ndarray:
    gray = rng.random() < gray_prob
    if rng.random() < 0.5:
        shape = img.shape[:2] + (1,) if gray else img.shape
        return img + rng.normal(0, rng.uniform(*sigma), shape).astype(np.float32)
    scale = rng.uniform(*poisson)
    base = img.mean(2, keepdims=True) if gray else img
    vals = np.clip(base, 0, 255) / 255.0
    noisy = rng.poisson(vals * 255 * 10 / scale) / (255 * 10 / scale) * 255  # Poisson with a random scale
    return img + (noisy - np.clip(base, 0, 255)).astype(np.float32)


def _jpeg(img: np.ndarray, rng: np.random.Generator, q: tuple[int, int]) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).round().astype(np.uint8)[..., ::-1],
                           [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(q[0], q[1] + 1))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32)


def degrade(hr: np.ndarray, rng: np.random.Generator, d: Degradation = Degradation()) -> np.ndarray:
    """HR (H, W, 3) uint8 → LR (H/scale, W/scale, 3) uint8 by the second-order degradation."""
    import cv2

    h, w = hr.shape[:2]
    if h % d.scale or w % d.scale:
        raise ValueError(f"HR size {w}×{h} is not a multiple of the scale {d.scale}")
    img = hr.astype(np.float32)
    orders = [(d.blur_sigma, d.resize_range, d.noise_sigma, d.poisson_scale)]
    if rng.random() < d.second_order_prob:
        orders.append((d.blur_sigma2, d.resize_range2, d.noise_sigma2, d.poisson_scale2))
    for blur, resize, sigma, poisson in orders:
        img = cv2.filter2D(img, -1, gaussian_kernel(rng, blur), borderType=cv2.BORDER_REFLECT)
        f = rng.uniform(*resize) if rng.random() < 0.7 else 1.0
        ch, cw = img.shape[:2]
        img = cv2.resize(img, (max(4, round(cw * f)), max(4, round(ch * f))), interpolation=int(rng.choice(_INTERP)))
        img = _noise(img, rng, sigma, poisson, d.gray_noise_prob)
        img = _jpeg(img, rng, d.jpeg_range)
    img = cv2.resize(img, (w // d.scale, h // d.scale), interpolation=int(rng.choice(_INTERP)))
    img = _jpeg(img, rng, d.jpeg_range)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def random_crop(img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = cv2.resize(img, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return np.ascontiguousarray(img[y: y + size, x: x + size])


def synthetic_pair(seed: int, index: int, split: str, hr_size: int, texture_frac: float,
                   d: Degradation = Degradation()) -> tuple[np.ndarray, np.ndarray, str]:
    """(HR crop, its LR, source name) of item ``index`` of ``split``."""
    rng = item_rng(seed, index, stream={"train": 10, "val": 11}[split])
    photos = TRAIN_PHOTOS if split == "train" else VAL_PHOTOS
    if rng.random() < texture_frac:
        hr, src = texture(rng, hr_size), "texture"
    else:
        src = photos[int(rng.integers(len(photos)))]
        hr = random_crop(photo(src), rng, hr_size)
        if rng.random() < 0.5:
            hr = np.ascontiguousarray(hr[:, ::-1])
    return hr, degrade(hr, rng, d), src


# ----------------------------------------------------------------------------- real folders
def read_rgb(path: str | Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, "cannot read image", expected="a readable image file (png/jpg/bmp/tif)")
    return np.ascontiguousarray(img[..., ::-1])


_SUFFIX = re.compile(r"(?i)([_-]?(hr|lr\d*|x\d+))+$")


def pair_key(stem: str) -> str:
    """Name shared by an HR file and its LR file across the usual layouts: DIV2K ``0001`` / ``0001x4``,
    RealSR ``Canon_001_HR`` / ``Canon_001_LR4``, DRealSR ``DSC_1454_x1`` / ``DSC_1454_x4``."""
    return _SUFFIX.sub("", stem)


MIN_LR_SIDE = 4  # LR pixels per side at least (evaluation reflect-pads LR images to a multiple of 2 latent cells)


def pair_folders(hr_dir: str | Path, lr_dir: str | Path, scale: int) -> list[tuple[Path, Path]]:
    """Match HR and LR images by :func:`pair_key` (the same stem, or the usual suffixes: DIV2K ``x4``, RealSR
    ``_HR`` / ``_LR4``, DRealSR ``_x1`` / ``_x4``); both folders may be the same (RealSR keeps both in one).
    An unmatched image (either side) or two files of one name is an error; so is a size other than
    LR = ⌊HR / scale⌋ on each side — HR = scale × LR exactly, or an HR that is not a multiple of the scale and
    only its last < scale rows / columns are extra (:func:`crop_hr` crops them off, never resizes)."""
    from common.data.images import image_size

    hr_dir, lr_dir = require_dir(hr_dir, "HR images"), require_dir(lr_dir, "LR images")
    same = hr_dir.resolve() == lr_dir.resolve()

    def files(d: Path, want: str | None, what: str) -> dict[str, Path]:
        out = {}
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
                continue
            if want and not re.search(want, p.stem, re.I):
                continue
            k = pair_key(p.stem)
            if k in out:
                raise DataError(p, f"two {what} images share the name {k!r} ({out[k].name}, {p.name})",
                                expected=f"one {what} image per name")
            out[k] = p
        return out

    hr = files(hr_dir, r"(hr|x1)$" if same else None, "HR")
    lr = files(lr_dir, r"(lr\d*|x\d+)$" if same else None, "LR")
    if not hr:
        raise DataError(hr_dir, "no HR images", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    missing = sorted(set(hr) ^ set(lr))
    if missing:
        k = missing[0]
        where = lr_dir if k in hr else hr_dir
        no_lr, no_hr = sorted(set(hr) - set(lr)), sorted(set(lr) - set(hr))

        def names(keys, d):
            return ", ".join(d[x].name for x in keys[:5]) + (" …" if len(keys) > 5 else "")

        parts = []
        if no_lr:
            parts.append(f"{len(no_lr)} HR image(s) in {hr_dir} without an LR in {lr_dir}: {names(no_lr, hr)}")
        if no_hr:
            parts.append(f"{len(no_hr)} LR image(s) in {lr_dir} without an HR in {hr_dir}: {names(no_hr, lr)}")
        raise DataError(where, f"{len(missing)} image(s) without a partner, e.g. {(hr.get(k) or lr.get(k)).name} "
                               f"({'; '.join(parts)})",
                        expected="one LR image per HR image, matched by name (same stem, or DIV2K / RealSR / "
                                 "DRealSR naming)")
    pairs = []
    for k in sorted(hr):
        (hw, hh), (lw, lh) = image_size(hr[k]), image_size(lr[k])
        if hw // scale != lw or hh // scale != lh:
            raise DataError(lr[k], f"LR size {lw}×{lh} × {scale} does not match HR {hr[k].name} ({hw}×{hh})",
                            expected=f"LR = HR / {scale} (HR {lw * scale}×{lh * scale}, or up to {scale - 1} px more, "
                                     "cropped off)")
        if min(lw, lh) < MIN_LR_SIDE:
            raise DataError(lr[k], f"LR size {lw}×{lh} is too small", expected=f"at least {MIN_LR_SIDE} px per side")
        pairs.append((hr[k], lr[k]))
    return pairs


def crop_hr(hr: np.ndarray, h: int, w: int, path: str | Path) -> tuple[np.ndarray, list[int]]:
    """HR (read from ``path``) cropped at the bottom / right to h × w (scale × the LR size), and the rows / columns
    removed ``[dh, dw]``. Never a resize."""
    if h > hr.shape[0] or w > hr.shape[1]:
        raise DataError(path, f"decoded HR image is {hr.shape[1]}×{hr.shape[0]}, smaller than {w}×{h}",
                        expected=f"HR ≥ {w}×{h} (scale × LR)")
    return np.ascontiguousarray(hr[:h, :w]), [hr.shape[0] - h, hr.shape[1] - w]


def crop_to_scale(hr: np.ndarray, scale: int, path: str | Path) -> tuple[np.ndarray, list[int]]:
    """An HR-only image cropped at the bottom / right to a multiple of ``scale`` (at most scale − 1 rows and columns
    go; never a resize) and the rows / columns removed ``[dh, dw]``; an image whose LR would be smaller than
    :data:`MIN_LR_SIDE` is a :class:`DataError`."""
    hh, hw = hr.shape[:2]
    h, w = hh - hh % scale, hw - hw % scale
    if min(h, w) // scale < MIN_LR_SIDE:
        raise DataError(path, f"HR size {hw}×{hh} is too small for scale {scale}",
                        expected=f"at least {MIN_LR_SIDE * scale} px per side (LR ≥ {MIN_LR_SIDE} px)")
    return crop_hr(hr, h, w, path)


def hr_only_folder(hr_dir: str | Path) -> list[Path]:
    """The HR images of a folder (LR made by :func:`degrade`); two files of one stem (``a.png``, ``a.jpg``) are an
    error (they would be written to one name)."""
    hr_dir = require_dir(hr_dir, "HR images")
    files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(hr_dir, "no HR images", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise DataError(p, f"two HR images share the name {p.stem!r} ({seen[p.stem].name}, {p.name})",
                            expected="one HR image per name")
        seen[p.stem] = p
    return files
