"""``python -m tasks.detection predict --model M --images DIR --out DIR``: boxes for a folder of images.

For each image: ``<name>.txt`` in ultralytics' label format with a confidence column
(``class cx cy w h conf``, normalised to the image) — what ``yolo predict save_txt=True save_conf=True`` writes —
and its boxes in pixels in ``predictions.json``. Images are letterboxed as the evaluator feeds them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.data.errors import DataError
from common.predict import Predictor, output_path, predict_main

OPTIONS = (
    ("--imgsz", {"type": int, "default": None, "help": "inference size (default: the size the model was trained at)"}),
    ("--conf", {"type": float, "default": 0.25, "help": "confidence threshold (ultralytics' predict default)"}),
    ("--iou", {"type": float, "default": 0.7, "help": "NMS IoU threshold"}),
    ("--max-det", {"type": int, "default": 300, "help": "most boxes per image"}),
)


def _load(path: Path):
    from common.adapters.ultralytics import load_model, model_meta

    model = load_model(path).eval()
    model.edgerepro_imgsz = model_meta(path).get("imgsz")
    return model


def _predict(model, paths: list[Path], args: argparse.Namespace) -> list[dict]:
    import cv2

    from common.adapters.ultralytics import boxes_to_image, letterbox_images, nms

    imgsz = args.imgsz or model.edgerepro_imgsz or 640
    originals = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]  # BGR, EXIF-rotated: as ultralytics reads
    for p, im in zip(paths, originals):
        if im is None:
            raise DataError(p, "OpenCV cannot read this image", expected="an image OpenCV reads (.jpg .png .bmp .tif .webp)")
    out = model(letterbox_images(originals, imgsz, int(model.stride.max())))
    dets = nms(out[0] if isinstance(out, (tuple, list)) else out, args.conf, args.iou, args.max_det)
    results = []
    for im, d in zip(originals, dets):
        d = d.clone()
        d[:, :4] = boxes_to_image(d[:, :4], imgsz, im.shape[:2])
        results.append({"shape": im.shape[:2], "dets": d.cpu().numpy(), "names": model.names})
    return results


def _write(result: dict, image: Path, out: Path, args: argparse.Namespace) -> dict:
    h, w = result["shape"]
    lines, boxes = [], []
    for x1, y1, x2, y2, conf, cls in result["dets"].tolist():
        c = int(cls)
        lines.append(f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} "
                     f"{conf:.6f}")
        boxes.append({"class": c, "name": result["names"].get(c, str(c)), "conf": round(conf, 5),
                      "xyxy": [round(v, 2) for v in (x1, y1, x2, y2)]})
    txt = output_path(out, image, args.images, ".txt")
    txt.write_text("".join(line + "\n" for line in lines))
    return {"labels": txt.relative_to(out).as_posix(), "width": w, "height": h, "boxes": boxes}


PREDICTOR = Predictor(load=_load, predict=_predict, write=_write, options=OPTIONS,
                      describe="<name>.txt (ultralytics labels: class cx cy w h conf, normalised)")


def main(argv=None) -> dict:
    return predict_main("detection", PREDICTOR, argv)
