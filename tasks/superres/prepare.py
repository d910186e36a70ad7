"""Stage ``prepare``: write HR / LR pairs to ``data/superres/prepare/dataset/{train,val}/{hr,lr}/`` and
``manifest.json`` (source of every item, scale, sizes). The later stages read the scale from this manifest.

``source: synthetic`` (tiny/smoke): HR crops of scikit-image's real photos (validation from photos held out
of training) and procedural textures, LR by the Real-ESRGAN-style degradation (:mod:`tasks.superres.data`).
``source: folders`` (full, or your own data): ``{split: {hr, lr}}`` paired folders under ``raw_dir``, matched by
name (the same stem, or DIV2K / RealSR / DRealSR naming), each LR = ⌊HR / scale⌋
(:func:`tasks.superres.data.pair_folders`); or ``{split: {hr}}`` HR-only folders whose LR is made by the synthetic source's degradation at the same ``scale``.
HR sizes are never resized: an HR that is not a multiple of the scale loses its last < scale rows / columns
(bottom / right; recorded as ``hr_cropped`` in the manifest); an LR side under 4 px is refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from common.stage import Field, StageParams, main


class SplitFolders(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hr: str = Field(description="folder of HR images, relative to raw_dir")
    lr: str | None = Field(None, description="folder of the paired LR images (none: LR made by the degradation)")


class Params(StageParams):
    source: Literal["synthetic", "folders"] = Field(description="synthetic pairs, or image folders under raw_dir")
    scale: int = Field(4, ge=2, description="upscaling factor: HR side = scale × LR side")
    train_images: int = Field(800, ge=1, description="synthetic: training pairs")
    val_images: int = Field(48, ge=1, description="synthetic: validation pairs")
    hr_size: int = Field(128, ge=16, description="synthetic: HR crop side in pixels (a multiple of scale)")
    texture_frac: float = Field(0.3, ge=0, le=1, description="synthetic: share of procedural textures (the rest: "
                                                             "crops of real photos)")
    raw_dir: str | None = Field(None, description="folders: the root of the image folders")
    splits: dict[Literal["train", "val"], SplitFolders] | None = Field(
        None, description="folders: our split → its HR (and LR) folder")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "folders" and not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}):
            raise ValueError("source folders needs raw_dir and splits for both train and val")
        if self.source == "synthetic" and self.hr_size % self.scale:
            raise ValueError(f"hr_size ({self.hr_size}) must be a multiple of scale ({self.scale})")
        return self


def _save(path: Path, img) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def run(params: Params, out_dir: Path) -> dict:
    from tqdm import tqdm

    from common.data.synthetic import item_rng
    from common.io import atomic_dir, atomic_write_json
    from tasks.superres.data import (Degradation, crop_hr, crop_to_scale, degrade, hr_only_folder, pair_folders,
                                      read_rgb, synthetic_pair)

    scale = params.scale
    d = Degradation(scale=scale)
    manifest = {"scale": scale, "source": params.source, "splits": {}}
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        for split in ("train", "val"):
            items = []
            if params.source == "synthetic":
                count = params.train_images if split == "train" else params.val_images
                for i in tqdm(range(count), desc=f"{split} pairs", unit="img", mininterval=2):
                    hr, lr, src = synthetic_pair(params.seed, i, split, params.hr_size, params.texture_frac, d)
                    _save(root / split / "hr" / f"{i:05d}.png", hr)
                    _save(root / split / "lr" / f"{i:05d}.png", lr)
                    items.append({"name": f"{i:05d}", "source": src})
            else:
                spec = params.splits[split]
                raw = Path(params.raw_dir)
                if spec.lr is not None:
                    pairs = pair_folders(raw / spec.hr, raw / spec.lr, scale)
                    for hr_p, lr_p in tqdm(pairs, desc=f"{split} pairs", unit="img"):
                        lr = read_rgb(lr_p)  # HR cropped to exactly scale × LR (RealSR's differ by < scale px)
                        hr, cut = crop_hr(read_rgb(hr_p), lr.shape[0] * scale, lr.shape[1] * scale, hr_p)
                        _save(root / split / "hr" / f"{hr_p.stem}.png", hr)
                        _save(root / split / "lr" / f"{hr_p.stem}.png", lr)
                        items.append({"name": hr_p.stem, "source": str(hr_p), "lr_source": str(lr_p),
                                      **({"hr_cropped": cut} if any(cut) else {})})
                else:
                    for i, hr_p in enumerate(tqdm(hr_only_folder(raw / spec.hr), desc=f"{split} degrade", unit="img")):
                        # HR cropped (bottom / right, < scale px, never resized) to a multiple of the scale
                        hr, cut = crop_to_scale(read_rgb(hr_p), scale, hr_p)
                        _save(root / split / "hr" / f"{hr_p.stem}.png", hr)
                        _save(root / split / "lr" / f"{hr_p.stem}.png", degrade(hr, item_rng(params.seed, i, 12), d))
                        items.append({"name": hr_p.stem, "source": str(hr_p),
                                      **({"hr_cropped": cut} if any(cut) else {})})
                cropped = sum("hr_cropped" in it for it in items)
                if cropped:
                    print(f"{split}: {cropped} HR image(s) cropped by < {scale} px at the bottom / right to a multiple "
                          f"of the scale (manifest: hr_cropped = [rows, columns])")
            manifest["splits"][split] = items
        atomic_write_json(root / "manifest.json", manifest)
    print({s: len(v) for s, v in manifest["splits"].items()})
    return manifest


if __name__ == "__main__":
    main(__spec__.name, Params, run)
