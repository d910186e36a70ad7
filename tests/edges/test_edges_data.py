"""Edge data: synthetic scenes (determinism, soft labels from several annotators), the BSDS500 ``.mat``
format round trip, and the BSDS500 / NYUDv2 / BIPED loaders on fixtures written here, with their errors."""
import numpy as np
import pytest

from common.data.errors import DataError
from tasks.edges.data import (Annotators, load_biped, load_bsds, load_nyud, read_bsds_mat, soft_label, synthetic_scene,
                              write_bsds_item)


def test_synthetic_scenes_are_deterministic_with_soft_labels():
    img, segs, bounds = synthetic_scene(0, 3, 64)
    img2, segs2, bounds2 = synthetic_scene(0, 3, 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and bounds.shape == (5, 64, 64)
    assert np.array_equal(img, img2) and np.array_equal(bounds, bounds2) and np.array_equal(segs, segs2)
    assert not np.array_equal(img, synthetic_scene(0, 4, 64)[0]) and not np.array_equal(img, synthetic_scene(1, 3, 64)[0])
    assert segs.min() >= 1  # BSDS labels start at 1
    labels = np.concatenate([soft_label(synthetic_scene(0, i, 64)[2]).ravel() for i in range(8)])
    assert set(np.unique(labels)) <= {0.0, 0.2, 0.4, 0.6, 0.8, 1.0} or np.allclose(labels * 5, np.round(labels * 5))
    assert (labels == 1).sum() > 0 and ((labels > 0) & (labels <= 0.3)).sum() > 0  # the ignore band is populated
    assert synthetic_scene(0, 3, 64, Annotators(count=3))[2].shape[0] == 3


def test_bsds_mat_round_trip(tmp_path):
    img, segs, bounds = synthetic_scene(0, 1, 32)
    write_bsds_item(tmp_path, "test", "100007", img, segs, bounds)
    got = read_bsds_mat(tmp_path / "groundTruth" / "test" / "100007.mat")
    assert got.dtype == np.uint8 and np.array_equal(got, bounds)
    items = load_bsds(tmp_path, "test")
    assert [it.name for it in items] == ["100007"] and np.array_equal(items[0].boundaries, bounds)


def test_bsds_loader_errors_name_the_file(tmp_path):
    import scipy.io

    img, segs, bounds = synthetic_scene(0, 1, 32)
    write_bsds_item(tmp_path, "train", "a", img, segs, bounds)
    with pytest.raises(DataError, match="BSDS500 val images folder not found"):
        load_bsds(tmp_path, "val")
    from PIL import Image

    Image.fromarray(img).save(tmp_path / "images" / "train" / "b.png")  # an image without its .mat
    with pytest.raises(DataError, match=r"b\.mat: missing ground truth"):
        load_bsds(tmp_path, "train")
    scipy.io.savemat(tmp_path / "groundTruth" / "train" / "b.mat", {"other": np.zeros(3)})
    with pytest.raises(DataError, match=r"b\.mat: no 'groundTruth' variable"):
        load_bsds(tmp_path, "train")
    write_bsds_item(tmp_path / "small", "train", "b", img[:16, :16], segs[:, :16, :16], bounds[:, :16, :16])
    (tmp_path / "small" / "groundTruth" / "train" / "b.mat").replace(tmp_path / "groundTruth" / "train" / "b.mat")
    with pytest.raises(DataError, match="ground truth 16×16 but image b.png is 32×32"):
        load_bsds(tmp_path, "train")
    (tmp_path / "groundTruth" / "train" / "b.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match=r"b\.mat: cannot read MAT file"):
        load_bsds(tmp_path, "train")
    (tmp_path / "images" / "train" / "b.png").write_bytes(b"\x89PNG broken")
    write_bsds_item(tmp_path / "fix", "train", "b", img, segs, bounds)
    (tmp_path / "fix" / "groundTruth" / "train" / "b.mat").replace(tmp_path / "groundTruth" / "train" / "b.mat")
    with pytest.raises(DataError, match=r"b\.png: corrupt or unreadable image"):
        load_bsds(tmp_path, "train")


def _png(path, arr):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), arr)


def test_nyud_and_biped_layouts(tmp_path):
    img = np.full((24, 20, 3), 128, np.uint8)
    edge = np.zeros((24, 20), np.uint8)
    edge[5, :] = 255
    _png(tmp_path / "nyud" / "test" / "Images" / "img_5001.png", img)
    _png(tmp_path / "nyud" / "test" / "GT" / "img_5001.png", edge)
    items = load_nyud(tmp_path / "nyud", "test")
    assert items[0].boundaries.shape == (1, 24, 20) and items[0].boundaries.sum() == 20
    _png(tmp_path / "nyud" / "test" / "Images" / "img_5002.png", img)
    with pytest.raises(DataError, match="img_5002.png: missing ground truth|missing ground truth for image img_5002"):
        load_nyud(tmp_path / "nyud", "test")

    _png(tmp_path / "biped" / "edges" / "imgs" / "train" / "rgbr" / "real" / "RGB_008.jpg", img)
    _png(tmp_path / "biped" / "edges" / "edge_maps" / "train" / "rgbr" / "real" / "RGB_008.png", edge)
    items = load_biped(tmp_path / "biped", "train")
    assert items[0].name == "real_RGB_008" and items[0].boundaries.sum() == 20
    _png(tmp_path / "biped" / "edges" / "imgs" / "train" / "rgbr" / "real" / "RGB_009.jpg", img)
    with pytest.raises(DataError, match="RGB_009.png: missing edge map"):
        load_biped(tmp_path / "biped", "train")
    with pytest.raises(DataError, match="BIPED test images folder not found"):
        load_biped(tmp_path / "biped", "test")


def test_prepare_writes_the_bsds_layout(tmp_path):
    from pydantic import ValidationError

    from tasks.edges.prepare import Params, run

    m = run(Params(source="synthetic", train_images=3, val_images=2, image_size=32, seed=0), tmp_path / "p")
    assert m["splits"] == {"train": ["00000", "00001", "00002"], "val": ["00000", "00001"]}
    items = load_bsds(tmp_path / "p" / "dataset", "val")
    assert len(items) == 2 and items[0].boundaries.shape == (5, 32, 32)
    # validation scenes are not training scenes
    tr = load_bsds(tmp_path / "p" / "dataset", "train")
    assert not np.array_equal(tr[0].boundaries, items[0].boundaries)
    with pytest.raises(ValidationError, match="source"):
        Params(source="coco")
    with pytest.raises(ValidationError, match="needs raw_dir and splits"):
        Params(source="bsds")
