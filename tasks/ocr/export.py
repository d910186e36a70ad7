"""Stage ``export``: ONNX through ``common.export`` for the detector, the distilled student recogniser and
the teacher, and INT8 (static QDQ, onnxruntime's quantizer through ``common.compress.quantize``) for the
detector and the student, calibrated on training images / word crops. Writes ``data/ocr/export/``:
``det.onnx``, ``det.int8.onnx``, ``rec.onnx``, ``rec.int8.onnx``, ``teacher.onnx`` and ``export.json``.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageParams, main

TRAIN_DIR = "data/ocr/train"
DATA_DIR = "data/ocr/prepare/dataset"


class Params(StageParams):
    opset: int = Field(17, ge=17, description="ONNX opset of the exports")
    det_imgsz: int = Field(320, ge=32, multiple_of=32, description="the detector's (square) ONNX input size")
    calibration_images: int = Field(64, ge=1, description="training images (and up to 4 word crops of each) "
                                                          "the INT8 calibration reads")
    crop_height: int = Field(32, ge=8, description="the recogniser's word-crop height")
    crop_width: int = Field(128, ge=8, description="the recogniser's word-crop width")


def calibration(data_dir: str, n: int, det_imgsz: int, crop: tuple[int, int]) -> tuple:
    import numpy as np

    from tasks.ocr.data import crop_word, load_split, read_rgb, resize_for_detector

    rows = load_split(data_dir, "train")[:n]
    imgs, crops = [], []
    for r in rows:
        img = read_rgb(Path(data_dir) / "images" / r["file"])
        imgs.append(resize_for_detector(img, det_imgsz)[0].transpose(2, 0, 1).astype(np.float32) / 255.0)
        crops += [crop_word(img, w["quad"], *crop) for w in r["words"][:4] if not w.get("ignore")]
    return np.stack(imgs), np.stack(crops[: 4 * n])


def run(params: Params, out_dir: Path, train_dir: str = TRAIN_DIR, data_dir: str = DATA_DIR) -> dict:
    import torch

    from common.compress.quantize import quantize_static_int8
    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_json
    from tasks.ocr.models import load_ocr_model

    imgsz = params.det_imgsz
    crop = (params.crop_height, params.crop_width)
    cal_imgs, cal_crops = calibration(data_dir, params.calibration_images, imgsz, crop)
    doc = {}
    with atomic_dir(out_dir) as tmp:
        det, _ = load_ocr_model(Path(train_dir) / "det" / "model.pt")
        doc["det"] = export_onnx(det, torch.from_numpy(cal_imgs[:1]), tmp / "det.onnx", opset=params.opset,
                                 output_names=["prob", "thresh"], check_samples=torch.from_numpy(cal_imgs[:2]))
        doc["det_int8"] = quantize_static_int8(tmp / "det.onnx", tmp / "det.int8.onnx",
                                               (cal_imgs[i: i + 1] for i in range(len(cal_imgs))))
        for name, file in (("student", "rec"), ("teacher", "teacher")):
            rec, _ = load_ocr_model(Path(train_dir) / name / "model.pt")
            doc[name] = export_onnx(rec, torch.from_numpy(cal_crops[:1]), tmp / f"{file}.onnx", opset=params.opset,
                                    output_names=["logits"], check_samples=torch.from_numpy(cal_crops[:4]), atol=2e-3)
        doc["student_int8"] = quantize_static_int8(tmp / "rec.onnx", tmp / "rec.int8.onnx",
                                                   (cal_crops[i: i + 8] for i in range(0, len(cal_crops), 8)))
        doc["det_imgsz"] = imgsz
        atomic_write_json(tmp / "export.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
