"""Pose data (synthetic scenes, COCO-keypoints loading and its errors), grouping, and OKS AP."""
import json

import numpy as np
import pytest
import torch

from common.data.errors import DataError
from tasks.pose.data import PoseDataset, flip_index, load_keypoints_json, oks_sigmas, synthesize, CROWDPOSE_JOINTS
from tasks.pose.group import decode, group_people, oracle_tags, refine, to_coco_results
from tasks.pose.metrics import oks_ap


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("pose")
    path = synthesize(root, "val", 6, seed=0, size=96, max_people=3, min_height=30, max_height=80, progress=False)
    return root, path


def test_synthetic_is_deterministic_and_valid(scenes, tmp_path):
    root, path = scenes
    again = synthesize(tmp_path, "val", 6, seed=0, size=96, max_people=3, min_height=30, max_height=80, progress=False)
    assert json.loads(path.read_text()) == json.loads(again.read_text())
    kset = load_keypoints_json(path)
    assert kset.num_joints == 14 and len(kset.images) == 6
    anns = [a for v in kset.annotations.values() for a in v]
    assert len(anns) >= 6 and all(a["num_keypoints"] >= 2 for a in anns)
    assert any(v == 1 for a in anns for v in a["keypoints"][2::3]) or len(anns) < 10  # occlusion is labelled


def test_coco_round_trip_gives_perfect_ap(scenes):
    """Ground truth written as results (in the real COCO format) scores OKS AP 1.0 through pycocotools."""
    _, path = scenes
    kset = load_keypoints_json(path)
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for v in kset.annotations.values() for a in v]
    stats = oks_ap(kset.raw, results, oks_sigmas(14))
    assert stats["ap"] == pytest.approx(1.0) and stats["ap50"] == pytest.approx(1.0)
    # shifted keypoints score lower, no results score 0
    shifted = [{**r, "keypoints": [v + (6 if i % 3 < 2 else 0) for i, v in enumerate(r["keypoints"])]} for r in results]
    assert oks_ap(kset.raw, shifted, oks_sigmas(14))["ap"] < 0.9
    assert oks_ap(kset.raw, [], oks_sigmas(14))["ap"] == 0.0


def test_dataset_targets(scenes):
    _, path = scenes
    ds = PoseDataset(load_keypoints_json(path), 64, train=False)
    item = ds[0]
    assert item["img"].shape == (3, 64, 64) and item["heatmaps_4"].shape == (14, 16, 16)
    assert item["heatmaps_2"].shape == (14, 32, 32) and float(item["heatmaps_2"].max()) == pytest.approx(1.0)
    vis = item["joints"][..., 1]
    assert vis.sum() > 0 and (item["joints"][..., 0][vis > 0] < 14 * 16 * 16).all()
    assert flip_index(CROWDPOSE_JOINTS)[:2] == [1, 0] and flip_index(CROWDPOSE_JOINTS)[12:] == [12, 13]


def _write(tmp_path, doc):
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "images" / "a.png").write_bytes(b"")
    p = tmp_path / "bad.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _doc(**ann):
    return {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
            "annotations": [{"id": 7, "image_id": 1, "keypoints": [0] * 42, **ann}],
            "categories": [{"id": 1, "name": "person", "keypoints": CROWDPOSE_JOINTS}]}


@pytest.mark.parametrize("doc,match", [
    ('{"images": [', r"bad\.json:1: not valid JSON"),
    ({"images": []}, r"the top level is malformed"),
    (_doc(keypoints=[0] * 41), r"annotations\[0\] \(id 7\) is malformed \(expected 'keypoints' of 3 × 14"),
    (_doc(keypoints=[0, 0, 3] * 14), r"visibility flags"),
    (_doc(image_id=2), r"image_id 2 is not in 'images'"),
    (_doc(bbox=[0, 0, -1, 2]), r"'bbox' = \[x, y, w, h\]"),
])
def test_bad_annotations_name_file_record_and_expectation(tmp_path, doc, match):
    with pytest.raises(DataError, match=match):
        load_keypoints_json(_write(tmp_path, doc))


