"""``python -m tasks.pose predict``: a LitePose model file on a folder of images writes one ``<name>.json`` per image
(the people, in pixels of the original image) and ``predictions.json``, decoded exactly as the evaluator decodes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from common.data.errors import DataError

SIZES = {"wide.png": (80, 48), "tall.jpg": (40, 72)}  # (w, h): letterboxing differs per image


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """An untrained LitePose-XS (kernel 3, no fusion: small) whose heatmaps peak above the detection threshold."""
    from tasks.pose.model import LitePose, save_pose_model

    torch.manual_seed(0)
    model = LitePose("XS", 14, kernel=3, fusion=False)
    with torch.no_grad():
        for final in model.final_refined:
            final[-1].bias[:14] += 0.3  # heatmap channels (the 1/4 output's tags after them stay as they are)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_pose_model(path, model.eval(), variant="xs", imgsz=64, tag_threshold=0.5)
    return path


@pytest.fixture()
def images(tmp_path) -> Path:
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for n, (name, (w, h)) in enumerate(SIZES.items()):
        cv2.imwrite(str(folder / name), np.random.default_rng(n).integers(0, 255, (h, w, 3), dtype=np.uint8))
    return folder


def evaluator_people(model_file: Path, folder: Path) -> dict[str, list[dict]]:
    """The same images through the evaluation path: PoseDataset (letterbox) → model → decode → COCO results."""
    from tasks.pose.data import PoseDataset, load_keypoints_json
    from tasks.pose.group import batch_coco_results, decode
    from tasks.pose.model import load_pose_model

    names = sorted(SIZES)
    doc = {"images": [{"id": i + 1, "file_name": n, "width": SIZES[n][0], "height": SIZES[n][1]}
                      for i, n in enumerate(names)], "annotations": [],
           "categories": [{"id": 1, "name": "person", "keypoints": [f"j{k}" for k in range(14)]}]}
    (folder.parent / "gt.json").write_text(json.dumps(doc))
    ds = PoseDataset(load_keypoints_json(folder.parent / "gt.json", folder), 64, train=False)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    with torch.no_grad():
        quarter, half = load_pose_model(model_file).eval()(batch["img"])
    results = batch_coco_results(decode(quarter, half, 14, tag_threshold=0.5), batch["image_id"].tolist(),
                                 batch["matrix"].numpy())
    return {n: [r for r in results if r["image_id"] == i + 1] for i, n in enumerate(names)}


def test_predict_writes_people_per_image_as_the_evaluator_decodes(model_file, images, tmp_path):
    from tasks.pose.__main__ import main

    out = tmp_path / "out"
    index = main(["predict", "--model", str(model_file), "--images", str(images), "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["predictions.json", "tall.json", "wide.json"]
    assert json.loads((out / "predictions.json").read_text()) == index and index["count"] == 2
    expected = evaluator_people(model_file, images)
    for name, (w, h) in SIZES.items():
        doc = json.loads((out / f"{Path(name).stem}.json").read_text())
        assert (doc["width"], doc["height"], doc["num_joints"], doc["imgsz"]) == (w, h, 14, 64)
        assert doc["tag_threshold"] == 0.5  # the model's own, stored at training
        assert "joints" not in doc  # a model file without joint names: none invented
        want = sorted(expected[name], key=lambda r: -r["score"])
        assert len(doc["people"]) == len(want) > 0
        for got, ref in zip(doc["people"], want):
            assert got["score"] == pytest.approx(ref["score"], abs=1e-5)
            assert np.allclose(np.array(got["keypoints"]).ravel(), ref["keypoints"], atol=0.01)
        xy = np.array([kp[:2] for p in doc["people"] for kp in p["keypoints"] if kp[2] > 0])
        # pixels of the original image (the letterbox undone), not of the 64 × 64 input
        assert xy[:, 0].max() > 64 if w > 64 else xy[:, 1].max() > 64
        entry = next(e for e in index["items"] if e["image"] == name)
        assert entry["result"] == f"{Path(name).stem}.json" and entry["people"] == len(doc["people"])


def test_a_corrupt_image_stops_the_run_with_its_name(model_file, images, tmp_path):
    from tasks.pose.predict import main

    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"broken\.png: corrupt or unreadable image"):
        main(["--model", str(model_file), "--images", str(images), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_model_file_of_another_kind_is_refused(images, tmp_path):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.pose.predict import main

    other = tmp_path / "other.pt"
    save_model_file(other, "edgerepro.detection.v1", "yolo", state_dict={})
    with pytest.raises(ModelFileError, match="other.pt"):
        main(["--model", str(other), "--images", str(images), "--out", str(tmp_path / "out")])


def test_the_joint_names_stored_at_training_are_written(images, tmp_path):
    from common.modelfile import ModelFileError
    from tasks.pose.data import CROWDPOSE_JOINTS
    from tasks.pose.model import LitePose, save_pose_model
    from tasks.pose.predict import main

    torch.manual_seed(0)
    model = LitePose("XS", 14, kernel=3, fusion=False).eval()
    path = tmp_path / "named.pt"
    save_pose_model(path, model, variant="xs", imgsz=64, tag_threshold=0.5, joints=CROWDPOSE_JOINTS)
    main(["--model", str(path), "--images", str(images), "--out", str(tmp_path / "out")])
    for name in SIZES:
        doc = json.loads((tmp_path / "out" / f"{Path(name).stem}.json").read_text())
        assert doc["joints"] == CROWDPOSE_JOINTS and doc["num_joints"] == 14
    save_pose_model(path, model, variant="xs", imgsz=64, joints=CROWDPOSE_JOINTS[:5])  # names of another model
    with pytest.raises(ModelFileError, match=r"named\.pt: its joint names .* are not 14 names"):
        main(["--model", str(path), "--images", str(images), "--out", str(tmp_path / "out2")])
