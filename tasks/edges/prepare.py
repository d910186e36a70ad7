"""Stage ``prepare``: write the edge dataset to ``data/edges/prepare/dataset`` in BSDS500's layout
(``images/{train,val}/<id>.png`` + ``groundTruth/{train,val}/<id>.mat``) with ``manifest.json``.

``source: synthetic`` (tiny/smoke): :func:`tasks.edges.data.synthetic_scene` — region-boundary ground truth
from several jittered annotators. ``source: bsds | nyud | biped`` (full): the real dataset under
``raw_dir``, read by its loader (clear errors for missing or malformed files) and rewritten in the same
layout; ``splits`` maps our ``train`` / ``val`` to the dataset's split names (e.g. BSDS ``train + val`` →
train, ``test`` → val, as DiffusionEdge trains and tests). ``source: folder``: your own data — per split a folder
of images and a folder of same-named edge maps under ``raw_dir`` (``splits: {train: {images: DIR, edges: DIR},
val: {...}}``), matched by file stem, binarised as BIPED's (> 127 on 8-bit maps; :func:`tasks.edges.data.load_folder`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from common.stage import Field, StageParams, main


class AnnotatorParams(BaseModel):
    """How the synthetic annotators disagree (:class:`tasks.edges.data.Annotators`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(5, ge=1, description="annotators per scene (the soft label is the fraction marking a pixel)")
    contrast_mid: float = Field(40.0, ge=0, description="colour distance (0..441) at which half of them draw a boundary")
    contrast_width: float = Field(12.0, gt=0, description="softness of that choice")
    jitter_px: float = Field(0.7, ge=0, description="amplitude of each annotator's smooth displacement (pixels)")
    drop_small: float = Field(0.4, ge=0, le=1, description="probability of ignoring a small object")
    small_frac: float = Field(0.02, ge=0, le=1, description="an object below this share of the image is small")


class FolderSplit(BaseModel):
    """``source: folder``: one split's images and their same-named edge maps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: str = Field(description="folder of images, relative to raw_dir")
    edges: str = Field(description="folder of edge maps named like the images (any image suffix), relative to raw_dir")


class Params(StageParams):
    source: Literal["synthetic", "bsds", "nyud", "biped", "folder"] = Field(
        description="synthetic scenes, a real dataset (BSDS500, NYUDv2, BIPED) under raw_dir, or your own folders "
                    "of images + edge maps (folder)")
    train_images: int = Field(400, ge=1, description="synthetic: training scenes")
    val_images: int = Field(50, ge=1, description="synthetic: validation scenes")
    image_size: int = Field(64, ge=16, description="synthetic: scene side in pixels")
    annotators: AnnotatorParams = Field(default_factory=AnnotatorParams, description="synthetic: the annotators")
    raw_dir: str | None = Field(None, description="real data: the dataset's folder")
    splits: dict[Literal["train", "val"], str | list[str] | FolderSplit] | None = Field(
        None, description="real data: our split → the dataset's split name(s), e.g. {train: [train, val], val: test}; "
                          "folder: our split → {images: DIR, edges: DIR}")

    @model_validator(mode="after")
    def _check(self):
        if self.source != "synthetic" and not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}):
            raise ValueError(f"source {self.source} needs raw_dir and splits for both train and val")
        if self.source == "folder":
            bad = [k for k, v in self.splits.items() if not isinstance(v, FolderSplit)]
            if bad:
                raise ValueError(f"source folder needs splits.{bad[0]} as {{images: DIR, edges: DIR}}, "
                                 f"got {self.splits[bad[0]]!r}")
        elif self.splits:
            bad = [k for k, v in self.splits.items() if isinstance(v, FolderSplit)]
            if bad:
                raise ValueError(f"splits.{bad[0]}: {{images, edges}} folders need source folder "
                                 f"(source {self.source} takes the dataset's split name(s))")
        return self


def run(params: Params, out_dir: Path) -> dict:
    from tqdm import tqdm

    from common.io import atomic_dir, atomic_write_json
    from tasks.edges.data import (EDGE_THRESHOLD, LOADERS, Annotators, empty_edge_maps, load_folder, read_image,
                                  synthetic_scene, write_bsds_item)

    manifest = {"source": params.source, "splits": {}}
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        for split in ("train", "val"):
            names = []
            if params.source == "synthetic":
                ann = Annotators(**params.annotators.model_dump())
                offset = 0 if split == "train" else 1_000_000  # disjoint item seeds
                count = params.train_images if split == "train" else params.val_images
                for i in tqdm(range(count), desc=f"{split} scenes", unit="img", mininterval=2):
                    img, segs, bounds = synthetic_scene(params.seed, offset + i, params.image_size, ann)
                    write_bsds_item(root, split, f"{i:05d}", img, segs, bounds)
                    names.append(f"{i:05d}")
                manifest["annotators"] = ann.count
            else:
                import numpy as np

                wanted = params.splits[split]
                if isinstance(wanted, FolderSplit):  # your own folders: names are the files' stems
                    raw = Path(params.raw_dir)
                    batches = [("", wanted.images, load_folder(raw / wanted.images, raw / wanted.edges))]
                    manifest["binarise"] = f"edge maps: > {EDGE_THRESHOLD} of 255 (0/1 maps: > 0), as BIPED"
                else:
                    load = LOADERS[params.source]
                    batches = [(f"{s}_", s, load(params.raw_dir, s)) for s in ([wanted] if isinstance(wanted, str)
                                                                                 else wanted)]
                for prefix, label, items in batches:
                    empty = manifest.setdefault("empty_edge_maps", {})  # allowed (a blank image), but counted
                    empty[split] = empty.get(split, 0) + len(empty_edge_maps(items))
                    for item in tqdm(items, desc=f"{split} ← {label}", unit="img"):
                        name = f"{prefix}{item.name}"
                        segs = np.zeros(item.boundaries.shape, np.uint16)  # edge-only datasets: no regions
                        write_bsds_item(root, split, name, read_image(item.image), segs, item.boundaries)
                        names.append(name)
            manifest["splits"][split] = names
        atomic_write_json(root / "manifest.json", manifest)
    print({s: len(v) for s, v in manifest["splits"].items()})
    return manifest


if __name__ == "__main__":
    main(__spec__.name, Params, run)
