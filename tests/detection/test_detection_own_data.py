"""A user's own detection data (ultralytics data.yaml, COCO json) and own trained ultralytics checkpoint, with no
code edit: the classes come from the data everywhere, a mismatch stops with both numbers, and the exported models
load in ultralytics (``YOLO("x.onnx")``) with the data's class names."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from common.data.errors import DataError
from common.data.yolo import YoloDataYaml, parse_yolo_labels
from tests.conftest import dvc, venv_env

NAMES = ["car", "person", "bus"]
COCO_IDS = [3, 7, 11]  # any ids: mapped to classes 0..2 in id order


def make_yolo_dataset(root: Path, train: int = 16, val: int = 8, size: int = 128) -> Path:
    """A 3-class dataset in ultralytics' layout: train given as a folder, val as a list file; returns data.yaml."""
    from tasks.detection.data import generate_synthetic

    src = root.parent / f"{root.name}-src"
    generate_synthetic(src, {"train": train, "val": val}, size=size, seed=3, min_objects=3, max_objects=6,
                       progress=False)
    for split in ("train", "val"):
        (root / "images" / split / "sub").mkdir(parents=True)
        (root / "labels" / split / "sub").mkdir(parents=True)
        for img in sorted((src / "images" / split).iterdir()):
            shutil.copy(img, root / "images" / split / "sub" / img.name)
            rows = (src / "labels" / split / f"{img.stem}.txt").read_text().splitlines()
            (root / "labels" / split / "sub" / f"{img.stem}.txt").write_text(
                "".join(f"{int(r.split()[0]) % 3} {' '.join(r.split()[1:])}\n" for r in rows if r.strip()))
    shutil.rmtree(src)
    lines = [f"./images/val/sub/{p.name}" for p in sorted((root / "images" / "val" / "sub").iterdir())]
    (root / "val.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "val": "val.txt",
                                                    "names": dict(enumerate(NAMES))}))
    return root / "data.yaml"


def make_coco_dataset(yolo_root: Path, out: Path) -> Path:
    """The same boxes as COCO instances jsons (category ids 3/7/11, one crowd region added per split)."""
    from PIL import Image

    for split in ("train", "val"):
        (out / split).mkdir(parents=True)
        images, anns = [], []
        for k, img in enumerate(sorted((yolo_root / "images" / split / "sub").iterdir()), start=1):
            shutil.copy(img, out / split / img.name)
            w, h = Image.open(img).size
            images.append({"id": k * 10, "file_name": img.name, "width": w, "height": h})
            for cls, cx, cy, bw, bh in parse_yolo_labels(yolo_root / "labels" / split / "sub" / f"{img.stem}.txt", 3):
                anns.append({"id": len(anns) + 1, "image_id": k * 10, "category_id": COCO_IDS[cls], "iscrowd": 0,
                             "bbox": [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]})
        anns.append({"id": len(anns) + 1, "image_id": 10, "category_id": 3, "iscrowd": 1, "bbox": [0, 0, 5, 5]})
        cats = [{"id": i, "name": n} for i, n in zip(COCO_IDS, NAMES)][::-1]  # listed out of order on purpose
        (out / "annotations").mkdir(exist_ok=True)
        (out / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return out


@pytest.fixture(scope="module")
def user_yolo(tmp_path_factory) -> Path:
    return make_yolo_dataset(tmp_path_factory.mktemp("own") / "user")


@pytest.fixture(scope="module")
def ultralytics_checkpoint(tmp_path_factory, user_yolo) -> Path:
    """A checkpoint trained and saved by ultralytics itself (1 epoch, offline), as a user would bring it."""
    from ultralytics import YOLO

    work = tmp_path_factory.mktemp("ul")
    data = work / "data.yaml"  # ultralytics resolves a relative `path` against the working directory
    doc = yaml.safe_load(user_yolo.read_text())
    data.write_text(yaml.safe_dump({**doc, "path": str(user_yolo.parent)}))
    YOLO("yolov8n.yaml").train(data=str(data), epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False,
                               amp=False, project=str(work / "runs"), name="t", exist_ok=True, verbose=False)
    return work / "runs" / "t" / "weights" / "best.pt"


# ------------------------------------------------------------------ readers
def test_data_yaml_folders_list_files_and_names(user_yolo):
    ds = YoloDataYaml(user_yolo)
    assert ds.names == NAMES
    assert len(ds.splits["train"]) == 16 and len(ds.splits["val"]) == 8  # folder searched recursively; list file


def test_data_yaml_errors_name_the_file(tmp_path, user_yolo):
    bad = tmp_path / "nc.yaml"
    bad.write_text(yaml.safe_dump({"path": str(user_yolo.parent), "train": "images/train", "val": "val.txt",
                                   "names": NAMES, "nc": 10}))
    with pytest.raises(DataError, match=r"nc.yaml: nc is 10 but 'names:' has 3 classes"):
        YoloDataYaml(bad)
    bad.write_text(yaml.safe_dump({"path": str(user_yolo.parent), "train": "images/train", "names": NAMES}))
    with pytest.raises(DataError, match="no 'val:' entry"):
        YoloDataYaml(bad)
    lst = tmp_path / "list.txt"
    lst.write_text("# a comment\nnope/missing.png\n")
    bad.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "list.txt", "val": "list.txt", "names": NAMES}))
    with pytest.raises(DataError, match=r"list.txt:2: image 'nope/missing.png' not found"):
        YoloDataYaml(bad)


