"""The real peers run offline and read a clean rendered word; our ONNX engine's plumbing on a fake model."""
import numpy as np
import pytest

from tasks.ocr.render import font


def _word_image(text: str, size: int = 48) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 120), (255, 255, 255))
    ImageDraw.Draw(img).text((30, 30), text, font=font("NotoSans-Regular.ttf", 0, size), fill=(0, 0, 0))
    return np.asarray(img)


def test_tesseract_reads_a_clean_word():
    from tasks.ocr.engines import Tesseract

    import os

    before = os.environ.get("OMP_THREAD_LIMIT")
    eng = Tesseract(threads=1)
    out = eng(_word_image("MARKET"), "en")
    assert [t for _, t in out] == ["MARKET"]
    assert os.environ.get("OMP_THREAD_LIMIT") == before  # the thread limit must not leak into this process
    assert eng.lang("ru") == "eng+rus" and eng.lang("en") == "eng"


def test_rapidocr_reads_a_clean_word_offline():
    from tasks.ocr.engines import RapidOCREngine

    out = RapidOCREngine(threads=1)(_word_image("MARKET"))
    assert [t for _, t in out] == ["MARKET"]
    assert np.asarray(out[0][0]).shape == (4, 2)


def test_unknown_engine():
    from tasks.ocr.engines import build

    with pytest.raises(ValueError, match="unknown engine"):
        build("gpt", export_dir=".", charset=None, det_imgsz=320)
