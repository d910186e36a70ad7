"""Stage ``prepare``: write the pose dataset to ``data/pose/prepare/dataset``:
``images/``, ``train.json`` and ``val.json`` (COCO keypoints), and ``yolo/`` — the same images and people
in ultralytics' pose format (``cls cx cy w h x1 y1 v1 …``) for the YOLOv8-pose peer.

``source: synthetic`` (tiny/smoke) generates multi-person scenes; ``source: coco`` (full) reads a COCO or
CrowdPose release: ``{split: {json, images}}`` under ``raw_dir``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main


class Params(StageParams):
    source: Literal["synthetic", "coco"] = Field(description="synthetic scenes, or a COCO / CrowdPose release")
    train_images: int = Field(400, ge=1, description="synthetic: training images")
    val_images: int = Field(80, ge=1, description="synthetic: validation images")
    image_size: int = Field(128, ge=32, description="synthetic: image side in pixels")
    max_people: int = Field(4, ge=1, description="synthetic: most people per image")
    min_height: int = Field(40, ge=8, description="synthetic: smallest person height in pixels")
    max_height: int = Field(110, ge=8, description="synthetic: largest person height in pixels")
    raw_dir: str | None = Field(None, description="coco: the folder holding the release")
    splits: dict[Literal["train", "val"], dict[Literal["json", "images"], str]] | None = Field(
        None, description="coco: our split → {json: annotation file, images: image folder}, relative to raw_dir")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "coco" and not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}
                                          and all(set(s) == {"json", "images"} for s in self.splits.values())):
            raise ValueError("source coco needs raw_dir and splits {train, val}, each with json and images")
        if self.min_height > self.max_height:
            raise ValueError(f"min_height ({self.min_height}) > max_height ({self.max_height})")
        return self


def write_yolo_pose(kset, root: Path, split: str) -> int:
    """``root/images/<split>/`` (hard links, or copies across devices) + ``root/labels/<split>/*.txt``."""
    import os
    import shutil

    import numpy as np

    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    n = 0
    for image_id in kset.image_ids:
        info = kset.images[image_id]
        src = kset.images_dir / info["file_name"]
        dst = root / "images" / split / Path(info["file_name"]).name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        w, h = float(info["width"]), float(info["height"])
        lines = []
        for a in kset.annotations[image_id]:
            if a.get("iscrowd", 0) or a.get("num_keypoints", 1) == 0 or "bbox" not in a:
                continue
            x, y, bw, bh = a["bbox"]
            x0, y0 = max(x, 0.0), max(y, 0.0)
            x1, y1 = min(x + bw, w), min(y + bh, h)
            kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
            kp[:, 0] /= w
            kp[:, 1] /= h
            kp[kp[:, 2] == 0] = 0
            vals = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h, *kp.reshape(-1)]
            lines.append("0 " + " ".join(f"{v:.6g}" for v in vals))
            n += 1
        (root / "labels" / split / f"{dst.stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return n


def run(params: Params, out_dir: Path) -> dict:
    import json
    import os
    from dataclasses import replace

    from common.io import atomic_dir, atomic_write_json
    from tasks.pose.data import flip_index, load_keypoints_json, synthesize

    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        ksets = {}
        if params.source == "synthetic":
            for split, n in (("train", params.train_images), ("val", params.val_images)):
                path = synthesize(root, split, n, seed=params.seed, size=params.image_size,
                                  max_people=params.max_people, min_height=params.min_height,
                                  max_height=params.max_height)
                ksets[split] = load_keypoints_json(path, root / "images")  # validates what was written
        else:
            raw = Path(params.raw_dir)
            (root / "images").mkdir(parents=True)
            for split, spec in params.splits.items():
                kset = load_keypoints_json(raw / spec["json"], raw / spec["images"])
                for info in kset.images.values():  # one images/ folder, names unique across splits
                    os.symlink((kset.images_dir / info["file_name"]).resolve(), root / "images" / info["file_name"])
                (root / f"{split}.json").write_text(json.dumps(kset.raw))
                ksets[split] = replace(kset, path=root / f"{split}.json", images_dir=root / "images")
        stats = {}
        for split in ("train", "val"):
            kset = ksets[split]
            people = write_yolo_pose(kset, root / "yolo", split)
            stats[split] = {"images": len(kset.images), "people": people,
                            "labelled_joints": int(sum(a.get("num_keypoints", 0) for v in kset.annotations.values() for a in v))}
        names = ksets["train"].joint_names
        k = len(names)
        (root / "yolo" / "data.yaml").write_text(json.dumps({
            "path": ".", "train": "images/train", "val": "images/val", "names": {0: "person"},
            "kpt_shape": [k, 3], "flip_idx": flip_index(names)}))
        doc = {"source": params.source, "joints": names, **stats}
        atomic_write_json(tmp / "prepare.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
