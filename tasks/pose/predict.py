"""``python -m tasks.pose predict --model M --images DIR --out DIR``: the people in a folder of images.

``--model`` is a LitePose model file written by the pipeline (``data/pose/train/<variant>/model.pt``). Each image
is letterboxed to the size the model was trained at, as the evaluate stage feeds it, and decoded by the same
bottom-up grouping (:func:`tasks.pose.group.decode` with the model's stored tag threshold, then
:func:`tasks.pose.group.to_coco_results` back to the original image). For each image ``<name>.json`` holds the
people found: per person its score (the mean of its K joint values, HigherHRNet's) and K joints as
``[x, y, score]`` in pixels of the original image (score 0: the joint was not found; x = y = 0 then), best first,
and ``joints``: the joint names of the data the model was trained on (stored in its model file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.predict import Predictor, output_path, predict_main

OPTIONS = (
    ("--imgsz", {"type": int, "default": None,
                 "help": "inference size, a multiple of 32 (default: the size the model was trained at)"}),
    ("--tag-threshold", {"type": float, "default": None,
                         "help": "max tag distance for a joint to join a person (default: the model's, chosen "
                                 "after training)"}),
    ("--detection-threshold", {"type": float, "default": 0.1, "help": "minimum peak value of a joint"}),
    ("--max-people", {"type": int, "default": 30, "help": "peaks kept per joint"}),
)


def _load(path: Path):
    from tasks.pose.model import load_pose_meta, load_pose_model

    model = load_pose_model(path).eval()
    model.edgerepro_meta = meta = load_pose_meta(path)
    joints = meta.get("joints")  # the training data's joint names (files written before they were stored: none)
    if joints is not None and (not isinstance(joints, list) or len(joints) != model.num_joints
                               or not all(isinstance(j, str) for j in joints)):
        from common.modelfile import ModelFileError

        raise ModelFileError(f"{path}: its joint names {joints!r} are not {model.num_joints} names, one per joint "
                             "of the model")
    return model


def _predict(model, paths: list[Path], args: argparse.Namespace) -> list[dict]:
    import cv2
    import numpy as np
    import torch

    from common.data.errors import DataError
    from tasks.pose.data import letterbox_matrix
    from tasks.pose.group import decode, to_coco_results

    meta = model.edgerepro_meta
    imgsz = int(args.imgsz or meta.get("imgsz") or 256)
    if imgsz % 32:
        raise SystemExit(f"--imgsz {imgsz}: must be a multiple of 32")
    tag_threshold = float(args.tag_threshold if args.tag_threshold is not None else meta.get("tag_threshold", 1.0))
    batch, matrices, shapes = [], [], []
    for p in paths:  # as PoseDataset feeds the evaluator: BGR → letterbox (grey 114) → RGB in [0, 1]
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(p, "cannot read image", expected="a readable image file")
        h, w = img.shape[:2]
        m = letterbox_matrix(w, h, imgsz)
        out = cv2.warpAffine(img, m, (imgsz, imgsz), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
        batch.append(out[..., ::-1].transpose(2, 0, 1))
        matrices.append(m)
        shapes.append((h, w))
    x = torch.from_numpy(np.ascontiguousarray(np.stack(batch))).float() / 255.0
    quarter, half = model(x)
    decoded = decode(quarter, half, model.num_joints, max_people=args.max_people,
                     detection_threshold=args.detection_threshold, tag_threshold=tag_threshold)
    results = []
    for (people, scores), m, shape in zip(decoded, matrices, shapes):
        found = sorted(to_coco_results(people, 0, m, scores), key=lambda r: -r["score"])
        results.append({"shape": shape, "people": found, "num_joints": model.num_joints,
                        "joints": meta.get("joints"), "imgsz": imgsz, "tag_threshold": tag_threshold})
    return results


def _write(result: dict, image: Path, out: Path, args: argparse.Namespace) -> dict:
    from common.io import atomic_write_json

    h, w = result["shape"]
    people = []
    for r in result["people"]:
        kp = r["keypoints"]
        people.append({"score": round(r["score"], 5),
                       "keypoints": [[round(kp[i], 2), round(kp[i + 1], 2), round(kp[i + 2], 5)]
                                     for i in range(0, len(kp), 3)]})
    doc = {"image": image.relative_to(args.images).as_posix(), "width": w, "height": h,
           "num_joints": result["num_joints"], "imgsz": result["imgsz"], "tag_threshold": result["tag_threshold"],
           "people": people}
    if result["joints"]:
        doc["joints"] = result["joints"]
    path = output_path(out, image, args.images, ".json")
    if path == out / "predictions.json":
        from common.data.errors import DataError

        raise DataError(image, "its result would overwrite predictions.json, the index of all results",
                        expected="an image not named predictions.* at the top of --images")
    atomic_write_json(path, doc)
    return {"result": path.relative_to(out).as_posix(), "width": w, "height": h, "people": len(people),
            "scores": [p["score"] for p in people]}


PREDICTOR = Predictor(load=_load, predict=_predict, write=_write, options=OPTIONS,
                      describe="<name>.json (the people found: per person a score and K joints [x, y, score] in "
                               "pixels of the original image)")


def main(argv=None) -> dict:
    return predict_main("pose", PREDICTOR, argv)
