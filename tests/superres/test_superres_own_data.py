"""Your own SR data (``source: folders``: HR-only folders or HR / LR pairs) and ``python -m tasks.superres predict``."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from common.data.errors import DataError

TINY_AE = {"block_out_channels": [8, 16], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4}
TINY_UNET = {"block_out_channels": [16, 32], "layers_per_block": 1, "attention_levels": [False, True],
             "norm_num_groups": 8, "attention_head_dim": 8}


def _save(path, h, w, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def _params(raw, splits, scale=4):
    from tasks.superres.prepare import Params

    return Params(source="folders", scale=scale, raw_dir=str(raw), splits=splits, seed=0)


def _read(path):
    return np.array(Image.open(path).convert("RGB"))


def test_hr_only_folders_are_degraded_and_odd_sizes_cropped(tmp_path):
    from common.data.synthetic import item_rng
    from tasks.superres.data import Degradation, degrade
    from tasks.superres.prepare import run

    raw = tmp_path / "raw"
    a = _save(raw / "hr_train" / "a.png", 64, 48, 0)
    _save(raw / "hr_train" / "b.jpg", 50, 43, 1)  # not a multiple of 4: loses 2 rows and 3 columns
    _save(raw / "hr_val" / "c.png", 32, 32, 2)
    m = run(_params(raw, {"train": {"hr": "hr_train"}, "val": {"hr": "hr_val"}}), tmp_path / "p")
    root = tmp_path / "p" / "dataset"
    assert m["scale"] == 4 and [it["name"] for it in m["splits"]["train"]] == ["a", "b"]
    assert m["splits"]["train"][1]["hr_cropped"] == [2, 3] and "hr_cropped" not in m["splits"]["train"][0]
    assert _read(root / "train" / "hr" / "b.png").shape == (48, 40, 3)  # cropped, never resized
    assert _read(root / "train" / "lr" / "b.png").shape == (12, 10, 3)
    assert np.array_equal(_read(root / "train" / "hr" / "a.png"), a)
    # the LR is the synthetic source's degradation at the same scale, seeded per item
    assert np.array_equal(_read(root / "train" / "lr" / "a.png"), degrade(a, item_rng(0, 0, 12), Degradation(scale=4)))
    assert _read(root / "val" / "lr" / "c.png").shape == (8, 8, 3)
    _save(raw / "tiny" / "t.png", 12, 40)  # 12 px → an LR of 3 rows at ×4
    with pytest.raises(DataError, match=r"t\.png: HR size 40×12 is too small for scale 4"):
        run(_params(raw, {"train": {"hr": "tiny"}, "val": {"hr": "hr_val"}}), tmp_path / "q")


def test_pairs_keep_the_lr_and_check_every_size(tmp_path):
    from tasks.superres.prepare import run

    raw = tmp_path / "raw"
    hr = _save(raw / "hr" / "x.png", 64, 48, 0)
    lr = _save(raw / "lr" / "x.png", 16, 12, 1)
    _save(raw / "hr" / "y.png", 35, 33, 2)  # HR one to three px over 4 × LR: the extra rows / columns are cropped
    _save(raw / "lr" / "y.bmp", 8, 8, 3)
    m = run(_params(raw, {"train": {"hr": "hr", "lr": "lr"}, "val": {"hr": "hr", "lr": "lr"}}), tmp_path / "p")
    root = tmp_path / "p" / "dataset"
    assert [it["name"] for it in m["splits"]["val"]] == ["x", "y"]
    assert np.array_equal(_read(root / "val" / "hr" / "x.png"), hr)
    assert np.array_equal(_read(root / "val" / "lr" / "x.png"), lr)  # the given LR, not a degraded one
    assert _read(root / "val" / "hr" / "y.png").shape == (32, 32, 3) and m["splits"]["val"][1]["hr_cropped"] == [3, 1]

    _save(raw / "lr" / "x.png", 17, 12, 1)  # HR 48×64 would need an LR of 12×16
    with pytest.raises(DataError, match=r"x\.png: LR size 12×17 × 4 does not match HR x\.png \(48×64\)"):
        run(_params(raw, {"train": {"hr": "hr", "lr": "lr"}, "val": {"hr": "hr", "lr": "lr"}}), tmp_path / "q")
    _save(raw / "lr" / "x.png", 16, 12, 1)
    _save(raw / "hr" / "z.png", 16, 16, 4)
    _save(raw / "lr" / "w.png", 4, 4, 5)
    with pytest.raises(DataError) as e:
        run(_params(raw, {"train": {"hr": "hr", "lr": "lr"}, "val": {"hr": "hr", "lr": "lr"}}), tmp_path / "q")
    msg = str(e.value)
    assert "z.png" in msg and "w.png" in msg and str(raw / "hr") in msg and str(raw / "lr") in msg
    assert not (tmp_path / "q").exists()


# ----------------------------------------------------------------------------- predict
@pytest.fixture
def pipeline(tmp_path):
    """An untrained tiny one-step generator + autoencoder and a ×2 dataset manifest, in the pipeline's layout."""
    import torch

    from tasks.superres import models as M
    from tasks.superres.module import save_sr_model

    torch.manual_seed(0)
    root = tmp_path / "data" / "superres"
    ae = M.build_autoencoder(TINY_AE)
    save_sr_model(root / "train" / "autoencoder" / "model.pt", "autoencoder", ae.state_dict(), TINY_AE, scale=0.5)
    unet = M.build_unet(4, TINY_UNET)
    save_sr_model(root / "train" / "one_step" / "d3sr" / "model.pt", "onestep", unet.state_dict(),
                  {"latent_channels": 4, "unet": TINY_UNET, "generator_timestep": 100})
    save_sr_model(root / "train" / "diffusion" / "model.pt", "unet", unet.state_dict(),
                  {"latent_channels": 4, "unet": TINY_UNET})
    (root / "prepare" / "dataset").mkdir(parents=True)
    (root / "prepare" / "dataset" / "manifest.json").write_text(json.dumps({"scale": 2, "splits": {}}))
    images = tmp_path / "images"
    _save(images / "one.png", 12, 17, 0)
    _save(images / "two.jpg", 9, 10, 1)
    return root, images


