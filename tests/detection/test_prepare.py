"""VisDrone-DET conversion on fixtures written in the real raw format, and the synthetic generator."""
import json

import numpy as np
import pytest
from PIL import Image

from common.data.errors import DataError
from common.data.yolo import parse_yolo_labels
from tasks.detection.data import convert_visdrone_split, synth_scene
from tasks.detection.prepare import Params as PrepareParams
from tasks.detection.prepare import run as prepare_run


def visdrone_split(root, ann_lines, size=(200, 100), name="0000001_00000_d_0000001"):
    """A VisDrone2019-DET-style folder: images/<name>.jpg + annotations/<name>.txt."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir(parents=True)
    Image.new("RGB", size, (90, 100, 110)).save(root / "images" / f"{name}.jpg")
    (root / "annotations" / f"{name}.txt").write_text("\n".join(ann_lines) + "\n")
    return root


def test_converts_visdrone_to_yolo(tmp_path):
    src = visdrone_split(tmp_path / "VisDrone2019-DET-val", [
        "10,20,40,10,1,4,0,0",      # car → class 3
        "0,0,200,100,0,0,0,0",     # ignored region → dropped
        "150,50,20,30,1,1,0,1",    # pedestrian → class 0
        "5,5,10,10,1,11,0,0",      # others → dropped
        "100,60,30,20,1,10,1,2,",  # motor, trailing comma as in some release files
    ])
    stats = convert_visdrone_split(src, tmp_path / "out", "val")
    assert stats == {"images": 1, "boxes": 3, "clipped_boxes": 0}
    rows = parse_yolo_labels(tmp_path / "out" / "labels" / "val" / "0000001_00000_d_0000001.txt", nc=10)
    assert [r[0] for r in rows] == [3, 0, 9]
    np.testing.assert_allclose(rows[0][1:], [30 / 200, 25 / 100, 40 / 200, 10 / 100], atol=1e-6)
    assert (tmp_path / "out" / "images" / "val" / "0000001_00000_d_0000001.jpg").is_file()


@pytest.mark.parametrize("line, match", [
    ("10,20,40,10,1,4,0", r"\.txt:2: 7 fields .*expected 8 comma-separated fields"),
    ("10,20,40,10,1,14,0,0", r"\.txt:2: object_category 14 out of range"),
    ("210,20,40,10,1,4,0,0", r"\.txt:2: box x=210 y=20 w=40 h=10 lies outside the 200x100 image"),
    ("-50,20,40,10,1,4,0,0", r"\.txt:2: box x=-50 y=20 w=40 h=10 lies outside the 200x100 image"),
    ("200,20,10,10,1,4,0,0", r"\.txt:2: box x=200 .* outside the 200x100 image"),  # touches the edge: no area
    ("10,100,40,10,1,4,0,0", r"\.txt:2: box x=10 y=100 .* outside the 200x100 image"),
    ("10,20,0,10,1,4,0,0", r"\.txt:2: empty box"),
    ("10,twenty,40,10,1,4,0,0", r"\.txt:2: non-numeric"),
])
def test_bad_visdrone_annotation_names_file_and_line(tmp_path, line, match):
    src = visdrone_split(tmp_path / "split", ["10,20,40,10,1,4,0,0", line])
    with pytest.raises(DataError, match=match):
        convert_visdrone_split(src, tmp_path / "out", "train")


def test_visdrone_boxes_crossing_the_edge_are_clipped(tmp_path):
    """Objects cut by the frame (normal in VisDrone) are clipped to the image, not an error."""
    src = visdrone_split(tmp_path / "VisDrone2019-DET-train", [
        "10,20,40,10,1,4,0,0",     # inside
        "170,40,40,20,1,4,1,0",    # crosses the right edge by 10 px → x 170..200
        "-5,-8,25,28,1,1,1,0",     # crosses the top-left corner → 0..20 × 0..20
    ])
    stats = convert_visdrone_split(src, tmp_path / "out", "train")
    assert stats == {"images": 1, "boxes": 3, "clipped_boxes": 2}
    rows = parse_yolo_labels(tmp_path / "out" / "labels" / "train" / "0000001_00000_d_0000001.txt", nc=10)
    assert [r[0] for r in rows] == [3, 3, 0]
    np.testing.assert_allclose(rows[0][1:], [30 / 200, 25 / 100, 40 / 200, 10 / 100], atol=1e-6)
    np.testing.assert_allclose(rows[1][1:], [185 / 200, 50 / 100, 30 / 200, 20 / 100], atol=1e-6)
    np.testing.assert_allclose(rows[2][1:], [10 / 200, 10 / 100, 20 / 200, 20 / 100], atol=1e-6)


def test_prepare_visdrone_counts_clipped_boxes_and_names_the_data(tmp_path, capsys):
    raw = tmp_path / "raw"
    visdrone_split(raw / "VisDrone2019-DET-train", ["10,20,40,10,1,4,0,0", "170,40,40,20,1,4,1,0",
                                                    "-5,-8,25,28,1,1,1,0"])
    visdrone_split(raw / "VisDrone2019-DET-val", ["10,20,40,10,1,4,0,0"], name="0000002_00000_d_0000001")
    params = PrepareParams(source="visdrone", raw_dir=str(raw),
                           splits={"train": "VisDrone2019-DET-train", "val": "VisDrone2019-DET-val"})
    result = prepare_run(params, tmp_path / "prepare")
    doc = json.loads((tmp_path / "prepare" / "stats.json").read_text())
    assert doc == result
    assert doc["source"] == "visdrone"
    assert doc["raw_dir"] == str(raw)
    assert doc["raw_splits"] == {"train": "VisDrone2019-DET-train", "val": "VisDrone2019-DET-val"}
    assert doc["clipped_boxes"] == {"train": 2, "val": 0} and doc["clipped_boxes_total"] == 2
    assert "clipped" in doc["clipped_boxes_note"]
    assert doc["splits"] == {"train": {"images": 1, "boxes": 3}, "val": {"images": 1, "boxes": 1}}
    out = capsys.readouterr().out
    assert "VisDrone2019-DET-train: 2 boxes crossing the image edge clipped to it" in out
    assert "VisDrone2019-DET-val:" not in out  # nothing clipped, nothing said
    label = tmp_path / "prepare" / "dataset" / "labels" / "train" / "0000001_00000_d_0000001.txt"
    assert label.read_text().splitlines()[1] == "3 0.925000 0.500000 0.150000 0.200000"


def test_prepare_visdrone_box_outside_the_image_names_file_and_line(tmp_path):
    raw = tmp_path / "raw"
    visdrone_split(raw / "VisDrone2019-DET-train", ["10,20,40,10,1,4,0,0", "170,40,40,20,1,4,1,0",
                                                    "250,40,40,20,1,4,1,0"])
    params = PrepareParams(source="visdrone", raw_dir=str(raw), splits={"train": "VisDrone2019-DET-train"})
    with pytest.raises(DataError, match=r"VisDrone2019-DET-train/annotations/0000001_00000_d_0000001\.txt:3: "
                                        r"box x=250 y=40 w=40 h=20 lies outside the 200x100 image"):
        prepare_run(params, tmp_path / "prepare")
    assert not (tmp_path / "prepare").exists()


def test_corrupt_visdrone_image(tmp_path):
    src = visdrone_split(tmp_path / "split", ["10,20,40,10,1,4,0,0"])
    (src / "images" / "0000001_00000_d_0000001.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"0000001_00000_d_0000001\.jpg: corrupt or unreadable image"):
        convert_visdrone_split(src, tmp_path / "out", "train")


def test_missing_folders_and_annotations(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: VisDrone split folder not found"):
        convert_visdrone_split(tmp_path / "nowhere", tmp_path / "out", "train")
    src = visdrone_split(tmp_path / "split", ["10,20,40,10,1,4,0,0"])
    (src / "annotations" / "0000001_00000_d_0000001.txt").unlink()
    with pytest.raises(DataError, match="annotation file missing"):
        convert_visdrone_split(src, tmp_path / "out", "train")


def test_prepare_stage_missing_raw_dir_leaves_nothing(tmp_path):
    params = PrepareParams(source="visdrone", raw_dir=str(tmp_path / "raw"), splits={"train": "VisDrone2019-DET-train"},
                           imgsz=640)
    with pytest.raises(DataError, match="VisDrone2019-DET-train: VisDrone split folder not found"):
        prepare_run(params, tmp_path / "prepare")
    assert list(tmp_path.iterdir()) == []  # no half-written output


def test_synthetic_scenes_are_deterministic_dense_and_inside():
    a_img, a_rows = synth_scene(0, 5, 256, 8, 25)
    b_img, b_rows = synth_scene(0, 5, 256, 8, 25)
    c_img, _ = synth_scene(0, 6, 256, 8, 25)
    assert np.array_equal(a_img, b_img) and a_rows == b_rows
    assert not np.array_equal(a_img, c_img)
    assert 8 <= len(a_rows) <= 25
    for cls, cx, cy, w, h in a_rows:
        assert 0 <= cls < 10 and w * 256 < 48 and h * 256 < 48  # small objects
        assert cx - w / 2 >= 0 and cy - h / 2 >= 0 and cx + w / 2 <= 1 and cy + h / 2 <= 1


def test_synthetic_classes_are_distinguishable():
    """Mean colour inside boxes differs per class (so the set is learnable)."""
    means = {c: [] for c in range(10)}
    for i in range(30):
        img, rows = synth_scene(1, i, 256, 8, 25)
        for cls, cx, cy, w, h in rows:
            x0, y0 = int((cx - w / 2) * 256), int((cy - h / 2) * 256)
            patch = img[y0:y0 + int(h * 256), x0:x0 + int(w * 256)]
            means[cls].append(patch.reshape(-1, 3).mean(0))
    centroids = np.array([np.mean(means[c], axis=0) for c in range(10)])
    dists = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    assert np.min(dists[~np.eye(10, dtype=bool)]) > 10
