"""Your own edge data (``source: folder``: images + same-named edge maps) and ``python -m tasks.edges predict``."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from common.data.errors import DataError


def _save(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
    im.save(path)


def _image(h, w, seed):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _edge(h, w, value=255):
    m = np.zeros((h, w), np.uint8)
    m[h // 2, :] = value  # one horizontal edge
    m[:, 2] = 127  # not an edge: BIPED's threshold is > 127
    m[:, 3] = 128  # an edge
    return m


@pytest.fixture
def own(tmp_path):
    """raw/{train,val}/{images,edges}: 2 + 2 images, edge maps in several accepted encodings."""
    raw = tmp_path / "raw"
    _save(raw / "train" / "images" / "a.jpg", _image(24, 32, 0))
    _save(raw / "train" / "edges" / "a.png", _edge(24, 32))  # 8-bit greyscale PNG
    _save(raw / "train" / "images" / "b.png", _image(20, 28, 1))
    _save(raw / "train" / "edges" / "b.bmp", np.repeat(_edge(20, 28)[..., None], 3, 2))  # grey saved as RGB
    _save(raw / "val" / "images" / "c.png", _image(16, 16, 2))
    _save(raw / "val" / "edges" / "c.png", (_edge(16, 16) > 127).astype(np.uint8))  # a 0/1 map
    _save(raw / "val" / "images" / "d.tif", _image(16, 24, 3))
    _save(raw / "val" / "edges" / "d.png", _edge(16, 24) > 127, mode="1")  # 1-bit
    return raw


def _params(raw, **over):
    from tasks.edges.prepare import Params

    splits = {s: {"images": f"{s}/images", "edges": f"{s}/edges"} for s in ("train", "val")}
    return Params(**{"source": "folder", "raw_dir": str(raw), "splits": splits, **over})


def test_folder_source_writes_the_prepared_layout(own, tmp_path):
    from tasks.edges.data import load_bsds, read_image
    from tasks.edges.module import load_split
    from tasks.edges.prepare import run

    m = run(_params(own), tmp_path / "prepare")
    assert m["splits"] == {"train": ["a", "b"], "val": ["c", "d"]} and "127" in m["binarise"]
    assert m["empty_edge_maps"] == {"train": 0, "val": 0}
    root = tmp_path / "prepare" / "dataset"
    items = {it.name: it for s in ("train", "val") for it in load_bsds(root, s)}
    want = (_edge(24, 32) > 127).astype(np.uint8)
    assert items["a"].boundaries.shape == (1, 24, 32) and np.array_equal(items["a"].boundaries[0], want)
    assert items["a"].boundaries[0][:, 2].sum() == 0 and items["a"].boundaries[0][:, 3].all()  # > 127 is an edge
    assert np.array_equal(items["b"].boundaries[0], (_edge(20, 28) > 127))
    assert np.array_equal(items["c"].boundaries[0], (_edge(16, 16) > 127))
    assert np.array_equal(items["d"].boundaries[0], (_edge(16, 24) > 127))
    assert np.array_equal(read_image(items["b"].image), _image(20, 28, 1))  # lossless: the pixels are kept
    names, images, bounds = load_split(root, "val")  # what training and evaluation read
    assert names == ["c", "d"] and [im.shape for im in images] == [(16, 16, 3), (16, 24, 3)]


def test_unmatched_files_name_both_folders_and_the_files(own, tmp_path):
    from tasks.edges.prepare import run

    _save(own / "train" / "images" / "lonely.png", _image(8, 8, 5))
    _save(own / "train" / "edges" / "orphan.png", _edge(8, 8))
    with pytest.raises(DataError) as e:
        run(_params(own), tmp_path / "prepare")
    msg = str(e.value)
    assert "lonely.png" in msg and "orphan.png" in msg
    assert str(own / "train" / "images") in msg and str(own / "train" / "edges") in msg
    assert not (tmp_path / "prepare").exists()  # nothing half-written


@pytest.mark.parametrize("bad, match", [
    (lambda p: _save(p / "a.png", _edge(24, 30)), r"a\.png: ground truth 30×24 but image a\.jpg is 32×24"),
    (lambda p: _save(p / "a.png", _image(24, 32, 9)), r"a\.png: edge map is a colour image"),
    (lambda p: (p / "a.png").write_bytes(b"not a png"), r"a\.png: cannot read edge map"),
    (lambda p: _save(p / "a.jpg", _edge(24, 32)), r"two edge maps share the name 'a'"),
])
def test_bad_edge_maps_are_named(own, tmp_path, bad, match):
    from tasks.edges.prepare import run

    bad(own / "train" / "edges")
    with pytest.raises(DataError, match=match):
        run(_params(own), tmp_path / "prepare")


def test_params_refuse_mixed_split_shapes(own):
    from pydantic import ValidationError

    from tasks.edges.prepare import Params

    with pytest.raises(ValidationError, match=r"source folder needs splits.train as \{images: DIR, edges: DIR\}"):
        Params(source="folder", raw_dir=str(own), splits={"train": "train", "val": "val"})
    with pytest.raises(ValidationError, match="need source folder"):
        Params(source="bsds", raw_dir=str(own), splits={"train": {"images": "i", "edges": "e"}, "val": "test"})
    with pytest.raises(ValidationError, match="edges"):  # both folders are required
        Params(source="folder", raw_dir=str(own), splits={"train": {"images": "i"}, "val": {"images": "i"}})


# ----------------------------------------------------------------------------- predict
@pytest.fixture
def models(tmp_path):
    """An untrained tiny DiffusionEdge UNet + autoencoder and RCF, in the pipeline's train layout."""
    import torch

    from tasks.edges import models as M
    from tasks.edges.module import save_edge_model

    torch.manual_seed(0)
    train = tmp_path / "train"
    ae_cfg = {"block_out_channels": [8, 16, 16], "norm_num_groups": 4, "latent_channels": 3, "layers_per_block": 1}
    ae = M.build_autoencoder(ae_cfg)
    save_edge_model(train / "autoencoder" / "model.pt", "autoencoder", ae.state_dict(), ae_cfg, scale=0.3)
    unet = M.DecoupledUNet(3, (8, 8), dims=[16, 24], cond_channels=[8, 16, 24], temb=32, groups=4)
    save_edge_model(train / "diffusion" / "diffusionedge" / "model.pt", "unet", unet.state_dict(), unet.config)
    rcf = M.RCFNet([8, 16])
    save_edge_model(train / "baseline" / "model.pt", "rcf", rcf.state_dict(), rcf.config)
    return train


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "images"
    _save(d / "one.png", _image(30, 37, 0))
    _save(d / "two.jpg", _image(16, 24, 1))
    return d


