"""Own data for ReID through prepare's ``run``: identity folders (``source: folders``) with and without camera tags,
their errors, and a Market-1501-style layout through the market1501 loader."""
import json

import cv2
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from common.data.errors import DataError
from tasks.reid.data import SplitArrays
from tasks.reid.metrics import evaluate_pairs
from tasks.reid.module import SAME_PAIR
from tasks.reid.prepare import Params, run


def _img(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((24, 12, 3), np.uint8)
    img[:, :, 0], img[:, :, 1] = value, 255 - value
    assert cv2.imwrite(str(path), img)


def _folders(root, layout):
    """layout: split → identity → file names."""
    for split, ids in layout.items():
        for k, (ident, files) in enumerate(ids.items()):
            for j, f in enumerate(files):
                _img(root / split / ident / f, 20 * k + 3 * j)


def _params(root, **kw):
    return Params(source="folders", raw_dir=str(root), image_size=[16, 8],
                  splits=kw.pop("splits", {"train": "train", "val": "val"}), **kw)


def _rgb_rgb(out):
    """The evaluation's RGB → RGB metrics on the prepared validation split, with perfect embeddings (one-hot pid)."""
    val = SplitArrays.load(out / "dataset" / "val.npz")
    emb = torch.nn.functional.one_hot(torch.from_numpy(val.pids)).float()
    return val, evaluate_pairs(emb, val.pids, val.cams, val.modality, SAME_PAIR)["rgb_rgb"]


def test_identity_folders_without_camera_tags(tmp_path):
    _folders(tmp_path / "raw", {
        "train": {"alice": ["a.jpg", "b.png"], "bob": ["x.jpg"], "carol": ["1.jpg", "2.jpg", "3.jpg"]},
        "val": {"dave": ["q.jpg", "g1.jpg", "g2.jpg"], "erin": ["e1.jpg", "e2.jpg"]}})
    (tmp_path / "raw" / "val" / "dave" / ".DS_Store").write_bytes(b"\0")  # hidden files are not data
    out = tmp_path / "out"
    stats = run(_params(tmp_path / "raw"), out)
    train = SplitArrays.load(out / "dataset" / "train.npz")
    assert train.images.shape == (6, 16, 8, 3) and train.pids.tolist() == [0, 0, 1, 2, 2, 2]
    assert set(train.modality.tolist()) == {0} and train.captions == {}
    names = json.loads((out / "identities.json").read_text())
    assert names == {"train": ["alice", "bob", "carol"], "val": ["dave", "erin"]}
    assert stats["splits"]["val"] == {"images": 5, "ids": 2, "captions": 0,
                                      "per_modality": {"rgb": 5, "ir": 0, "sketch": 0},
                                      "cameras": "unknown: one per image"}
    assert stats["ids_in_both_splits"] == 0 and (out / "samples.png").stat().st_size > 0
    # unknown cameras: every image its own camera, so each validation image is a query whose positives are all the
    # other images of its identity (with one camera for all, the same-camera rule would leave no query at all)
    val, m = _rgb_rgb(out)
    assert val.cams.tolist() == [0, 1, 2, 0, 1]  # dave: g1, g2, q (sorted); erin: e1, e2
    assert m["queries"] == 5 and m["rank1"] == 1.0 and m["map"] == 1.0


def test_market_style_camera_tags_in_identity_folders(tmp_path):
    _folders(tmp_path / "raw", {
        "train": {"0001": ["0001_c1s1_000151_01.jpg", "0001_c2s1_000301_01.jpg"]},
        "val": {"0002": ["0002_c1s1_000451_03.jpg", "0002_c3s1_000551_01.jpg", "0002_c3s2_000600_02.jpg"],
                "0005": ["cam_c2_7.jpg", "cam_c4_8.jpg"]}})
    stats = run(_params(tmp_path / "raw"), tmp_path / "out")
    val, m = _rgb_rgb(tmp_path / "out")
    assert val.cams.tolist() == [1, 3, 3, 2, 4] and stats["splits"]["val"]["cameras"] == [1, 2, 3, 4]
    assert m["queries"] == 5  # the c3 images find the c1 one, and the reverse


def test_identity_folder_errors_name_the_culprit(tmp_path):
    good = {"train": {"a": ["1.jpg", "2.jpg"]}, "val": {"b": ["1.jpg", "2.jpg"], "c": ["1.jpg", "2.jpg"]}}
    _folders(tmp_path / "r1", good)
    (tmp_path / "r1" / "train" / "empty").mkdir()
    with pytest.raises(DataError, match=r"train/empty: identity 'empty' has no images"):
        run(_params(tmp_path / "r1"), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written

    _folders(tmp_path / "r2", {**good, "val": {"b": ["1.jpg", "2.jpg"], "lonely": ["only.jpg"]}})
    with pytest.raises(DataError, match=r"val/lonely: validation identity 'lonely' has one image only"):
        run(_params(tmp_path / "r2"), tmp_path / "out")

    _folders(tmp_path / "r3", {**good, "val": {"b": ["b_c1_1.jpg", "b_c2_1.jpg"], "0009": ["0009_c2s1_1_01.jpg",
                                                                                          "0009_c2s1_2_01.jpg"]}})
    with pytest.raises(DataError, match=r"val/0009: .*all 2 images from camera c2"):
        run(_params(tmp_path / "r3"), tmp_path / "out")

    _folders(tmp_path / "r4", {**good, "val": {"b": ["b_c1_1.jpg", "b_c2_2.jpg"], "c": ["1.jpg", "2.jpg"]}})
    with pytest.raises(DataError, match=r"val/c/1\.jpg: no camera tag"):
        run(_params(tmp_path / "r4"), tmp_path / "out")

    _folders(tmp_path / "r5", good)
    (tmp_path / "r5" / "train" / "a" / "notes.txt").write_text("x")
    (tmp_path / "r5" / "val" / "stray.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"train/a/notes\.txt: not an image"):
        run(_params(tmp_path / "r5"), tmp_path / "out")
    (tmp_path / "r5" / "train" / "a" / "notes.txt").unlink()
    with pytest.raises(DataError, match=r"val/stray\.jpg: a file directly in the split folder"):
        run(_params(tmp_path / "r5"), tmp_path / "out")

    _folders(tmp_path / "r6", good)
    (tmp_path / "r6" / "val" / "b" / "1.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"val/b/1\.jpg: unreadable"):
        run(_params(tmp_path / "r6"), tmp_path / "out")
    with pytest.raises(DataError, match=r"nowhere.*folder not found"):
        run(_params(tmp_path / "r6", splits={"train": "nowhere", "val": "val"}), tmp_path / "out")


def test_folders_take_one_folder_per_split():
    with pytest.raises(ValidationError, match="one folder of identity folders"):
        _params("raw", splits={"train": "train", "val": ["a", "b"]})
    with pytest.raises(ValidationError, match="needs raw_dir and splits"):
        Params(source="folders", splits={"train": "t", "val": "v"})


def test_market1501_layout_through_prepare(tmp_path):
    root = tmp_path / "Market-1501"
    for split, names in {
            "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_077419_03.jpg",
                                   "0007_c1s3_077500_01.jpg", "-1_c1s1_000401_03.jpg"],
            "query": ["0003_c1s1_000100_00.jpg", "0004_c2s1_000200_00.jpg"],
            "bounding_box_test": ["0003_c2s1_000120_01.jpg", "0003_c1s1_000130_01.jpg", "0004_c5s2_000300_01.jpg",
                                  "0000_c3s1_000010_01.jpg", "-1_c1s1_000011_01.jpg", "0001_c6s1_000500_01.jpg"]}.items():
        for k, n in enumerate(names):
            _img(root / split / n, 30 * k)
    stats = run(Params(source="market1501", raw_dir=str(root), image_size=[16, 8],
                       splits={"train": "bounding_box_train", "val": ["query", "bounding_box_test"]}), tmp_path / "out")
    assert stats["splits"]["train"]["images"] == 4 and stats["splits"]["train"]["ids"] == 2  # junk −1 dropped
    # distractor 0 kept in the gallery (not an identity), junk −1 dropped
    assert stats["splits"]["val"]["images"] == 7 and stats["splits"]["val"]["ids"] == 3
    val, m = _rgb_rgb(tmp_path / "out")
    assert val.pids.tolist() == [3, 4, 0, 1, 3, 3, 4] and val.cams.tolist() == [0, 1, 2, 5, 0, 1, 4]
    # cross-camera positives: 0003 (c1, c2, c1) and 0004 (c2, c5) are findable, 0001 (one image) is not
    assert m["queries"] == 5 and m["rank1"] == 1.0
    assert not (tmp_path / "out" / "identities.json").exists()
