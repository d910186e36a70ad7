"""A user's own pose data through ``prepare`` with no code edit: a COCO keypoints release, a CrowdPose release
(14 joints, its COCO skeleton, ``crowdIndex``, no ``area``) and an ultralytics pose ``data.yaml``. The joints — how
many, their names and mirror pairs — come from the data; bad input stops with the file (and line) and what was
expected."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from common.data.errors import DataError
from tasks.pose.data import CROWDPOSE_JOINTS, PoseDataset, dataset_joints, load_keypoints_json, oks_sigmas
from tasks.pose.metrics import oks_ap
from tasks.pose.prepare import CROWDPOSE_AREA_FACTOR, Params, run

COCO_JOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle"]
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
W, H = 48, 40  # not square: x and y scale differently


def write_image(path: Path, seed: int, w: int = W, h: int = H) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def person(rng, k: int, hidden: int = 1) -> tuple[list[float], int]:
    """k joints inside the image as COCO [x, y, v, …]; the last ``hidden`` unlabelled (0, 0, 0)."""
    kp = []
    for j in range(k):
        kp += [0, 0, 0] if j >= k - hidden else [float(rng.uniform(8, W - 8)), float(rng.uniform(6, H - 6)),
                                                 int(rng.integers(1, 3))]
    return kp, k - hidden


def keypoints_release(root: Path, joints: list[str], skeleton, *, crowdpose: bool) -> dict:
    """Two splits in the real release layout: CrowdPose (json/crowdpose_{trainval,test}.json, one images/ folder,
    ``crowdIndex``, no ``area``) or COCO (annotations/person_keypoints_{train,val}2017.json, {train,val}2017/)."""
    rng = np.random.default_rng(1)
    specs = {}
    for split, first in (("train", 100), ("val", 200)):
        folder = "images" if crowdpose else f"{split}2017"
        name = f"crowdpose_{'trainval' if split == 'train' else 'test'}.json" if crowdpose \
            else f"person_keypoints_{split}2017.json"
        images, anns = [], []
        for i in range(3):
            image_id = first + i
            write_image(root / folder / f"{image_id:06d}.jpg", image_id)
            info = {"file_name": f"{image_id:06d}.jpg", "id": image_id, "height": H, "width": W}
            if crowdpose:
                info["crowdIndex"] = round(float(rng.uniform(0, 1)), 2)
            images.append(info)
            for _ in range(2):
                kp, n = person(rng, len(joints))
                xs, ys = kp[0::3][:n], kp[1::3][:n]
                bbox = [min(xs) - 2, min(ys) - 2, max(xs) - min(xs) + 4, max(ys) - min(ys) + 4]
                a = {"num_keypoints": n, "iscrowd": 0, "keypoints": kp, "image_id": image_id, "bbox": bbox,
                     "category_id": 1, "id": len(anns) + 1 + first * 10}
                if not crowdpose:
                    a["area"] = bbox[2] * bbox[3] * 0.8
                anns.append(a)
        # a crowd region: no joints, ignored by training (masked) and evaluation (pycocotools' iscrowd)
        crowd = {"num_keypoints": 0, "iscrowd": 1, "keypoints": [0] * 3 * len(joints), "image_id": first,
                 "bbox": [1.0, 1.0, 20.0, 20.0], "category_id": 1, "id": first * 10}
        if not crowdpose:
            crowd["area"] = 30.0
        anns.append(crowd)
        cat = {"supercategory": "person", "id": 1, "name": "person", "keypoints": joints, "skeleton": skeleton}
        json_dir = root / ("json" if crowdpose else "annotations")
        json_dir.mkdir(parents=True, exist_ok=True)
        (json_dir / name).write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
        specs[split] = {"json": f"{json_dir.name}/{name}", "images": folder}
    return specs


def prepare(out: Path, **kw) -> dict:
    run(Params(profile="full", **kw), out)
    return json.loads((out / "prepare.json").read_text())


def gt_as_results(kset) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for v in kset.annotations.values() for a in v if not a["iscrowd"]]


@pytest.mark.parametrize("crowdpose", [False, True], ids=["coco", "crowdpose"])
def test_a_keypoints_release_is_prepared_with_its_own_joints(tmp_path, crowdpose):
    joints, skeleton = (CROWDPOSE_JOINTS, COCO_SKELETON[:12]) if crowdpose else (COCO_JOINTS, COCO_SKELETON)
    raw = tmp_path / "raw"
    splits = keypoints_release(raw, joints, skeleton, crowdpose=crowdpose)
    doc = prepare(tmp_path / "out", source="coco", raw_dir=str(raw), splits=splits)
    k = len(joints)
    assert doc["joints"] == joints and doc["train"] == {"images": 3, "people": 6, "labelled_joints": 6 * (k - 1)}
    root = tmp_path / "out" / "dataset"
    train = load_keypoints_json(root / "train.json", root / "images")
    assert dataset_joints(root) == joints  # what sizes the model's heads
    assert train.num_joints == k and train.raw["categories"][0]["skeleton"] == skeleton  # passed through as is
    if crowdpose:  # no 'area' in CrowdPose: filled as its evaluation scales OKS (0.53 × box area)
        assert doc["train_areas_filled"] == 7 and doc["val_areas_filled"] == 7
        a = train.annotations[100][0]
        assert a["area"] == pytest.approx(CROWDPOSE_AREA_FACTOR * a["bbox"][2] * a["bbox"][3])
        assert "crowdIndex" in train.images[100]
    else:
        assert doc["train_areas_filled"] == 0 and train.annotations[100][0]["area"] != 0
    # pycocotools scores the prepared ground truth as perfect (it needs 'area': a raw CrowdPose json fails)
    val = load_keypoints_json(root / "val.json", root / "images")
    assert oks_ap(val.raw, gt_as_results(val), oks_sigmas(k))["ap"] == pytest.approx(1.0)
    # the peer's YOLO copy: K joints, mirror pairs by name, crowd regions left out, coordinates normalised
    data = yaml.safe_load((root / "yolo" / "data.yaml").read_text())
    assert data["kpt_shape"] == [k, 3]
    assert data["flip_idx"][:2] == ([1, 0] if crowdpose else [0, 2])
    lines = (root / "yolo" / "labels" / "train" / "000100.txt").read_text().splitlines()
    assert len(lines) == 2 and all(len(line.split()) == 5 + 3 * k for line in lines)
    x0 = train.annotations[100][0]["keypoints"][0]
    assert float(lines[0].split()[5]) == pytest.approx(x0 / W, abs=1e-5)
    # the training targets have the data's joints
    item = PoseDataset(train, 64, train=False)[0]
    assert item["heatmaps_4"].shape == (k, 16, 16) and item["joints"].shape[1] == k
    assert float(item["mask_4"].min()) == 0.0  # the crowd region is masked out


def test_a_release_whose_splits_disagree_is_refused(tmp_path):
    raw = tmp_path / "raw"
    splits = keypoints_release(raw, CROWDPOSE_JOINTS, [], crowdpose=True)
    val = raw / splits["val"]["json"]
    doc = json.loads(val.read_text())
    doc["categories"][0]["keypoints"] = CROWDPOSE_JOINTS[::-1]
    val.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"crowdpose_test\.json: joints .* differ from the training split"):
        prepare(tmp_path / "out", source="coco", raw_dir=str(raw), splits=splits)
    with pytest.raises(DataError, match=r"image '000100\.jpg' is listed twice"):
        prepare(tmp_path / "out", source="coco", raw_dir=str(raw), splits={"train": splits["train"],
                                                                            "val": splits["train"]})
    assert not (tmp_path / "out").exists()  # all or nothing


def test_an_annotation_without_box_or_area_is_named(tmp_path):
    raw = tmp_path / "raw"
    splits = keypoints_release(raw, CROWDPOSE_JOINTS, [], crowdpose=True)
    path = raw / splits["train"]["json"]
    doc = json.loads(path.read_text())
    del doc["annotations"][1]["bbox"]
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"crowdpose_trainval\.json: annotations\[1\] \(id 1002\) has neither"):
        prepare(tmp_path / "out", source="coco", raw_dir=str(raw), splits=splits)


# ----------------------------------------------------------------------------- ultralytics pose data.yaml
KPT = ["head", "left_hand", "right_hand", "left_foot", "right_foot"]


def yolo_pose_dataset(root: Path, ndim: int = 3, **yaml_keys) -> Path:
    """5 joints; train as a folder (with a subfolder and a background image), val as a .txt list."""
    rng = np.random.default_rng(2)
    for split, names in (("train", ["a", "b", "sub/c", "sub/bg"]), ("val", ["d", "e"])):
        for n, name in enumerate(names):
            write_image(root / "images" / split / f"{name}.png", n + 10 * len(split))
            if name.endswith("bg"):
                continue  # no label file: an image without people
            rows = []
            for p in range(2):
                kp = []
                for j in range(len(KPT)):
                    x, y = rng.uniform(0.2, 0.8, size=2)
                    v = 0 if (p, j) == (1, 4) else int(rng.integers(1, 3))
                    kp += ([x, y, v] if v else [0, 0, 0]) if ndim == 3 else ([x, y] if v else [0, 0])
                rows.append(" ".join(f"{v:.6g}" for v in [0, 0.5, 0.5, 0.8, 0.9, *kp]))
            lab = root / "labels" / split / f"{name}.txt"
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text("\n".join(rows) + "\n")
    (root / "val.txt").write_text("images/val/d.png\n./images/val/e.png\n")
    doc = {"path": ".", "train": "images/train", "val": "val.txt", "names": {0: "person"},
           "kpt_shape": [len(KPT), ndim], **yaml_keys}
    (root / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "data.yaml"


def test_an_ultralytics_pose_dataset_is_prepared(tmp_path):
    flip = [0, 2, 1, 4, 3]
    data = yolo_pose_dataset(tmp_path / "user", kpt_names={0: KPT}, flip_idx=flip)
    doc = prepare(tmp_path / "out", source="yolo", data=str(data))
    assert doc["joints"] == KPT and doc["kpt_shape"] == [5, 3] and doc["flip_idx"] == flip
    assert doc["train"]["images"] == 4 and doc["train"]["people"] == 6 and doc["train_background_images"] == 1
    assert doc["val"] == {"images": 2, "people": 4, "labelled_joints": 4 * 5 - 2}
    root = tmp_path / "out" / "dataset"
    train = load_keypoints_json(root / "train.json", root / "images")
    assert train.joint_names == KPT and train.flip == flip
    by_name = {im["file_name"]: im for im in train.images.values()}
    assert set(by_name) == {"a.png", "b.png", "c.png", "bg.png"} and by_name["a.png"]["width"] == W
    # pixels of the original image: the label's x · width, y · height
    row = (tmp_path / "user/labels/train/a.txt").read_text().split("\n")[0].split()
    a = train.annotations[by_name["a.png"]["id"]][0]
    assert a["keypoints"][:3] == pytest.approx([float(row[5]) * W, float(row[6]) * H, float(row[7])], abs=1e-3)
    assert a["bbox"] == pytest.approx([0.1 * W, 0.05 * H, 0.8 * W, 0.9 * H], abs=1e-3)
    # the peer's copy carries the data's joints and mirror pairs; the mirror pairs drive the training flip
    yolo = yaml.safe_load((root / "yolo" / "data.yaml").read_text())
    assert yolo["kpt_shape"] == [5, 3] and yolo["flip_idx"] == flip and yolo["names"] == {"0": "person"}
    assert PoseDataset(train, 64, train=True).flip_idx == flip
    assert oks_sigmas(5) == [0.2] * 5  # any skeleton evaluates (ultralytics' constants for non-COCO keypoints)
    assert oks_ap(train.raw, gt_as_results(train), oks_sigmas(5))["ap"] == pytest.approx(1.0)


def test_two_value_keypoints_and_default_joint_names(tmp_path, capsys):
    data = yolo_pose_dataset(tmp_path / "user", ndim=2)
    doc = prepare(tmp_path / "out", source="yolo", data=str(data))
    assert doc["joints"] == [f"joint{i}" for i in range(5)] and doc["kpt_shape"] == [5, 2]
    assert doc["flip_idx"] == [0, 1, 2, 3, 4] and "no flip_idx" in capsys.readouterr().out  # said, not silent
    val = load_keypoints_json(tmp_path / "out/dataset/val.json", tmp_path / "out/dataset/images")
    kps = np.array([a["keypoints"] for v in val.annotations.values() for a in v]).reshape(-1, 5, 3)
    assert set(kps[..., 2].ravel()) == {0.0, 2.0} and (kps[kps[..., 2] == 0][:, :2] == 0).all()  # (0, 0): unlabelled


def _edit(path: Path, **changes) -> None:
    doc = yaml.safe_load(path.read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("changes, match", [
    ({"kpt_shape": None}, r"data\.yaml: no 'kpt_shape:' entry \(expected kpt_shape: \[K, 2\] or \[K, 3\]"),
    ({"kpt_shape": [5, 4]}, r"data\.yaml: kpt_shape is \[5, 4\]"),
    ({"names": {0: "person", 1: "dog"}}, r"data\.yaml: 2 classes in 'names:'"),
    ({"flip_idx": [0, 1, 2]}, r"data\.yaml: flip_idx is \[0, 1, 2\] \(expected a permutation of 0\.\.4"),
    ({"kpt_names": {0: KPT[:4]}}, r"data\.yaml: kpt_names is .* \(expected 5 distinct joint names"),
    ({"val": "missing"}, r"data\.yaml: 'val: missing' not found"),
])
def test_a_bad_data_yaml_is_named(tmp_path, changes, match):
    data = yolo_pose_dataset(tmp_path / "user")
    _edit(data, **changes)
    with pytest.raises(DataError, match=match):
        prepare(tmp_path / "out", source="yolo", data=str(data))


@pytest.mark.parametrize("line, match", [
    ("0 0.5 0.5 0.2 0.2 0.1 0.1 2", r"b\.txt:2: 8 fields on this line \(expected 20 fields: class cx cy w h, then 5 "
                                    r"joints × 3 \(px py v\) as kpt_shape \[5, 3\]"),
    ("0 0.5 0.5 0.2 0.2" + " 0.5 0.5 3" * 5, r"b\.txt:2: joint 0 \(joint0\) has visibility 3\.0"),
    ("0 0.5 0.5 0.2 0.2" + " 1.5 0.5 2" * 5, r"b\.txt:2: joint 0 \(joint0\) at \(1\.5, 0\.5\) is outside"),
    ("1 0.5 0.5 0.2 0.2" + " 0.5 0.5 2" * 5, r"b\.txt:2: class id 1"),
    ("0 0.9 0.5 0.4 0.2" + " 0.5 0.5 2" * 5, r"b\.txt:2: box \(0\.9, 0\.5, 0\.4, 0\.2\)"),
    ("0 0.5 0.5 0.2 0.2" + " 0.5 x 2" * 5, r"b\.txt:2: non-numeric field"),
])
def test_a_bad_label_line_is_named_with_file_and_line(tmp_path, line, match):
    data = yolo_pose_dataset(tmp_path / "user")
    lab = tmp_path / "user/labels/train/b.txt"
    lab.write_text(lab.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(DataError, match=match):
        prepare(tmp_path / "out", source="yolo", data=str(data))
    assert not (tmp_path / "out").exists()


def test_a_corrupt_image_is_named(tmp_path):
    data = yolo_pose_dataset(tmp_path / "user")
    (tmp_path / "user/images/val/e.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"e\.png: corrupt or unreadable image"):
        prepare(tmp_path / "out", source="yolo", data=str(data))


def test_source_yolo_needs_data_and_only_it_reads_it():
    with pytest.raises(ValueError, match="source yolo needs data"):
        Params(source="yolo")
    with pytest.raises(ValueError, match="data is read by source yolo only"):
        Params(source="synthetic", data="x/data.yaml")



# ----------------------------------------------------------------------------- review fixes
def test_images_sharing_a_name_keep_their_own_labels_in_the_yolo_copy(tmp_path):
    """COCO file names a/x.jpg and b/x.jpg (one name, two folders) and x.jpg, x.png (one stem): the peer's copy
    gets four images, each with its own label file (ultralytics names a label by the image's stem)."""
    raw = tmp_path / "raw"
    rng = np.random.default_rng(3)
    specs = {}
    for split, first, names in (("train", 1, ["a/x.jpg", "b/x.jpg", "x.jpg", "x.png"]), ("val", 10, ["v.jpg"])):
        images, anns = [], []
        for i, name in enumerate(names):
            write_image(raw / "img" / name, first + i)
            images.append({"id": first + i, "file_name": name, "width": W, "height": H})
            kp, n = person(rng, len(KPT), hidden=0)
            anns.append({"id": first + i, "image_id": first + i, "category_id": 1, "iscrowd": 0, "keypoints": kp,
                         "num_keypoints": n, "bbox": [1.0, 1.0, W - 2.0, H - 2.0], "area": 100.0})
        cat = {"id": 1, "name": "person", "keypoints": KPT, "skeleton": []}
        (raw / f"{split}.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
        specs[split] = {"json": f"{split}.json", "images": "img"}
    doc = prepare(tmp_path / "out", source="coco", raw_dir=str(raw), splits=specs)
    assert doc["train"]["people"] == 4
    yolo = tmp_path / "out" / "dataset" / "yolo"
    imgs = sorted(p.name for p in (yolo / "images" / "train").iterdir())
    labels = sorted(p.name for p in (yolo / "labels" / "train").iterdir())
    assert len(imgs) == 4 and len(labels) == 4 and imgs[0] == "x.jpg"
    train = json.loads((raw / "train.json").read_text())
    got = {}
    for lab in (yolo / "labels" / "train").iterdir():
        (img,) = [p for p in (yolo / "images" / "train").iterdir() if p.stem == lab.stem]
        (line,) = lab.read_text().splitlines()
        got[img.read_bytes()] = float(line.split()[5]) * W  # the first joint's x, in pixels
    for im, a in zip(train["images"], train["annotations"]):  # each image carries its own person
        assert got[(raw / "img" / im["file_name"]).read_bytes()] == pytest.approx(a["keypoints"][0], abs=1e-3)


def test_yolo_labels_get_ultralytics_oks_area(tmp_path):
    """A yolo label has a box only: its OKS area is 0.53 · w · h, as ultralytics' pose validator computes it."""
    data = yolo_pose_dataset(tmp_path / "user", kpt_names={0: KPT})
    prepare(tmp_path / "out", source="yolo", data=str(data))
    val = load_keypoints_json(tmp_path / "out/dataset/val.json", tmp_path / "out/dataset/images")
    for a in (a for v in val.annotations.values() for a in v):
        assert a["area"] == pytest.approx(CROWDPOSE_AREA_FACTOR * a["bbox"][2] * a["bbox"][3], rel=1e-3)


def test_a_yolo_split_without_any_person_names_the_label_folder(tmp_path):
    data = yolo_pose_dataset(tmp_path / "user")
    (tmp_path / "user" / "labels").rename(tmp_path / "user" / "label")  # misnamed: every image looks background
    with pytest.raises(DataError, match=r"split 'train': no labelled person in 4 image\(s\); label files looked "
                                        r"for in .*labels/train"):
        prepare(tmp_path / "out", source="yolo", data=str(data))
    assert not (tmp_path / "out").exists()
