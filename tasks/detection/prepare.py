"""Stage ``prepare``: write the YOLO-format dataset to ``data/detection/prepare/dataset``.

``source: synthetic`` (tiny/smoke) generates VisDrone-like scenes; ``source: visdrone`` (full) converts the
real VisDrone-DET release found under ``raw_dir``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.data.yolo import validate_yolo_split
from common.io import atomic_dir, atomic_write_json, stage_params
from tasks.detection.data import VISDRONE_CLASSES, convert_visdrone_split, generate_synthetic, write_data_yaml


def run(params: dict, out_dir: str | Path) -> dict:
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        if params["source"] == "synthetic":
            stats = generate_synthetic(root, {"train": params["train_images"], "val": params["val_images"]},
                                       size=params["imgsz"], seed=params["seed"],
                                       min_objects=params["min_objects"], max_objects=params["max_objects"])
        elif params["source"] == "visdrone":
            raw = Path(params["raw_dir"])
            stats = {split: convert_visdrone_split(raw / folder, root, split)
                     for split, folder in params["splits"].items()}
        else:
            raise ValueError(f"tasks/detection/params.yaml: prepare.source must be synthetic or visdrone, "
                             f"got {params['source']!r}")
        write_data_yaml(root, VISDRONE_CLASSES)
        for split in stats:  # what we wrote must pass the same checks as a user's data
            validate_yolo_split(root / "images" / split, len(VISDRONE_CLASSES), check_images=False)
        result = {"source": params["source"], "classes": list(VISDRONE_CLASSES), "splits": stats}
        atomic_write_json(tmp / "stats.json", result)
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.prepare", description=__doc__)
    ap.add_argument("--out", default="data/detection/prepare")
    args = ap.parse_args(argv)
    print(run(stage_params("detection", "prepare"), args.out))


if __name__ == "__main__":
    main()
