"""The OCR engines assessed side by side. Each reads one RGB uint8 image and returns ``[(quad, text)]``:

* ``ours-int8`` / ``ours-fp32`` — our edge OCR through onnxruntime: DB detector → word crops → distilled
  CRNN recogniser (CTC best path);
* ``big-model`` — the same detector with the teacher recogniser (a CRNN ~4× the student: the larger model's row);
* ``tesseract`` — Tesseract 5 (Debian ``tesseract-ocr``) via pytesseract, sparse-text mode (``--psm 11``),
  given English + the image's language as its language hint (our engines get no hint);
* ``rapidocr`` — RapidOCR (PP-OCRv4 mobile det/cls/rec ONNX models, shipped inside the
  ``rapidocr-onnxruntime`` wheel): the PaddleOCR-style edge OCR of E-ARMOR; its recogniser covers Chinese
  and Latin characters only.

Every engine runs with one CPU thread (``threads``) so latencies compare like for like.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ENGINES = ("ours-int8", "ours-fp32", "big-model", "tesseract", "rapidocr")


def _session(path: str | Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxOCR:
    """DB detector + CTC recogniser, both ONNX."""

    def __init__(self, det: str | Path, rec: str | Path, charset, det_imgsz: int, threads: int = 1,
                 box_thresh: float = 0.6, rec_batch: int = 32):
        self.det, self.rec = _session(det, threads), _session(rec, threads)
        self.charset, self.imgsz, self.box_thresh, self.rec_batch = charset, det_imgsz, box_thresh, rec_batch
        _, _, self.crop_h, self.crop_w = self.rec.get_inputs()[0].shape  # the recogniser's crop size

    def __call__(self, img: np.ndarray, language: str = "") -> list[tuple[np.ndarray, str]]:
        from tasks.ocr.data import crop_word, resize_for_detector
        from tasks.ocr.db import boxes_from_prob

        x, s = resize_for_detector(img, self.imgsz)
        prob = self.det.run(None, {"images": x.transpose(2, 0, 1)[None].astype(np.float32) / 255.0})[0][0, 0]
        quads = [q / s for q, _ in boxes_from_prob(prob, box_thresh=self.box_thresh)]
        if not quads:
            return []
        crops = np.stack([crop_word(img, q, self.crop_h, self.crop_w) for q in quads])
        texts = []
        for i in range(0, len(crops), self.rec_batch):
            logits = self.rec.run(None, {"images": crops[i: i + self.rec_batch]})[0]
            texts += [self.charset.ctc_greedy(p) for p in logits.argmax(-1)]
        return [(q, t) for q, t in zip(quads, texts) if t]


class Tesseract:
    def __init__(self, threads: int = 1, psm: int = 11):
        import pytesseract

        self.threads = threads
        try:
            self.version = str(pytesseract.get_tesseract_version())
        except pytesseract.TesseractNotFoundError as e:
            raise RuntimeError("tesseract is not installed: `make peers` (apt-get install tesseract-ocr and its "
                               "language packs)") from e
        self.psm = psm
        self.available = set(pytesseract.get_languages(config=""))

    def lang(self, language: str) -> str:
        from tasks.ocr.langs import LANGUAGES

        codes = ["eng"]
        if language in LANGUAGES and LANGUAGES[language].tesseract != "eng":
            codes.append(LANGUAGES[language].tesseract)
        missing = [c for c in codes if c not in self.available]
        if missing:
            raise RuntimeError(f"Tesseract language pack(s) {missing} missing: `make peers` installs "
                               f"tesseract-ocr-{{{','.join(missing)}}}")
        return "+".join(codes)

    def __call__(self, img: np.ndarray, language: str = "") -> list[tuple[np.ndarray, str]]:
        import pytesseract

        # Tesseract's thread count is an environment variable of its process: set it for this call only
        # (left set, it would leak into everything this process starts later; torch hangs under it)
        old = os.environ.get("OMP_THREAD_LIMIT")
        os.environ["OMP_THREAD_LIMIT"] = str(self.threads)
        try:
            d = pytesseract.image_to_data(img, lang=self.lang(language), config=f"--psm {self.psm}",
                                          output_type=pytesseract.Output.DICT)
        finally:
            if old is None:
                os.environ.pop("OMP_THREAD_LIMIT", None)
            else:
                os.environ["OMP_THREAD_LIMIT"] = old
        out = []
        for x, y, w, h, conf, t in zip(d["left"], d["top"], d["width"], d["height"], d["conf"], d["text"]):
            if t.strip() and float(conf) >= 0:
                out.append((np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]), t.strip()))
        return out


class RapidOCREngine:
    def __init__(self, threads: int = 1):
        from rapidocr_onnxruntime import RapidOCR

        kw = {f"{p}_{k}": threads if k == "intra_op_num_threads" else 1
              for p in ("det", "cls", "rec") for k in ("intra_op_num_threads", "inter_op_num_threads")}
        self.engine = RapidOCR(**kw)

    def __call__(self, img: np.ndarray, language: str = "") -> list[tuple[np.ndarray, str]]:
        result, _ = self.engine(np.ascontiguousarray(img[..., ::-1]))  # RapidOCR takes OpenCV's BGR
        return [(np.float32(box), text) for box, text, _score in (result or []) if text.strip()]


def build(name: str, *, export_dir: str | Path, charset, det_imgsz: int, threads: int = 1):
    export_dir = Path(export_dir)
    if name == "ours-int8":
        return OnnxOCR(export_dir / "det.int8.onnx", export_dir / "rec.int8.onnx", charset, det_imgsz, threads)
    if name == "ours-fp32":
        return OnnxOCR(export_dir / "det.onnx", export_dir / "rec.onnx", charset, det_imgsz, threads)
    if name == "big-model":
        return OnnxOCR(export_dir / "det.onnx", export_dir / "teacher.onnx", charset, det_imgsz, threads)
    if name == "tesseract":
        return Tesseract(threads)
    if name == "rapidocr":
        return RapidOCREngine(threads)
    raise ValueError(f"unknown engine {name!r}; expected one of {ENGINES}")
