"""Own data for OCR through prepare's ``run``: an ICDAR-2015-style fixture (``ch4_*`` folders, ``gt_<name>.txt`` in
UTF-8 with a BOM and CRLF line ends, ``###`` don't-care regions, commas inside transcriptions, a quad reaching
past the image border as the real files have) becomes a self-contained prepared dataset the networks' datasets
read; a malformed line stops the stage with its file and line."""
import json
import shutil

import cv2
import numpy as np
import pytest

from common.data.errors import DataError
from tasks.ocr.data import load_split
from tasks.ocr.prepare import Params, run

GT = {  # image stem → lines (ICDAR 2015: x1,y1,…,x4,y4,transcription; clockwise from the top-left corner)
    "img_1": ["10,10,90,10,90,40,10,40,EXIT", "100,12,150,12,150,38,100,38,###", "10,50,110,50,110,75,10,75,a,b"],
    "img_2": ["-3,20,70,20,70,50,-3,50,Café", "80,20,190,20,190,50,80,50,###"],
    "img_3": ["20,20,120,20,120,60,20,60,Open"],
}
SPLITS = {"train": ("ch4_training_images", "ch4_training_localization_transcription_gt", ["img_1", "img_2"]),
          "val": ("ch4_test_images", "Challenge4_Test_Task1_GT", ["img_3"])}


def _icdar15(raw, gt=GT):
    for split, (img_dir, gt_dir, stems) in SPLITS.items():
        (raw / img_dir).mkdir(parents=True)
        (raw / gt_dir).mkdir(parents=True)
        for k, stem in enumerate(stems):
            img = np.full((90, 200, 3), 235, np.uint8)
            img[15:35, 15:85] = 30 + 40 * k
            assert cv2.imwrite(str(raw / img_dir / f"{stem}.jpg"), img)
            # as the real files: a UTF-8 BOM and Windows line ends
            (raw / gt_dir / f"gt_{stem}.txt").write_bytes(("\r\n".join(gt[stem]) + "\r\n").encode("utf-8-sig"))
    return Params(source="icdar", raw_dir=str(raw), splits={
        s: {"images": i, "gt": g, "language": "en"} for s, (i, g, _) in SPLITS.items()})


def test_icdar2015_fixture_prepares_a_self_contained_dataset(tmp_path):
    params = _icdar15(tmp_path / "raw")
    out = tmp_path / "out"
    doc = run(params, out)
    shutil.rmtree(tmp_path / "raw")  # the prepared dataset must not point back into the raw data
    root = out / "dataset"
    train = load_split(root, "train")
    assert [r["file"] for r in train] == ["train/img_1.jpg", "train/img_2.jpg"]
    assert all((root / "images" / r["file"]).is_file() for r in train)
    assert (train[0]["width"], train[0]["height"], train[0]["language"], train[0]["edge_case"]) == (200, 90, "en", "real")
    words = train[0]["words"]
    assert [(w["text"], w["ignore"], w["lang"]) for w in words] == [
        ("EXIT", False, "en"), ("###", True, "en"), ("a,b", False, "en")]  # no BOM glued to the first word
    assert words[0]["quad"] == [10, 10, 90, 10, 90, 40, 10, 40]
    assert train[1]["words"][0]["quad"][0] == -3  # kept as given: the networks' targets clip it
    assert doc["train"]["words"] == 3 and doc["val"]["words"] == 1  # don't-care regions are not words
    assert doc["train"]["words_per_language"] == {"en": 3} and doc["val"]["images_per_language"] == {"en": 1}
    chars = json.loads((root / "charset.json").read_text())["chars"]
    assert chars == "".join(sorted(set("EXITa,bCafé")))  # from the training words only ("Open" is val)
    assert doc["charset_size"] == len(chars)

    from tasks.ocr.datasets import DetDataset, RecDataset
    from tasks.ocr.text import Charset

    det = DetDataset(root, "train", 64, train=False)
    item = det[0]
    assert item["img"].shape == (3, 64, 64) and item["gt"].sum() > 0
    assert item["gt_mask"][8, 40] == 0 and item["gt_mask"][8, 10] == 1  # the ### region is masked out, EXIT is not
    rec = RecDataset(root, "train", Charset(chars), train=False)
    assert sorted(it[3] for it in rec.items) == ["Café", "EXIT", "a,b"] and rec.skipped["outside_charset"] == 0
    val = RecDataset(root, "val", Charset(chars), train=False)
    assert len(val) == 0 and val.skipped["outside_charset"] == 1  # "Open" has letters the training set lacks


@pytest.mark.parametrize("line, problem", [
    ("10,10,90,10,90,40,10,EXIT", "8 comma-separated fields"),
    ("10,10,90,10,90,forty,10,40,EXIT", "non-numeric coordinate"),
    ("10,10,90,10,90,40,10,40,", "empty transcription"),
])
def test_a_malformed_gt_line_names_file_and_line(tmp_path, line, problem):
    gt = {**GT, "img_2": [GT["img_2"][0], line, GT["img_2"][1]]}
    params = _icdar15(tmp_path / "raw", gt)
    with pytest.raises(DataError, match=problem) as e:
        run(params, tmp_path / "out")
    bad = tmp_path / "raw" / SPLITS["train"][1] / "gt_img_2.txt"
    assert e.value.path == bad and e.value.line == 2 and f"{bad}:2:" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_an_image_without_ground_truth_is_named(tmp_path):
    params = _icdar15(tmp_path / "raw")
    (tmp_path / "raw" / SPLITS["val"][1] / "gt_img_3.txt").unlink()
    with pytest.raises(DataError, match=r"gt_img_3\.txt: ground truth of img_3\.jpg not found"):
        run(params, tmp_path / "out")