def test_prepare_yolo_source_takes_classes_from_the_data(tmp_path, user_yolo):
    from tasks.detection.prepare import Params, run

    stats = run(Params(source="yolo", data=str(user_yolo)), tmp_path / "prepare")
    assert stats["classes"] == NAMES and stats["nc"] == 3
    written = yaml.safe_load((tmp_path / "prepare" / "dataset" / "data.yaml").read_text())
    assert written["nc"] == 3 and list(written["names"].values()) == NAMES
    assert stats["splits"]["train"]["images"] == 16 and stats["splits"]["val"]["images"] == 8
    assert stats["splits"]["train"]["boxes"] > 0


def test_prepare_yolo_bad_label_names_file_and_line(tmp_path, user_yolo):
    from tasks.detection.prepare import Params, run

    copy = tmp_path / "user"
    shutil.copytree(user_yolo.parent, copy)
    lab = sorted((copy / "labels" / "train" / "sub").iterdir())[0]
    lab.write_text(lab.read_text() + "7 0.5 0.5 0.1 0.1\n")  # class 7 in a 3-class dataset
    n = len(lab.read_text().splitlines())
    with pytest.raises(DataError, match=rf"{lab.name}:{n}: class id 7 out of range"):
        run(Params(source="yolo", data=str(copy / "data.yaml")), tmp_path / "prepare")
    assert not (tmp_path / "prepare").exists()  # nothing half-written


def test_prepare_coco_source_matches_the_same_boxes_in_yolo_form(tmp_path, user_yolo):
    from tasks.detection.prepare import Params, run

    coco = make_coco_dataset(user_yolo.parent, tmp_path / "coco")
    splits = {s: {"json": f"annotations/instances_{s}.json", "images": s} for s in ("train", "val")}
    stats = run(Params(source="coco", raw_dir=str(coco), splits=splits), tmp_path / "prepare")
    assert stats["classes"] == NAMES  # category ids 3 < 7 < 11 → classes 0, 1, 2, whatever the listing order
    assert stats["splits"]["train"]["crowd_regions"] == 1  # counted, not silently dropped
    out = tmp_path / "prepare" / "dataset"
    for split in ("train", "val"):
        ours = sorted((out / "labels" / split).iterdir())
        theirs = sorted((user_yolo.parent / "labels" / split / "sub").iterdir())
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):  # same objects, same classes (files are named <image id>_<stem>)
            assert a.stem.endswith(b.stem)
            np.testing.assert_allclose(parse_yolo_labels(a, 3), parse_yolo_labels(b, 3), atol=2e-6)


def test_coco_errors_name_the_file(tmp_path):
    from common.data.coco import read_coco_boxes

    p = tmp_path / "instances.json"
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                             "annotations": [{"image_id": 1, "category_id": 5, "bbox": [0, 0, 2, 2]}],
                             "categories": [{"id": 1, "name": "x"}]}))
    with pytest.raises(DataError, match=r"instances.json: annotation #0 has category id 5, which is not listed"):
        read_coco_boxes(p)
    p.write_text('{"images": [}')
    with pytest.raises(DataError, match=r"instances.json:1: not valid JSON"):
        read_coco_boxes(p)


# ------------------------------------------------------------------ a model that does not fit the data
def test_a_model_with_other_classes_stops_with_both_numbers(tmp_path):
    from common.adapters.ultralytics import build_model, save_model
    from common.modelfile import ModelFileError
    from tasks.detection.module import DetectionModule

    path = tmp_path / "ten.pt"
    save_model(path, build_model("yolov8n.yaml", 10), stage="test")
    with pytest.raises(ModelFileError, match=r"ten.pt: the model has 10 classes but the data has 3"):
        DetectionModule(nc=3, names=NAMES, init_weights=str(path))


