"""Stage ``prepare``: write the ReID dataset to ``data/reid/prepare/dataset``: ``train.npz`` and ``val.npz``
(:class:`tasks.reid.data.SplitArrays`: images resized to ``image_size``, person ids, cameras, modality codes,
captions per person; for Market-1501 and SYSU-MM01 also the benchmark's query / gallery protocol),
``stats.json`` and ``samples.png`` (a few identities in every modality, with a caption).

``tune_ids`` > 0 adds ``tune.npz``: identities disjoint from both, on which the student stage chooses its
distillation weights (synthetic: rendered after the validation ones; a real dataset: carved from its training
identities, the last ``tune_ids`` by id, so training has that many fewer — stated in ``stats.json``).

``source: synthetic`` (tiny/smoke): disjoint identity ranges for train and val, each rendered in RGB / IR /
sketch by several cameras (``views``: modality → [cameras, images per camera]) with ``captions_per_id``
descriptions. ``source: market1501 | sysu_mm01 | cuhk_pedes`` (full): the real dataset under ``raw_dir``, read
by its loader (``splits`` maps train / val to the dataset's split names, one or a list).

* Market-1501: ``splits.val`` is ``[query folder, gallery folder]`` (``[query, bounding_box_test]``); ``val.npz``
  holds the query images first and records which images are queries and which the gallery. Junk boxes (−1) are
  dropped everywhere, distractors (0000) kept in the gallery (pid 0: they match no query) and dropped from training
  and query folders; ``stats.json`` counts each (``junk_dropped``, ``distractors_kept``, ``distractors_dropped``).
  The evaluation ranks each query against the gallery, without the query identity's same-camera images.
* SYSU-MM01: ``splits.val`` names the id list(s) of the test identities (``test``); the queries are their
  infrared images (cams 3, 6), the galleries ``gallery_trials`` single-shot samples (one RGB image per identity
  per camera) of the ``search`` cameras: all-search cams 1, 2, 4, 5, indoor-search cams 1, 2; trial t is seeded
  with t (:func:`tasks.reid.data.sysu_mm01_protocol`). Cam-3 queries are not ranked against cam 2.

``source: folders`` (your own data): ``raw_dir/<splits.train>/<identity>/<image>`` and the same for ``val`` (one
folder per person, the folder's name is the identity; RGB; see :func:`tasks.reid.data.load_folders`). Cameras come
from Market-style ``c<N>`` tags in the file names, or are unknown (no tags): then every image counts as its own
camera, so in the RGB → RGB evaluation a query's positives are all *other* images of its identity. As for every
source without a benchmark protocol (synthetic, folders, CUHK-PEDES), the evaluation is leave-one-out over the
validation split: each validation image is a query against all the others (no separate query / gallery lists).
Every validation identity needs two images (two cameras when tagged) or prepare stops naming it.
``identities.json`` maps each split's pids (list positions) back to the folder names.
"""
from __future__ import annotations

import dataclasses
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
    tune_ids: int = Field(0, ge=0, description="tuning identities (tune.npz), disjoint from the training and the test "
                                               "ones, on which the student stage chooses its distillation weights: "
                                               "synthetic: rendered after the validation ones; a real dataset: the "
                                               "last tune_ids training identities, moved out of training. 0: none")
    captions_per_id: int = Field(2, ge=0, description="synthetic: descriptions per identity")
    views: dict[Modality, tuple[Count, Count]] | None = Field(
        None, description="synthetic: modality → [cameras, images per camera] of every identity (every modality)")
    raw_dir: str | None = Field(None, description="real dataset: the folder holding it")
    splits: dict[Literal["train", "val"], str | list[str]] | None = Field(
        None, description="real dataset: our split → the dataset's split name(s) (market1501 val: [query, gallery])")
    search: Literal["all", "indoor"] = Field(
        "all", description="sysu_mm01: all-search (RGB gallery cams 1, 2, 4, 5) or indoor-search (cams 1, 2)")
    gallery_trials: int = Field(
        10, ge=1, description="sysu_mm01: single-shot galleries (trial t seeded with t); the mean is reported")

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
        elif self.source == "market1501" and not (isinstance(self.splits["val"], list)
                                                  and len(self.splits["val"]) == 2):
            raise ValueError(f"source market1501: splits.val is [query folder, gallery folder], e.g. "
                             f"[query, bounding_box_test] (got {self.splits['val']!r})")
        # SYSU-MM01's protocol settings: at their defaults they may stay in a section whose source is switched
        # (`dvc exp run -S` cannot delete a key); any other value asks for a protocol the source does not have
        sysu_only = [k for k in ("search", "gallery_trials")
                     if getattr(self, k) != type(self).model_fields[k].default]
        if sysu_only and self.source != "sysu_mm01":
            raise ValueError(f"{', '.join(sysu_only)}: SYSU-MM01's protocol settings (source sysu_mm01), "
                             f"not for source {self.source}")
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