def test_missing_image_is_reported(tmp_path):
    doc = _doc()
    doc["images"][0]["file_name"] = "missing.png"
    with pytest.raises(DataError, match=r"images\[0\] \(id 1\): image .*missing.png not found"):
        load_keypoints_json(_write(tmp_path, doc))


def test_grouping_hand_made_example():
    """Two people, three joint types; tags 0 vs 5 tell them apart, peaks below threshold are ignored."""
    k, m = 3, 4
    val = np.array([[0.9, 0.8, 0.05, 0], [0.7, 0.95, 0, 0], [0.6, 0, 0, 0]])
    x = np.array([[10, 30, 50, 0], [31, 11, 0, 0], [12, 0, 0, 0]])
    y = np.array([[5, 6, 7, 0], [15, 16, 0, 0], [25, 0, 0, 0]])
    tag = np.array([[0.1, 5.0, 9.0, 0], [5.2, -0.1, 0, 0], [0.0, 0, 0, 0]])
    people = group_people(val, x, y, tag, detection_threshold=0.1, tag_threshold=1.0)
    assert people.shape == (2, k, 4)
    a = people[np.argmin(np.abs(people[:, 0, 3]))]  # the person with tag ≈ 0
    b = people[np.argmax(people[:, 0, 3])]
    assert a[:, :2].tolist() == [[10, 5], [11, 16], [12, 25]]
    assert b[:2, :2].tolist() == [[30, 6], [31, 15]] and b[2, 2] == 0  # B has no third joint


def test_oracle_tags_give_each_pixel_the_nearest_person():
    """Person 0 has joint 0 at (1, 1), person 1 at (6, 2); only person 1 has joint 1; padded rows are ignored."""
    k, res = 2, 8
    joints = np.zeros((1, 3, k, 2), np.int64)
    joints[0, 0, 0] = (0 * res * res + 1 * res + 1, 1)
    joints[0, 1, 0] = (0 * res * res + 2 * res + 6, 1)
    joints[0, 1, 1] = (1 * res * res + 5 * res + 3, 1)
    tags = oracle_tags(joints, k, res, spacing=3.0)
    assert tags.shape == (1, k, res, res)
    assert tags[0, 0, 1, 1] == 0 and tags[0, 0, 0, 2] == 0  # person 0's side
    assert tags[0, 0, 2, 6] == 3 and tags[0, 0, 7, 7] == 3  # person 1's side
    assert np.all(tags[0, 1] == 3)  # only person 1 has joint 1


