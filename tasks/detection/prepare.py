"""Stage ``prepare``: write the YOLO-format dataset to ``data/detection/prepare/dataset``.

``source: synthetic`` (tiny/smoke) generates VisDrone-like scenes; ``source: visdrone`` (full) converts the
real VisDrone-DET release found under ``raw_dir`` (a DVC dependency: editing an annotation reruns the stage).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main


class Params(StageParams):
    source: Literal["synthetic", "visdrone"] = Field(description="synthetic scenes, or the VisDrone-DET release")
    imgsz: int = Field(256, ge=32, description="synthetic: image size in pixels")
    train_images: int = Field(600, ge=1, description="synthetic: training images")
    val_images: int = Field(120, ge=1, description="synthetic: validation images")
    min_objects: int = Field(8, ge=0, description="synthetic: fewest objects per image")
    max_objects: int = Field(25, ge=1, description="synthetic: most objects per image")
    raw_dir: str | None = Field(None, description="visdrone: the folder holding the release's split folders")
    splits: dict[Literal["train", "val"], str] | None = Field(
        None, description="visdrone: our split → the release's folder (VisDrone2019-DET-train, …)")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "visdrone" and not (self.raw_dir and self.splits):
            raise ValueError("source visdrone needs raw_dir and splits")
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) > max_objects ({self.max_objects})")
        return self


def run(params: Params, out_dir: Path) -> dict:
    from common.data.yolo import validate_yolo_split
    from common.io import atomic_dir, atomic_write_json
    from tasks.detection.data import VISDRONE_CLASSES, convert_visdrone_split, generate_synthetic, write_data_yaml

    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        if params.source == "synthetic":
            stats = generate_synthetic(root, {"train": params.train_images, "val": params.val_images},
                                       size=params.imgsz, seed=params.seed,
                                       min_objects=params.min_objects, max_objects=params.max_objects)
        else:
            raw = Path(params.raw_dir)
            stats = {split: convert_visdrone_split(raw / folder, root, split) for split, folder in params.splits.items()}
        write_data_yaml(root, VISDRONE_CLASSES)
        for split in stats:  # what we wrote must pass the same checks as a user's data
            validate_yolo_split(root / "images" / split, len(VISDRONE_CLASSES), check_images=False)
        result = {"source": params.source, "classes": list(VISDRONE_CLASSES), "splits": stats}
        atomic_write_json(tmp / "stats.json", result)
    return result


if __name__ == "__main__":
    main(__spec__.name, Params, run)