def _real_split(params: Params, split: str) -> tuple:
    """A real dataset's split: (records, protocol masks and dict or None, counts for stats.json)."""
    from tasks.reid.data import LOADERS, load_market1501, market1501_protocol, sysu_mm01_protocol

    wanted = params.splits[split]
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    if params.source == "market1501":
        # train: every folder without distractors; val: [query, gallery], distractors kept in the gallery only
        parts, counts = [], {}
        for i, name in enumerate(names):
            c = {}
            parts.append(load_market1501(params.raw_dir, name, distractors=split == "val" and i == 1, counts=c))
            counts[name] = c
            print(f"Market-1501 {name}: {len(parts[-1])} images; dropped {c['junk_dropped']} junk (-1), "
                  f"{c['distractors_dropped']} distractors (0000); kept {c['distractors_kept']} distractors")
        records = [r for part in parts for r in part]
        total = {k: sum(c[k] for c in counts.values())
                 for k in ("junk_dropped", "distractors_kept", "distractors_dropped")}
        extra = total | {"folders": counts}
        if split == "val":
            protocol = market1501_protocol(len(parts[0]), len(parts[1]))
            extra |= {"query_images": len(parts[0]), "gallery_images": len(parts[1]),
                      "query_ids": len({r.pid for r in parts[0]})}
            return records, protocol, extra
        return records, None, extra
    records = [r for name in names for r in LOADERS[params.source](params.raw_dir, name)]
    if params.source == "sysu_mm01" and split == "val":
        protocol = sysu_mm01_protocol(records, params.search, params.gallery_trials, params.raw_dir)
        sizes = sorted({int(g.sum()) for g in protocol[1]})
        extra = {"query_images": int(protocol[0].sum()), "search": params.search,
                 "gallery_cams": protocol[2]["gallery_cams"], "gallery_trials": params.gallery_trials,
                 "gallery_images_per_trial": sizes[0] if len(sizes) == 1 else sizes,
                 "trial_seeds": protocol[2]["seeds"]}
        print(f"SYSU-MM01 {params.search}-search: {extra['query_images']} IR queries; {params.gallery_trials} "
              f"single-shot galleries of {extra['gallery_images_per_trial']} RGB images (trial t seeded with t)")
        return records, protocol, extra
    return records, None, {}


def run(params: Params, out_dir: Path) -> dict:
    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json
    from tasks.reid.data import (FOLDER_CAM_RE, MARKET_DISTRACTOR, MODALITIES, check_gallery, read_records,
                                 synthetic_split)

    size = tuple(params.image_size)
    stats = {"source": params.source, "image_size": list(size), "splits": {}}
    names = {}  # source folders: split → identity names in pid order
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        root.mkdir(parents=True)
        carved: list = []  # a real dataset's tuning records, moved out of its training split
        for split in ("train", "val", "tune") if params.tune_ids else ("train", "val"):
            extra, protocol = {}, None
            if params.source == "synthetic":
                start = {"train": 0, "val": params.train_ids, "tune": params.train_ids + params.val_ids}[split]
                pids = range(start, start + {"train": params.train_ids, "val": params.val_ids,
                                             "tune": params.tune_ids}[split])
                views = {m: tuple(params.views[m]) for m in MODALITIES}
                arr = synthetic_split(params.seed, pids, views, size, params.captions_per_id)
            else:
                if split == "tune":
                    records = carved
                    extra = {"carved_from": "train", "note": f"the last {params.tune_ids} training identities"}
                else:
                    records, protocol, extra = _real_split(params, split)
                if split == "train" and params.tune_ids:
                    ids = sorted({r.pid for r in records})
                    if len(ids) <= params.tune_ids:
                        raise ValueError(f"tune_ids {params.tune_ids}: the training split has only {len(ids)} "
                                         f"identities; the tuning identities are carved from them")
                    moved = set(ids[-params.tune_ids:])
                    carved = [r for r in records if r.pid in moved]
                    records = [r for r in records if r.pid not in moved]
                    print(f"tuning split: {params.tune_ids} identities ({len(carved)} images) moved out of training")
                if params.source == "folders":
                    wanted = params.splits.get(split, params.splits["train"])  # tune: carved from train
                    if split == "val":
                        check_gallery(records, Path(params.raw_dir) / wanted)
                    names[split] = list(dict.fromkeys(r.identity for r in records))
                    tagged = bool(FOLDER_CAM_RE.search(records[0].path.stem + "."))  # all or none (load_folders)
                arr = read_records(records, size)
                if protocol is not None:  # replace() checks the masks against the images
                    arr = dataclasses.replace(arr, query=protocol[0], galleries=protocol[1], protocol=protocol[2])
            arr.save(root / f"{split}.npz")
            pid_set = set(arr.pids.tolist())
            if params.source == "market1501":
                pid_set.discard(MARKET_DISTRACTOR)  # the distractors are no identity
            stats["splits"][split] = {"images": int(len(arr.pids)), "ids": len(pid_set),
                                      "captions": int(sum(len(v) for v in arr.captions.values())),
                                      "per_modality": {m: int((arr.modality == i).sum()) for i, m in enumerate(MODALITIES)}}
            stats["splits"][split] |= extra
            if protocol is not None:
                stats["splits"][split]["protocol"] = arr.protocol["description"]
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
