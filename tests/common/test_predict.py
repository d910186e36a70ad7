"""common.predict: a folder of images in, one result per image and predictions.json out, all or nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from common.data.errors import DataError
from common.predict import Predictor, predict_main


def _write(result, image: Path, out: Path, args) -> dict:
    target = out / image.relative_to(args.images).with_suffix(".txt")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(str(result))
    return {"file": target.relative_to(out).as_posix(), "size": result}


SIZE = Predictor(load=lambda p: "model", describe="<name>.txt (the image size)",
                 predict=lambda m, paths, a: [list(Image.open(p).size) for p in paths], write=_write, batch_size=2)


@pytest.fixture
def folder(tmp_path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        Image.new("RGB", (8 + i, 6)).save(images / name)
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    return images, model


def run(images, model, out, *extra):
    return predict_main("t", SIZE, ["--model", str(model), "--images", str(images), "--out", str(out), *extra])


def test_every_image_gets_its_result_and_an_index(folder, tmp_path):
    images, model = folder
    index = run(images, model, tmp_path / "out", "--recursive")
    assert index["count"] == 3 and [i["image"] for i in index["items"]] == ["a.png", "b.jpg", "sub/c.png"]
    assert (tmp_path / "out" / "sub" / "c.txt").read_text() == "[10, 6]"
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())["count"] == 3


def test_a_corrupt_image_stops_the_run_and_keeps_the_earlier_output(folder, tmp_path):
    images, model = folder
    run(images, model, tmp_path / "out")
    (images / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        run(images, model, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())["count"] == 2


def test_two_images_with_one_name_are_refused(folder, tmp_path):
    images, model = folder
    Image.new("RGB", (4, 4)).save(images / "a.jpg")
    with pytest.raises(DataError, match="same name as a.jpg|same name as a.png"):
        run(images, model, tmp_path / "out")


@pytest.mark.parametrize("where", ["images", "inside", "parent", "model_dir", "foreign"])
def test_an_output_folder_that_would_destroy_something_is_refused(folder, tmp_path, where):
    images, model = folder
    out = {"images": images, "inside": images / "preds", "parent": tmp_path, "model_dir": model.parent,
           "foreign": tmp_path / "notes"}[where]
    if where == "foreign":
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="--out"):
        run(images, model, out)
    assert all(p.is_file() for p in images.rglob("*.png")) and model.is_file()
    if where == "foreign":
        assert (out / "mine.txt").read_text() == "keep me"