def test_the_cli_takes_nc_from_the_data_and_refuses_setting_it(tmp_path, user_yolo):
    from tasks.detection.__main__ import main as cli_main
    from tasks.detection.prepare import Params, run

    run(Params(source="yolo", data=str(user_yolo)), tmp_path / "prepare")
    args = ["-c", "tasks/detection/configs/teacher.yaml", "--data.data_dir", str(tmp_path / "prepare" / "dataset"), "--data.imgsz", "64",
            "--trainer.max_epochs", "1", "--trainer.logger", "false"]
    cli = cli_main(args, run=False)
    assert cli.model.model.yaml["nc"] == 3 and cli.model.model.names == dict(enumerate(NAMES))
    with pytest.raises(ValueError, match=r"--model.init_args.nc = 10, but the data says 3 \(data.nc\)"):
        cli_main([*args, "--model.init_args.nc", "10"], run=False)


# ------------------------------------------------------------------ a user's ultralytics checkpoint
def test_an_ultralytics_checkpoint_needs_the_trust_parameter(ultralytics_checkpoint):
    from pydantic import ValidationError

    from common.adapters.ultralytics import import_checkpoint
    from common.modelfile import ModelFileError
    from tasks.detection.train import TeacherParams

    with pytest.raises(ValidationError, match="unpickling|loading it runs code"):
        TeacherParams(checkpoint=str(ultralytics_checkpoint))
    with pytest.raises(ModelFileError, match="refused: an ultralytics checkpoint is a pickle"):
        import_checkpoint(ultralytics_checkpoint, None)
    model, facts = import_checkpoint(ultralytics_checkpoint, ultralytics_checkpoint)
    assert facts["nc"] == 3 and facts["names"] == NAMES and facts["arch"] == "yolov8n.yaml"
    import torch
    from ultralytics import YOLO

    theirs = YOLO(str(ultralytics_checkpoint)).model.float().eval()
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(model.eval()(x)[0], theirs(x)[0])  # the same network, rebuilt from the shipped YAML


@pytest.mark.slow  # the whole chain (~2.5 min): the fast suite checks its parts (the COCO test below through dvc,
# import + predict here, every export's metadata in tests/detection/test_pipeline.py)
def test_own_data_and_own_checkpoint_through_dvc(tiny_repo, user_yolo, ultralytics_checkpoint):
    """`dvc repro tasks/detection` on a user's 3-class data.yaml, starting from the user's ultralytics checkpoint:
    nc = 3 in every stage, the report names the checkpoint, and ultralytics loads our ONNX exports."""
    raw = tiny_repo / "data" / "detection" / "raw"
    shutil.copytree(user_yolo.parent, raw / "user")
    shutil.copy(ultralytics_checkpoint, raw / "best.pt")
    pfile = tiny_repo / "tasks" / "detection" / "params.yaml"
    doc = yaml.safe_load(pfile.read_text())  # what `dvc exp run -S …` would set
    doc["tiny"]["prepare"] = {"source": "yolo", "data": "data/detection/raw/user/data.yaml"}
    doc["tiny"]["train_teacher"].update(checkpoint="data/detection/raw/best.pt",
                                        trust_checkpoint="data/detection/raw/best.pt")
    pfile.write_text(yaml.safe_dump(doc, sort_keys=False))
    dvc(tiny_repo, "repro", "tasks/detection", timeout=900)

    data = tiny_repo / "data" / "detection"
    teacher = json.loads((data / "train_teacher" / "metrics.json").read_text())
    assert teacher["imported_checkpoint"]["names"] == NAMES and teacher["epochs"] == 0
    from common.adapters.ultralytics import load_model

    for stage in ("train_teacher", "sparse_train", "prune", "finetune", "distill"):
        m = load_model(data / stage / "model.pt")
        assert m.yaml["nc"] == 3 and m.names == dict(enumerate(NAMES)), stage
    md = next((tiny_repo / "data" / "reports" / "tiny").glob("detection.md")).read_text()
    assert "started from your checkpoint" in md and "data/detection/raw/best.pt" in md

    # our exports in ultralytics: names from the metadata, the same boxes as our decoding, the same mAP
    from ultralytics import YOLO

    from common.export.onnx import onnx_metadata

    onnx = data / "export" / "pruned+cwd.onnx"
    assert yaml.safe_load(onnx_metadata(onnx)["names"]) == dict(enumerate(NAMES))
    assert yaml.safe_load(onnx_metadata(data / "export" / "pruned+cwd+int8.onnx")["names"]) == dict(enumerate(NAMES))
    model = YOLO(str(onnx), task="detect")
    img = sorted((data / "prepare" / "dataset" / "images" / "val").iterdir())[0]
    res = model.predict(str(img), imgsz=128, conf=0.001, verbose=False)[0]
    assert res.names == dict(enumerate(NAMES))
    ours = next(r for r in json.loads((data / "evaluate" / "metrics.json").read_text())["runs"]
                if r["key"] == "pruned+cwd/onnxruntime/fp32" and r["producer"] == "edgerepro")
    # our ONNX files take any batch size, which ultralytics reads as "dynamic" and would feed rectangular
    # batches of another height and width: rect=False keeps the exported square input (README, "Use your own data")
    val = model.val(data=str(data / "prepare" / "dataset" / "data.yaml"), imgsz=128, batch=1, conf=0.001,
                    iou=0.7, rect=False, plots=False, verbose=False, project=str(tiny_repo / "runs"), name="val")
    assert abs(val.box.map50 - ours["map50"]) <= 0.01, (val.box.map50, ours["map50"])


