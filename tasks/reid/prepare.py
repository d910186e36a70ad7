"""Stage ``prepare``: write the ReID dataset to ``data/reid/prepare/dataset``: ``train.npz`` and ``val.npz``
(:class:`tasks.reid.data.SplitArrays`: images resized to ``image_size``, person ids, cameras, modality codes,
captions per person), ``stats.json`` and ``samples.png`` (a few identities in every modality, with a caption).

``source: synthetic`` (tiny/smoke): disjoint identity ranges for train and val, each rendered in RGB / IR /
sketch by several cameras (``views``: modality → [cameras, images per camera]) with ``captions_per_id``
descriptions. ``source: market1501 | sysu_mm01 | cuhk_pedes`` (full): the real dataset under ``raw_dir``, read
by its loader (``splits`` maps train / val to the dataset's split names, one or a list: Market-1501's val is
``[query, bounding_box_test]``, evaluated RGB → RGB across cameras).

``source: folders`` (your own data): ``raw_dir/<splits.train>/<identity>/<image>`` and the same for ``val`` (one
folder per person, the folder's name is the identity; RGB; see :func:`tasks.reid.data.load_folders`). Cameras come
from Market-style ``c<N>`` tags in the file names, or are unknown (no tags): then every image counts as its own
camera, so in the RGB → RGB evaluation a query's positives are all *other* images of its identity. As for every
source, the evaluation is leave-one-out over the validation split: each validation image is a query against all
the others (no separate query / gallery lists). Every validation identity needs two images (two cameras when tagged)
or prepare stops naming it. ``identities.json`` maps each split's pids (list positions) back to the folder names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main

Modality = Literal["rgb", "ir", "sketch"]  # tasks.reid.data.MODALITIES (tests check they agree)
Source = Literal["synthetic", "market1501", "sysu_mm01", "cuhk_pedes", "folders"]  # "synthetic" + tasks.reid.data.LOADERS
Count = Annotated[int, Field(ge=1)]


class Params(StageParams):
    source: Source = Field(description="synthetic identities, or a real dataset read by its loader")
    image_size: tuple[Count, Count] = Field((64, 32), description="[height, width] the images are resized to")
    train_ids: int = Field(150, ge=1, description="synthetic: training identities")
    val_ids: int = Field(50, ge=1, description="synthetic: validation identities (after the training ones)")
    captions_per_id: int = Field(2, ge=0, description="synthetic: descriptions per identity")
    views: dict[Modality, tuple[Count, Count]] | None = Field(
        None, description="synthetic: modality → [cameras, images per camera] of every identity (every modality)")
    raw_dir: str | None = Field(None, description="real dataset: the folder holding it")
    splits: dict[Literal["train", "val"], str | list[str]] | None = Field(
        None, description="real dataset: our split → the dataset's split name(s)")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "synthetic":
            missing = [m for m in ("rgb", "ir", "sketch") if m not in (self.views or {})]
            if missing:
                raise ValueError(f"source synthetic needs views of every modality; missing {missing}")
        elif not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}):
            raise ValueError(f"source {self.source} needs raw_dir and splits (train and val)")
        elif self.source == "folders" and not all(isinstance(v, str) for v in self.splits.values()):
            raise ValueError("source folders: each split is one folder of identity folders "
                             "(splits: {train: DIR, val: DIR}), not a list")
        return self


def samples_png(split, n_ids: int = 6, title: str = "synthetic identities: RGB | IR | sketch (and a caption)"
                ) -> bytes:
    """A grid: one row per identity, its images by modality, and its first caption under the row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from tasks.reid.data import MODALITIES

    pids = list(dict.fromkeys(split.pids.tolist()))[:n_ids]
    cols = []
    for p in pids:
        row = []
        for m in range(len(MODALITIES)):
            idx = np.flatnonzero((split.pids == p) & (split.modality == m))[:3]
            row += [split.images[i] for i in idx]
        cols.append(row)
    width = max(len(r) for r in cols)
    fig, axes = plt.subplots(len(pids), 1, figsize=(width * 0.55, len(pids) * 1.45))
    for ax, p, row in zip(np.atleast_1d(axes), pids, cols):
        ax.imshow(np.concatenate(row + [np.full_like(row[0], 255)] * (width - len(row)), axis=1))
        ax.set_xticks([])
        ax.set_yticks([])
        cap = split.captions.get(int(p), [""])[0]
        ax.set_xlabel(cap if len(cap) < 110 else cap[:107] + "…", fontsize=6)
        ax.set_ylabel(f"id {p}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def run(params: Params, out_dir: Path) -> dict:
    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json
    from tasks.reid.data import FOLDER_CAM_RE, LOADERS, MODALITIES, check_gallery, read_records, synthetic_split

    size = tuple(params.image_size)
    stats = {"source": params.source, "image_size": list(size), "splits": {}}
    names = {}  # source folders: split → identity names in pid order
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        root.mkdir(parents=True)
        for split in ("train", "val"):
            if params.source == "synthetic":
                start = 0 if split == "train" else params.train_ids
                pids = range(start, start + (params.train_ids if split == "train" else params.val_ids))
                views = {m: tuple(params.views[m]) for m in MODALITIES}
                arr = synthetic_split(params.seed, pids, views, size, params.captions_per_id)
            else:
                wanted = params.splits[split]  # one split name or a list (e.g. Market's query + gallery)
                records = [r for name in ([wanted] if isinstance(wanted, str) else wanted)
                           for r in LOADERS[params.source](params.raw_dir, name)]
                if params.source == "folders":
                    if split == "val":
                        check_gallery(records, Path(params.raw_dir) / wanted)
                    names[split] = list(dict.fromkeys(r.identity for r in records))
                    tagged = bool(FOLDER_CAM_RE.search(records[0].path.stem + "."))  # all or none (load_folders)
                arr = read_records(records, size)
            arr.save(root / f"{split}.npz")
            stats["splits"][split] = {"images": int(len(arr.pids)), "ids": int(len(set(arr.pids.tolist()))),
                                      "captions": int(sum(len(v) for v in arr.captions.values())),
                                      "per_modality": {m: int((arr.modality == i).sum()) for i, m in enumerate(MODALITIES)}}
            if names:
                stats["splits"][split]["cameras"] = (sorted(set(arr.cams.tolist())) if tagged
                                                     else "unknown: one per image")
            if split == "val":
                atomic_write_bytes(tmp / "samples.png", samples_png(arr) if params.source == "synthetic" else
                                   samples_png(arr, title=f"{params.source}: validation identities"))
        if names:
            stats["ids_in_both_splits"] = len(set(names["train"]) & set(names["val"]))
            atomic_write_json(tmp / "identities.json", names)
        atomic_write_json(tmp / "stats.json", stats)
    print(stats)
    return stats


if __name__ == "__main__":
    main(__spec__.name, Params, run)