def test_decode_maps_back_to_the_original_image():
    """A synthetic network output with one person decodes to its joints in original-image pixels."""
    k = 2
    quarter, half = torch.zeros(1, 2 * k, 16, 16), torch.zeros(1, k, 32, 32)
    for j, (x2, y2) in enumerate([(8, 10), (20, 24)]):  # 1/2-resolution peaks
        half[0, j, y2, x2] = 1.0
        quarter[0, j, y2 // 2, x2 // 2] = 1.0
        quarter[0, k + j] = 3.0  # same tag everywhere
    (people, scores), = decode(quarter, half, k, detection_threshold=0.1)
    assert len(people) == 1 and scores[0] == pytest.approx(people[0, :, 2].mean())
    m = np.array([[0.5, 0, 0], [0, 0.5, 0]])  # original image was 128×128, letterboxed to 64
    res = to_coco_results(people, 3, m, scores)
    kp = np.array(res[0]["keypoints"]).reshape(k, 3)
    assert res[0]["image_id"] == 3 and np.allclose(kp[:, :2], [[2 * 8 * 2 + 2, 2 * 10 * 2 + 2], [82, 98]], atol=1.1)


def test_refine_fills_a_missing_joint_at_the_best_tag_consistent_peak():
    hm = np.zeros((2, 8, 8))
    tags = np.zeros((2, 8, 8))
    hm[1, 2, 6], tags[1, 2, 6] = 0.9, 4.0  # strong peak of another person's tag
    hm[1, 5, 1], tags[1, 5, 1] = 0.5, 0.1  # weaker peak with this person's tag
    tags[0, 3, 3] = 0.0
    person = np.array([[[3.0, 3.0, 0.8, 0.0], [0, 0, 0, 0]]])
    out = refine(person, hm, tags)
    assert out[0, 1, 2] == pytest.approx(0.5) and int(out[0, 1, 0]) == 1 and int(out[0, 1, 1]) == 5
    assert out[0, 0].tolist() == person[0, 0].tolist()  # found joints are kept


def test_prepare_reads_a_coco_release(tmp_path):
    """``source: coco``: a CrowdPose/COCO-style layout (json/ + images/) becomes the pipeline's dataset."""
    from tasks.pose.prepare import Params, run

    raw = tmp_path / "raw"
    for split in ("trainval", "test"):
        synthesize(raw / split, split, 3, seed=1, size=64, max_people=2, min_height=20, max_height=50, progress=False)
        (raw / "json").mkdir(exist_ok=True)
        (raw / split / f"{split}.json").rename(raw / "json" / f"crowdpose_{split}.json")
        for f in (raw / split / "images").iterdir():
            (raw / "images").mkdir(exist_ok=True)
            f.rename(raw / "images" / f.name)
    params = Params(source="coco", raw_dir=str(raw),
                    splits={"train": {"json": "json/crowdpose_trainval.json", "images": "images"},
                            "val": {"json": "json/crowdpose_test.json", "images": "images"}})
    doc = run(params, tmp_path / "out")
    root = tmp_path / "out" / "dataset"
    assert doc["train"]["images"] == 3 and doc["val"]["images"] == 3 and doc["joints"] == CROWDPOSE_JOINTS
    kset = load_keypoints_json(root / "val.json", root / "images")  # the written dataset loads and validates
    assert len(kset.images) == 3
    labels = sorted((root / "yolo" / "labels" / "train").iterdir())
    rows = [line.split() for f in labels for line in f.read_text().splitlines()]
    assert len(rows) == doc["train"]["people"] and all(len(r) == 5 + 3 * 14 for r in rows)
    assert json.loads((root / "yolo" / "data.yaml").read_text())["kpt_shape"] == [14, 3]


class _GroundTruthNet(torch.nn.Module):
    """Stands in for a trained LitePose: returns each image's target heatmaps and ground-truth tags."""

    def __init__(self, dataset):
        super().__init__()
        self.by_pixels = {}
        for i in range(len(dataset)):
            item = dataset[i]
            res = item["heatmaps_4"].shape[-1]
            tags = torch.from_numpy(oracle_tags(item["joints"][None].numpy(), 14, res))[0]
            self.by_pixels[item["img"].numpy().tobytes()] = (torch.cat([item["heatmaps_4"], tags]), item["heatmaps_2"])

    def forward(self, x):
        outs = [self.by_pixels[img.contiguous().numpy().tobytes()] for img in x]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])


def test_tag_threshold_is_chosen_on_the_requested_training_images(scenes):
    """Perfect maps decode perfectly at every candidate threshold: AP 1 on the subset proves the ground truth
    is restricted to the images decoded (scored against all images it would be lower); ties go to the larger
    threshold (HigherHRNet's 1)."""
    from tasks.pose.module import select_tag_threshold

    _, path = scenes
    kset = load_keypoints_json(path)
    net = _GroundTruthNet(PoseDataset(kset, 96, train=False))
    best, ap = select_tag_threshold(net, kset, 96, [0.5, 1.0], n_images=3, batch_size=2)
    assert set(ap) == {0.5, 1.0} and all(v > 0.9 for v in ap.values()) and best == 1.0
    with pytest.raises(ValueError, match="at least one"):
        select_tag_threshold(net, kset, 96, [], n_images=3)
