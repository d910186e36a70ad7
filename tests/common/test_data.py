import pytest

from common.data.errors import DataError
from common.data.images import image_size
from common.data.yolo import parse_yolo_labels, validate_yolo_split


def _write_img(path, size=(32, 24)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path)


@pytest.mark.parametrize("line, match", [
    ("0 0.5 0.5 0.1", r"labels\.txt:2: 4 fields .*expected 5 fields"),
    ("12 0.5 0.5 0.1 0.1", r"labels\.txt:2: class id 12 out of range"),
    ("1 0.98 0.5 0.1 0.1", r"labels\.txt:2: box .* outside the image"),
    ("1 a 0.5 0.1 0.1", r"labels\.txt:2: non-numeric"),
])
def test_yolo_label_errors_name_file_and_line(tmp_path, line, match):
    p = tmp_path / "labels.txt"
    p.write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DataError, match=match):
        parse_yolo_labels(p, nc=10)


def test_yolo_labels_ok(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("3 0.5 0.5 0.2 0.1\n\n9 0.1 0.1 0.2 0.2\n")
    assert parse_yolo_labels(p, nc=10) == [(3, 0.5, 0.5, 0.2, 0.1), (9, 0.1, 0.1, 0.2, 0.2)]


def test_corrupt_image_named(tmp_path):
    bad = tmp_path / "images" / "train" / "x.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"x\.jpg: corrupt or unreadable image"):
        image_size(bad)
    with pytest.raises(DataError, match=r"x\.jpg"):
        validate_yolo_split(bad.parent, nc=10)


def test_truncated_png_named(tmp_path):
    p = tmp_path / "t.png"
    _write_img(p)
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(DataError, match=r"t\.png"):
        image_size(p)


def test_missing_folder_named(tmp_path):
    with pytest.raises(DataError, match=r"nope: images folder not found"):
        validate_yolo_split(tmp_path / "nope", nc=10)


def test_validate_split_counts(tmp_path):
    _write_img(tmp_path / "images" / "val" / "a.png")
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n")
    assert validate_yolo_split(tmp_path / "images" / "val", nc=2) == {"images": 1, "boxes": 2}