@pytest.mark.parametrize("model", ["diffusion/diffusionedge/model.pt", "baseline/model.pt"])
def test_predict_writes_an_edge_map_per_image(models, images, tmp_path, model):
    from tasks.edges.__main__ import main

    out = tmp_path / "out"
    index = main(["predict", "--model", str(models / model), "--images", str(images), "--out", str(out),
                  "--steps", "2", "--batch-size", "1"])
    for name, (h, w) in {"one": (30, 37), "two": (16, 24)}.items():
        with Image.open(out / f"{name}.png") as im:
            assert im.mode == "L" and im.size == (w, h)
    doc = json.loads((out / "predictions.json").read_text())
    assert doc == index and doc["count"] == 2 and [e["image"] for e in doc["items"]] == ["one.png", "two.jpg"]
    assert doc["items"][0]["edges"] == "one.png" and doc["items"][0]["width"] == 37
    assert doc["items"][0].get("steps") == (2 if "diffusion" in model else None)


def test_predict_is_the_evaluate_stage_sampler(models, images, tmp_path):
    """The maps are EdgeSampler(…, stochastic=False)'s — what `evaluate` times and exports — at --steps."""
    import torch

    from tasks.edges.data import read_image
    from tasks.edges.models import EdgeSampler
    from tasks.edges.module import load_codec, load_unet, to_tensor
    from tasks.edges.predict import main

    main(["--model", str(models / "diffusion/diffusionedge/model.pt"), "--images", str(images),
          "--out", str(tmp_path / "out"), "--steps", "1"])
    sampler = EdgeSampler(load_unet(models / "diffusion/diffusionedge/model.pt"),
                          load_codec(models / "autoencoder/model.pt"), 1, stochastic=False).eval()
    with torch.no_grad():
        want = sampler(to_tensor(read_image(images / "one.png"))[None])[0, 0].numpy()
    got = np.asarray(Image.open(tmp_path / "out" / "one.png"))
    assert np.abs(got.astype(int) - np.round(want * 255)).max() <= 1


