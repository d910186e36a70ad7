"""Super-resolution data: degradation determinism and shape, the HR sources, and the real-folder loaders
(DIV2K / RealSR / DRealSR naming) on fixtures, with their errors."""
import numpy as np
import pytest

from common.data.errors import DataError
from common.data.synthetic import item_rng
from tasks.superres.data import (TRAIN_PHOTOS, VAL_PHOTOS, Degradation, degrade, gaussian_kernel, pair_folders,
                                 pair_key, read_rgb, synthetic_pair, texture)


def test_degradation_is_deterministic_and_scales_by_four():
    hr = texture(item_rng(0, 1), 64)
    a = degrade(hr, item_rng(0, 5))
    b = degrade(hr, item_rng(0, 5))
    c = degrade(hr, item_rng(0, 6))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert degrade(hr, item_rng(0, 5), Degradation(scale=2)).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="multiple of the scale"):
        degrade(hr[:62], item_rng(0, 5))


def test_degradation_loses_detail():
    import cv2

    hr = texture(item_rng(0, 2), 128)
    lr = degrade(hr, item_rng(0, 2))
    up = cv2.resize(lr, (128, 128), interpolation=cv2.INTER_CUBIC).astype(float)
    assert np.abs(up - hr).mean() > 5  # a real loss of information, not a copy


def test_blur_kernel_is_normalised_and_anisotropic_when_asked():
    k = gaussian_kernel(np.random.default_rng(0), (0.5, 3.0))
    assert k.shape == (21, 21) and abs(k.sum() - 1) < 1e-5 and k[10, 10] == k.max()


def test_synthetic_pairs_hold_out_validation_photos():
    assert not set(TRAIN_PHOTOS) & set(VAL_PHOTOS)
    srcs = {synthetic_pair(0, i, "val", 32, 0.0)[2] for i in range(12)}
    assert srcs <= set(VAL_PHOTOS)
    hr, lr, _ = synthetic_pair(0, 3, "train", 64, 0.5)
    hr2, lr2, _ = synthetic_pair(0, 3, "train", 64, 0.5)
    assert hr.shape == (64, 64, 3) and lr.shape == (16, 16, 3) and np.array_equal(lr, lr2) and np.array_equal(hr, hr2)


def _img(path, w, h):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


@pytest.mark.parametrize("stem, key", [("0001", "0001"), ("0001x4", "0001"), ("Canon_001_HR", "Canon_001"),
                                       ("Canon_001_LR4", "Canon_001"), ("DSC_1454_x1", "DSC_1454"),
                                       ("DSC_1454_x4", "DSC_1454")])
def test_pair_key(stem, key):
    assert pair_key(stem) == key


def test_div2k_and_realsr_layouts(tmp_path):
    _img(tmp_path / "DIV2K_HR" / "0001.png", 64, 48)
    _img(tmp_path / "DIV2K_LR" / "0001x4.png", 16, 12)
    pairs = pair_folders(tmp_path / "DIV2K_HR", tmp_path / "DIV2K_LR", 4)
    assert [(h.name, l.name) for h, l in pairs] == [("0001.png", "0001x4.png")]
    # RealSR keeps HR and LR in one folder
    _img(tmp_path / "Canon" / "Canon_001_HR.png", 66, 50)  # not a multiple of 4: within scale − 1 px is fine
    _img(tmp_path / "Canon" / "Canon_001_LR4.png", 16, 12)
    pairs = pair_folders(tmp_path / "Canon", tmp_path / "Canon", 4)
    assert [(h.name, l.name) for h, l in pairs] == [("Canon_001_HR.png", "Canon_001_LR4.png")]


def test_folder_errors(tmp_path):
    _img(tmp_path / "hr" / "a.png", 64, 64)
    _img(tmp_path / "lr" / "ax4.png", 20, 16)
    with pytest.raises(DataError, match=r"ax4.png: LR size 20×16 × 4 does not match HR a.png"):
        pair_folders(tmp_path / "hr", tmp_path / "lr", 4)
    _img(tmp_path / "hr" / "b.png", 64, 64)
    with pytest.raises(DataError, match="without a partner, e.g. b.png"):
        pair_folders(tmp_path / "hr", tmp_path / "lr", 4)
    with pytest.raises(DataError, match="HR images folder not found"):
        pair_folders(tmp_path / "nope", tmp_path / "lr", 4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="bad.png: cannot read image"):
        read_rgb(bad)


def test_training_crops_keep_hr_and_lr_aligned():
    import torch

    from tasks.superres.module import PairDataset

    rng = np.random.default_rng(0)
    lr = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    hr = np.repeat(np.repeat(lr, 4, axis=1), 4, axis=2)  # every LR pixel is a constant 4×4 HR block
    ds = PairDataset(hr, lr, ["a", "b", "c"], scale=4, crop=32, train=True, seed=1)
    for epoch in range(3):
        ds.epoch = epoch
        for i in range(3):
            item = ds[i]
            assert item["hr"].shape == (3, 32, 32) and item["lr"].shape == (3, 8, 8)
            assert torch.equal(item["hr"][:, ::4, ::4], item["lr"])  # flips/transposes applied to both
    assert not torch.equal(PairDataset(hr, lr, list("abc"), 4, 32, True, seed=1)[0]["hr"],
                           PairDataset(hr, lr, list("abc"), 4, 32, True, seed=2)[0]["hr"])
    with pytest.raises(ValueError, match="multiple of the scale"):
        PairDataset(hr, lr, list("abc"), 4, 30, True)


def test_load_split_names_the_missing_manifest(tmp_path):
    from tasks.superres.module import load_split

    with pytest.raises(FileNotFoundError, match="manifest.json: not found"):
        load_split(tmp_path, "train")


def test_models_run_on_odd_lr_sizes():
    import torch

    from tasks.superres.evaluate import run_padded
    from tasks.superres.models import Bicubic

    out = run_padded(Bicubic(4), torch.rand(1, 3, 13, 7), 4)
    assert out.shape == (1, 3, 52, 28)
