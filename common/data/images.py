"""Image-file checks: decode every image once up front so a corrupt file fails with its name, instead of
being skipped with a warning deep inside a data loader."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from common.data.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """The images in ``folder`` (and its subfolders when ``recursive``), sorted by path."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a fully decodable image; :class:`DataError` otherwise."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()  # decodes the pixel data: truncated or garbage files fail here
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"corrupt or unreadable image ({e.__class__.__name__}: {e})",
                        expected="a decodable image file") from e
