"""Stage ``prepare``: write the YOLO-format dataset to ``data/detection/prepare/dataset``.

``source: synthetic`` (tiny/smoke) generates VisDrone-like scenes; ``source: visdrone`` (full) converts the
real VisDrone-DET release found under ``raw_dir`` (a DVC dependency: editing an annotation reruns the stage).
A user's own dataset: ``source: yolo`` reads an ultralytics ``data.yaml`` (``data``), ``source: coco`` a COCO
instances json + image folder per split (``raw_dir`` + ``splits``). The classes (count and names) always come
from the data and are written to ``dataset/data.yaml``, which every later stage reads.

``stats.json`` names the data converted: ``source``, and ``raw_dir`` + ``raw_splits`` (our split → the release's
folder, or COCO's {json, images}) for visdrone / coco, ``data_yaml`` for yolo. VisDrone boxes crossing the image
edge are clipped to it and counted in ``clipped_boxes`` (per split), ``clipped_boxes_total``, ``clipped_boxes_note``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main


# coco: the split's instances json and the folder its file_name entries are relative to, both relative to raw_dir
# (the layout of the pose task's COCO / CrowdPose splits)
CocoSplit = dict[Literal["json", "images"], str]


class Params(StageParams):
    source: Literal["synthetic", "visdrone", "yolo", "coco"] = Field(
        description="synthetic scenes, the VisDrone-DET release, an ultralytics data.yaml, or COCO json")
    imgsz: int = Field(256, ge=32, description="synthetic: image size in pixels")
    train_images: int = Field(600, ge=1, description="synthetic: training images")
    val_images: int = Field(120, ge=1, description="synthetic: validation images")
    min_objects: int = Field(8, ge=0, description="synthetic: fewest objects per image")
    max_objects: int = Field(25, ge=1, description="synthetic: most objects per image")
    raw_dir: str | None = Field(None, description="visdrone / coco: the folder holding the dataset")
    splits: dict[Literal["train", "val"], str | CocoSplit] | None = Field(
        None, description="visdrone: our split → the release's folder (VisDrone2019-DET-train, …); "
                          "coco: our split → {json, images}")
    data: str | None = Field(None, description="yolo: the dataset's data.yaml (path, train, val, names)")

    @model_validator(mode="after")
    def _check(self):
        if self.source in ("visdrone", "coco") and not (self.raw_dir and self.splits):
            raise ValueError(f"source {self.source} needs raw_dir and splits")
        if self.source == "coco" and set(self.splits) != {"train", "val"}:
            raise ValueError(f"source {self.source}: splits needs both train and val")
        want = dict if self.source == "coco" else str
        if self.splits and any(not isinstance(v, want) or (want is dict and len(v) != 2) for v in self.splits.values()):
            raise ValueError("splits: coco needs {json, images} per split, visdrone a folder name")
        if self.source == "yolo" and not self.data:
            raise ValueError("source yolo needs data: the path of the dataset's data.yaml")
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) > max_objects ({self.max_objects})")
        return self


def run(params: Params, out_dir: Path) -> dict:
    from common.data.errors import DataError
    from common.data.yolo import validate_yolo_split
    from common.io import atomic_dir, atomic_write_json
    from tasks.detection.data import VISDRONE_CLASSES, convert_visdrone_split, generate_synthetic, write_data_yaml

    extra = {}
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        names = list(VISDRONE_CLASSES)
        if params.source == "synthetic":
            stats = generate_synthetic(root, {"train": params.train_images, "val": params.val_images},
                                       size=params.imgsz, seed=params.seed,
                                       min_objects=params.min_objects, max_objects=params.max_objects)
        elif params.source == "visdrone":
            raw = Path(params.raw_dir)
            stats = {split: convert_visdrone_split(raw / folder, root, split) for split, folder in params.splits.items()}
            clipped = {split: st.pop("clipped_boxes") for split, st in stats.items()}
            extra = {"raw_dir": params.raw_dir, "raw_splits": dict(params.splits),
                     "clipped_boxes": clipped, "clipped_boxes_total": sum(clipped.values()),
                     "clipped_boxes_note": "VisDrone boxes crossing the image edge (objects cut by the frame) "
                                           "were clipped to the image; counts per split"}
        elif params.source == "yolo":
            from common.data.yolo import YoloDataYaml, copy_yolo_split

            ds = YoloDataYaml(params.data)
            names = ds.names
            stats = {split: copy_yolo_split(images, ds.label_for, root, split, len(names))
                     for split, images in ds.splits.items()}
            extra = {"data_yaml": str(Path(params.data).resolve())}
        else:
            from common.data.coco import convert_coco_split

            raw, stats, per_split = Path(params.raw_dir), {}, {}
            for split, sp in params.splits.items():
                per_split[split], stats[split] = convert_coco_split(raw / sp["json"], raw / sp["images"], root, split)
            if per_split["train"] != per_split["val"]:
                raise DataError(raw / params.splits["val"]["json"],
                                f"categories {per_split['val']} differ from the training json's {per_split['train']}",
                                expected="the same categories in both splits")
            names = per_split["train"]
            extra = {"raw_dir": params.raw_dir, "raw_splits": {k: dict(v) for k, v in params.splits.items()}}
        write_data_yaml(root, names)
        for split in stats:  # what we wrote must pass the same checks as a user's data
            validate_yolo_split(root / "images" / split, len(names), check_images=False)
        result = {"source": params.source, "classes": names, "nc": len(names), "splits": stats, **extra}
        print(f"prepared {len(names)} classes: " + ", ".join(f"{s} {v['images']} images / {v['boxes']} boxes"
                                                             for s, v in stats.items()))
        atomic_write_json(tmp / "stats.json", result)
    return result


if __name__ == "__main__":
    main(__spec__.name, Params, run)
