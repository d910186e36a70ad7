"""Synthetic identities (determinism, modalities), captions, and the real-dataset loaders' errors."""
import json

import cv2
import numpy as np
import pytest

from common.data.errors import DataError
from common.data.synthetic import item_rng
from tasks.reid.data import (MODALITIES, SplitArrays, describe, load_cuhk_pedes, load_market1501, load_sysu_mm01,
                             read_records, render, sample_identity, synthetic_split)

VIEWS = {"rgb": (2, 1), "ir": (1, 1), "sketch": (1, 1)}


def test_rendering_is_deterministic_per_item():
    ident = sample_identity(0, 5)
    for m in MODALITIES:
        a = render(ident, m, 1, item_rng(0, 7, 3), (64, 32))
        b = render(ident, m, 1, item_rng(0, 7, 3), (64, 32))
        assert a.shape == (64, 32, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        c = render(ident, m, 1, item_rng(0, 8, 3), (64, 32))
        assert np.abs(a.astype(int) - c.astype(int)).mean() > 1  # another draw: another pose / lighting
    # a split is the same whatever the order of identities
    s1 = synthetic_split(0, range(3, 6), VIEWS, (64, 32), progress=False)
    s2 = synthetic_split(0, range(5, 6), VIEWS, (64, 32), progress=False)
    np.testing.assert_array_equal(s1.images[s1.pids == 5], s2.images)
    assert s1.captions[5] == s2.captions[5]


def test_modalities_look_like_their_kind():
    ident = sample_identity(0, 2)
    ir = render(ident, "ir", 2, item_rng(0, 1, 1), (64, 32))
    sketch = render(ident, "sketch", 3, item_rng(0, 1, 2), (64, 32))
    rgb = render(ident, "rgb", 0, item_rng(0, 1, 0), (64, 32))
    assert np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 1], ir[..., 2])  # no colour
    assert sketch.mean() > 180  # dark strokes on white
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2].astype(int)).mean() > 5  # colour


def test_identity_attributes_drive_the_caption():
    ident = sample_identity(0, 11)
    cap = describe(ident, np.random.default_rng(0))
    assert ident.upper in cap and ident.lower in cap and ident.lower_type in cap
    assert (ident.bag in cap) == (ident.bag != "none")
    assert sample_identity(0, 11) == ident and sample_identity(1, 11) != ident


def test_split_round_trip_and_errors(tmp_path):
    s = synthetic_split(0, range(2), VIEWS, (64, 32), progress=False)
    assert len(s.pids) == 2 * 4 and set(s.modality.tolist()) == {0, 1, 2}
    s.save(tmp_path / "x.npz")
    back = SplitArrays.load(tmp_path / "x.npz")
    np.testing.assert_array_equal(back.images, s.images)
    assert back.captions == s.captions
    with pytest.raises(DataError, match="not found"):
        SplitArrays.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        SplitArrays.load(tmp_path / "bad.npz")


def _jpg(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((128, 64, 3), value, np.uint8))


def test_market1501_fixture(tmp_path):
    d = tmp_path / "Market-1501" / "bounding_box_train"
    for name in ("0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_077419_03.jpg",
                 "-1_c1s1_000401_03.jpg", "0000_c1s1_000151_01.jpg"):
        _jpg(d / name)
    recs = load_market1501(tmp_path / "Market-1501")
    assert [(r.pid, r.cam) for r in recs] == [(2, 0), (2, 1), (7, 2)]  # junk (−1) and distractors (0) dropped
    arr = read_records(recs, (64, 32), progress=False)
    assert arr.images.shape == (3, 64, 32, 3)
    _jpg(d / "person7.jpg")
    with pytest.raises(DataError, match=r"person7\.jpg.*Market-1501's convention"):
        load_market1501(tmp_path / "Market-1501")
    with pytest.raises(DataError, match="folder not found"):
        load_market1501(tmp_path / "nowhere")


def test_sysu_mm01_fixture(tmp_path):
    root = tmp_path / "SYSU-MM01"
    (root / "exp").mkdir(parents=True)
    (root / "exp" / "train_id.txt").write_text("1,2\n")
    for cam in (1, 3):
        for pid in (1, 2):
            _jpg(root / f"cam{cam}" / f"{pid:04d}" / "0001.jpg")
    recs = load_sysu_mm01(root, "train")
    assert sorted((r.pid, r.cam, r.modality) for r in recs) == [(1, 0, "rgb"), (1, 2, "ir"), (2, 0, "rgb"), (2, 2, "ir")]
    (root / "exp" / "val_id.txt").write_text("1,x3\n")
    with pytest.raises(DataError, match=r"val_id\.txt:1: bad person id 'x3'"):
        load_sysu_mm01(root, "val")
    with pytest.raises(DataError, match="id list not found"):
        load_sysu_mm01(root, "test")


def test_cuhk_pedes_fixture(tmp_path):
    root = tmp_path / "CUHK-PEDES"
    _jpg(root / "imgs" / "a" / "1.jpg")
    ann = [{"id": 1, "file_path": "a/1.jpg", "captions": ["A woman in red."], "split": "train"},
           {"id": 2, "file_path": "a/2.jpg", "captions": ["A man."], "split": "test"}]
    (root / "reid_raw.json").write_text(json.dumps(ann))
    recs = load_cuhk_pedes(root, "train")
    assert len(recs) == 1 and recs[0].captions == ("A woman in red.",)
    arr = read_records(recs, (64, 32), progress=False)
    assert arr.captions == {1: ["A woman in red."]}
    with pytest.raises(DataError, match=r"2\.jpg: unreadable or missing image"):
        read_records(load_cuhk_pedes(root, "test"), (64, 32), progress=False)
    (root / "reid_raw.json").write_text(json.dumps([{"id": 1, "file_path": "a/1.jpg"}]))
    with pytest.raises(DataError, match="entry 0: missing keys"):
        load_cuhk_pedes(root)
    (root / "reid_raw.json").write_text('[{"id": 1,')
    with pytest.raises(DataError, match="invalid JSON"):
        load_cuhk_pedes(root)
    (root / "reid_raw.json").write_text(json.dumps([{"id": "x", "file_path": "a", "captions": []}]))
    with pytest.raises(DataError, match="not an integer"):
        load_cuhk_pedes(root)