def test_coco_folder_through_dvc_has_the_data_classes_and_a_mismatch_stops(tiny_repo, user_yolo, tmp_path):
    """`dvc repro` of prepare + train_teacher on a COCO-json folder: nc = 3 from the json; a teacher checkpoint of
    another class count stops the stage with both numbers."""
    make_coco_dataset(user_yolo.parent, tiny_repo / "data" / "detection" / "raw" / "coco")
    pfile = tiny_repo / "tasks" / "detection" / "params.yaml"
    doc = yaml.safe_load(pfile.read_text())
    doc["tiny"]["prepare"] = {"source": "coco", "raw_dir": "data/detection/raw/coco",
                              "splits": {s: {"json": f"annotations/instances_{s}.json", "images": s}
                                         for s in ("train", "val")}}
    pfile.write_text(yaml.safe_dump(doc, sort_keys=False))
    dvc(tiny_repo, "repro", "tasks/detection/dvc.yaml:train_teacher", timeout=600)
    from common.adapters.ultralytics import build_model, load_model, save_model

    m = load_model(tiny_repo / "data" / "detection" / "train_teacher" / "model.pt")
    assert m.yaml["nc"] == 3 and m.names == dict(enumerate(NAMES))

    # the user's data changes to 2 classes (bus dropped) but the teacher is not retrained: the next stage stops
    for split in ("train", "val"):
        jf = tiny_repo / "data" / "detection" / "raw" / "coco" / "annotations" / f"instances_{split}.json"
        j = json.loads(jf.read_text())
        j["categories"] = [c for c in j["categories"] if c["id"] != COCO_IDS[2]]
        j["annotations"] = [a for a in j["annotations"] if a["category_id"] != COCO_IDS[2]]
        jf.write_text(json.dumps(j))
    dvc(tiny_repo, "repro", "-s", "tasks/detection/dvc.yaml:prepare", timeout=300)
    out = subprocess.run([sys.executable, "-m", "tasks.detection.train", "sparse_train"], cwd=tiny_repo,
                         env=venv_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "train_teacher/model.pt: the model has 3 classes but the data has 2" in out.stderr, out.stderr[-2000:]
    assert not (tiny_repo / "data" / "detection" / "sparse_train").exists()


# ------------------------------------------------------------------ predict on a folder of images
def test_predict_on_a_folder_writes_the_boxes_ultralytics_finds(tmp_path, user_yolo, ultralytics_checkpoint):
    """`python -m tasks.detection predict` on the user's checkpoint (imported to our format) writes, per image,
    the boxes ultralytics' own predictor finds with the same weights and thresholds."""
    from ultralytics import YOLO

    from common.adapters.ultralytics import import_checkpoint, save_model
    from tasks.detection.__main__ import main as cli_main

    model, _ = import_checkpoint(ultralytics_checkpoint, ultralytics_checkpoint)
    ours = tmp_path / "model.pt"
    save_model(ours, model, stage="test", imgsz=128)
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((user_yolo.parent / "images" / "train" / "sub").iterdir())[:3]:
        shutil.copy(p, images / p.name)
    index = cli_main(["predict", "--model", str(ours), "--images", str(images), "--out", str(tmp_path / "out"),
                      "--conf", "0.01", "--batch-size", "2"])
    assert index["count"] == 3 and (tmp_path / "out" / "predictions.json").is_file()
    theirs = YOLO(str(ultralytics_checkpoint))
    for item in index["items"]:
        rows = (tmp_path / "out" / item["labels"]).read_text().splitlines()
        assert len(rows) == len(item["boxes"])
        ref = theirs.predict(str(images / item["image"]), imgsz=128, conf=0.01, iou=0.7, verbose=False)[0]
        assert len(ref.boxes) == len(item["boxes"]), item["image"]
        if len(ref.boxes):
            got = np.array([b["xyxy"] for b in item["boxes"]])
            want = ref.boxes.xyxy.numpy()
            assert np.abs(np.sort(got, axis=0) - np.sort(want, axis=0)).max() < 0.5  # pixels
            assert {b["name"] for b in item["boxes"]} <= set(NAMES)

    bad = images / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg"):
        cli_main(["predict", "--model", str(ours), "--images", str(images), "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())["count"] == 3  # the earlier output stays