def test_predict_writes_a_super_resolved_image_per_image(pipeline, tmp_path):
    import torch

    from tasks.superres.__main__ import main
    from tasks.superres.evaluate import run_padded
    from tasks.superres.module import load_codec, load_onestep, to_tensor

    root, images = pipeline
    out = tmp_path / "out"
    model = root / "train" / "one_step" / "d3sr" / "model.pt"
    index = main(["predict", "--model", str(model), "--images", str(images), "--out", str(out)])
    for name, (h, w) in {"one": (12, 17), "two": (9, 10)}.items():
        with Image.open(out / f"{name}.png") as im:
            assert im.mode == "RGB" and im.size == (2 * w, 2 * h)  # the manifest's scale
    doc = json.loads((out / "predictions.json").read_text())
    assert doc == index and doc["count"] == 2 and doc["items"][1]["scale"] == 2
    assert doc["items"][0]["sr"] == "one.png" and (doc["items"][0]["width"], doc["items"][0]["input_width"]) == (34, 17)
    # the evaluate stage's path: the one-step generator on the reflect-padded LR
    sr = load_onestep(model, load_codec(root / "train" / "autoencoder" / "model.pt"), 2)
    with torch.no_grad():
        want = run_padded(sr, to_tensor(_read(images / "one.png"))[None], 2)[0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(_read(out / "one.png").astype(int) - np.round(want * 255)).max() <= 1
    main(["predict", "--model", str(model), "--images", str(images), "--out", str(out), "--scale", "4"])
    assert Image.open(out / "two.png").size == (40, 36)


def test_predict_stops_on_a_corrupt_image_or_a_wrong_model(pipeline, tmp_path):
    from common.modelfile import ModelFileError
    from tasks.superres.predict import main

    root, images = pipeline
    model = root / "train" / "one_step" / "d3sr" / "model.pt"
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        main(["--model", str(model), "--images", str(images), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
    (images / "broken.jpg").unlink()
    with pytest.raises(ModelFileError, match="expected 'onestep'"):
        main(["--model", str(root / "train" / "diffusion" / "model.pt"), "--images", str(images),
              "--out", str(tmp_path / "o")])


def test_predict_takes_the_scale_the_generator_was_trained_for_and_refuses_another(pipeline, tmp_path):
    from common.modelfile import ModelFileError
    from tasks.superres.module import _load, save_sr_model
    from tasks.superres.predict import main

    root, images = pipeline
    model = root / "train" / "one_step" / "d3sr" / "model.pt"
    ck = _load(model, "onestep")
    save_sr_model(model, "onestep", ck["state_dict"], ck["config"], sr_scale=3)  # as OneStepModule.save stores it
    index = main(["--model", str(model), "--images", str(images), "--out", str(tmp_path / "o")])
    assert index["items"][0]["scale"] == 3  # the file's own scale beats the manifest's ×2
    with pytest.raises(ModelFileError, match=r"trained for ×3, not ×4"):
        main(["--model", str(model), "--images", str(images), "--out", str(tmp_path / "o"), "--scale", "4"])
