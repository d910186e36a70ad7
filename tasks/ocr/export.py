"""Stage ``export``: ONNX through ``common.export`` for the detector, the distilled student recogniser and
the teacher, and INT8 (static QDQ, onnxruntime's quantizer through ``common.compress.quantize``) for the
detector and the student, calibrated on training images / word crops. Writes ``data/ocr/export/``:
``det.onnx``, ``det.int8.onnx``, ``rec.onnx``, ``rec.int8.onnx``, ``teacher.onnx`` and ``export.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_dir, atomic_write_json, stage_params


def calibration(data_dir: str, n: int, det_imgsz: int, crop: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from tasks.ocr.data import crop_word, load_split, read_rgb, resize_for_detector

    rows = load_split(data_dir, "train")[:n]
    imgs, crops = [], []
    for r in rows:
        img = read_rgb(Path(data_dir) / "images" / r["file"])
        imgs.append(resize_for_detector(img, det_imgsz)[0].transpose(2, 0, 1).astype(np.float32) / 255.0)
        crops += [crop_word(img, w["quad"], *crop) for w in r["words"][:4] if not w.get("ignore")]
    return np.stack(imgs), np.stack(crops[: 4 * n])


def run(params: dict, out: str | Path, train_dir: str = "data/ocr/train",
        data_dir: str = "data/ocr/prepare/dataset") -> dict:
    from common.compress.quantize import quantize_static_int8
    from common.export.onnx import export_onnx
    from tasks.ocr.module import load_ocr_model

    imgsz = params["det_imgsz"]
    crop = (params.get("crop_height", 32), params.get("crop_width", 128))
    cal_imgs, cal_crops = calibration(data_dir, params["calibration_images"], imgsz, crop)
    doc = {}
    with atomic_dir(out) as tmp:
        det, _ = load_ocr_model(Path(train_dir) / "det" / "model.pt")
        doc["det"] = export_onnx(det, torch.from_numpy(cal_imgs[:1]), tmp / "det.onnx", opset=params["opset"],
                                 output_names=["prob", "thresh"], check_samples=torch.from_numpy(cal_imgs[:2]))
        doc["det_int8"] = quantize_static_int8(tmp / "det.onnx", tmp / "det.int8.onnx",
                                               (cal_imgs[i: i + 1] for i in range(len(cal_imgs))))
        for name, file in (("student", "rec"), ("teacher", "teacher")):
            rec, _ = load_ocr_model(Path(train_dir) / name / "model.pt")
            doc[name] = export_onnx(rec, torch.from_numpy(cal_crops[:1]), tmp / f"{file}.onnx", opset=params["opset"],
                                    output_names=["logits"], check_samples=torch.from_numpy(cal_crops[:4]), atol=2e-3)
        doc["student_int8"] = quantize_static_int8(tmp / "rec.onnx", tmp / "rec.int8.onnx",
                                                   (cal_crops[i: i + 8] for i in range(0, len(cal_crops), 8)))
        doc["det_imgsz"] = imgsz
        atomic_write_json(tmp / "export.json", doc)
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.ocr.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/ocr/export")
    args = ap.parse_args(argv)
    run(stage_params("ocr", "export"), args.out)


if __name__ == "__main__":
    main()