def test_predict_stops_on_a_corrupt_image_or_a_wrong_model(models, images, tmp_path):
    from common.modelfile import ModelFileError
    from tasks.edges.predict import main

    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="broken.png"):
        main(["--model", str(models / "baseline/model.pt"), "--images", str(images), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
    (images / "broken.png").unlink()
    with pytest.raises(ModelFileError, match="expected 'unet' or 'rcf'"):
        main(["--model", str(models / "autoencoder/model.pt"), "--images", str(images), "--out", str(tmp_path / "o")])


def test_predict_map_does_not_depend_on_batch_size(models, tmp_path):
    """Two images of one size: each gets the map it gets alone, whether they run with --batch-size 1 or 2 (the
    sampler's start noise is drawn per image, not per batch)."""
    from tasks.edges.predict import main

    d = tmp_path / "same"
    _save(d / "a.png", _image(16, 24, 4))
    _save(d / "b.png", _image(16, 24, 5))
    maps = {}
    for bs in (1, 2):
        main(["--model", str(models / "diffusion/diffusionedge/model.pt"), "--images", str(d),
              "--out", str(tmp_path / f"bs{bs}"), "--steps", "1", "--batch-size", str(bs)])
        maps[bs] = {n: np.asarray(Image.open(tmp_path / f"bs{bs}" / f"{n}.png")) for n in ("a", "b")}
    for n in ("a", "b"):
        assert np.array_equal(maps[1][n], maps[2][n]), n


def test_a_16_bit_binary_edge_map_keeps_its_edges(tmp_path):
    """A 16-bit PNG holding 0/1 is a binary map (not 1/65535 of white, which would round to an empty map)."""
    from tasks.edges.data import load_folder, read_edge_map

    m = (_edge(12, 20) > 127).astype(np.uint16)
    _save(tmp_path / "edges" / "a.png", m)
    with Image.open(tmp_path / "edges" / "a.png") as im:
        assert im.mode.startswith("I") and np.asarray(im).dtype.itemsize >= 2  # really a 16-bit file
    assert np.array_equal(read_edge_map(tmp_path / "edges" / "a.png"), m)
    _save(tmp_path / "images" / "a.png", _image(12, 20, 0))
    (item,) = load_folder(tmp_path / "images", tmp_path / "edges")
    assert np.array_equal(item.boundaries[0], m) and item.boundaries.sum() > 0


def test_empty_edge_maps_are_allowed_and_counted(tmp_path, capsys):
    from tasks.edges.data import empty_edge_maps, load_folder

    _save(tmp_path / "images" / "a.png", _image(12, 20, 0))
    _save(tmp_path / "edges" / "a.png", _edge(12, 20))
    _save(tmp_path / "images" / "blank.png", np.zeros((12, 20, 3), np.uint8))
    _save(tmp_path / "edges" / "blank.png", np.zeros((12, 20), np.uint8))  # a blank image has no edges: allowed
    items = load_folder(tmp_path / "images", tmp_path / "edges")
    assert [it.name for it in items] == ["a", "blank"] and empty_edge_maps(items) == ["blank"]
    assert "1 of 2 edge map(s)" in capsys.readouterr().out  # said, not silent
