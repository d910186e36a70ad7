"""Pose data: COCO-keypoints JSON (COCO, CrowdPose, and our synthetic scenes), validated on load; the
training/validation datasets with HigherHRNet-style targets; the LightningDataModule.

* :func:`synthesize` writes a deterministic multi-person scene set (articulated figures with the 14
  CrowdPose joints, each person in their own clothing colours, 1–N people per image, scale variation,
  occluders) as images + COCO-keypoints JSON.
* :func:`load_keypoints_json` reads COCO / CrowdPose annotation files and fails with the file, the
  record and what was expected on bad input.
* :class:`PoseDataset` yields a letterboxed image, heatmaps at 1/4 and 1/2 (Gaussian σ = 2 at each
  resolution), ignore masks, and per-person joint indices for the associative-embedding loss. Training
  items are augmented like HigherHRNet (random scale, rotation, translation, horizontal flip).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.data.errors import DataError

CROWDPOSE_JOINTS = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]
CROWDPOSE_SKELETON = [[13, 14], [14, 1], [14, 2], [1, 3], [3, 5], [2, 4], [4, 6], [14, 7], [14, 8], [7, 9],
                      [9, 11], [8, 10], [10, 12]]  # 1-based, COCO convention
# OKS per-joint constants of CrowdPose (its crowdposetools) and COCO (pycocotools)
CROWDPOSE_SIGMAS = [.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]
COCO_SIGMAS = [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]


def flip_index(names: list[str]) -> list[int]:
    """For each joint, the index of its mirror joint (left_* ↔ right_*), itself otherwise."""
    out = []
    for n in names:
        mirror = n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        out.append(names.index(mirror) if mirror in names else names.index(n))
    return out


COCO_JOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle"]


def oks_sigmas(joints: list[str] | int) -> list[float]:
    """OKS per-joint constants, chosen by the joints' names: COCO's 17 joints get pycocotools' constants,
    CrowdPose's 14 get crowdposetools' (in the data's order, if it lists the same names in another order), any
    other skeleton (a user's own keypoints) 1/K each — what ultralytics' pose validator uses for non-COCO
    keypoints. Pass the data's joint names (``KeypointSet.joint_names``): a joint count alone cannot tell
    COCO or CrowdPose from a user's skeleton of the same size. An ``int`` is the former count-only rule
    (14 → CrowdPose, 17 → COCO), kept until every caller passes names."""
    if isinstance(joints, int):  # legacy: by count only
        if joints == 14:
            return [s / 10 for s in CROWDPOSE_SIGMAS]
        if joints == 17:
            return [s / 10 for s in COCO_SIGMAS]
        if joints < 1:
            raise ValueError(f"no OKS sigmas for {joints} joints")
        return [1.0 / joints] * joints
    names = list(joints)
    if not names:
        raise ValueError("no OKS sigmas for 0 joints")
    for known, sigmas in ((COCO_JOINTS, COCO_SIGMAS), (CROWDPOSE_JOINTS, CROWDPOSE_SIGMAS)):
        if sorted(names) == sorted(known):
            by_name = dict(zip(known, sigmas))
            return [by_name[n] / 10 for n in names]
    return [1.0 / len(names)] * len(names)


# ----------------------------------------------------------------------------- loading + validation
@dataclass
class KeypointSet:
    """A validated COCO-keypoints file: ``images`` {id: {file_name, width, height}}, ``annotations``
    {image id: [annotation, …]}, ``joint_names``, and the raw JSON (for pycocotools)."""

    path: Path
    images_dir: Path
    images: dict[int, dict]
    annotations: dict[int, list[dict]]
    joint_names: list[str]
    raw: dict
    flip_idx: list[int] | None = None  # each joint's mirror joint; None: from the names (left_* ↔ right_*)

    @property
    def flip(self) -> list[int]:
        return list(self.flip_idx) if self.flip_idx is not None else flip_index(self.joint_names)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def image_ids(self) -> list[int]:
        return sorted(self.images)


def _need(cond: bool, path: Path, where: str, expected: str) -> None:
    if not cond:
        raise DataError(path, f"{where} is malformed", expected=expected)


def load_keypoints_json(path: str | Path, images_dir: str | Path | None = None, *, check_images: bool = True) -> KeypointSet:
    """Read and validate a COCO-format person-keypoints file (COCO ``person_keypoints_*.json``, CrowdPose
    ``crowdpose_*.json``, or ours). ``images_dir`` defaults to the JSON's folder + ``images``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file not found", expected="a COCO-format keypoints JSON")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(path, f"not valid JSON: {e.msg}", line=e.lineno, expected="a COCO-format keypoints JSON") from e
    _need(isinstance(raw, dict) and all(k in raw for k in ("images", "annotations", "categories")), path,
          "the top level", "an object with 'images', 'annotations' and 'categories'")
    cats = [c for c in raw["categories"] if isinstance(c, dict) and "keypoints" in c]
    _need(len(cats) >= 1, path, "'categories'", "a person category with a 'keypoints' list of joint names")
    names = list(cats[0]["keypoints"])
    k = len(names)
    _need(k >= 1 and all(isinstance(n, str) for n in names), path, "'categories' keypoints",
          "a non-empty list of joint names")
    flip_idx = cats[0].get("flip_idx")  # optional (ours, from a YOLO data.yaml): each joint's mirror joint
    if flip_idx is not None:
        ok = isinstance(flip_idx, list) and all(type(i) is int for i in flip_idx) and sorted(flip_idx) == list(range(k))
        _need(ok, path, "'categories' flip_idx", f"a permutation of 0..{k - 1} (each joint's mirror joint)")
    images_dir = Path(images_dir) if images_dir is not None else path.parent / "images"
    images = {}
    for i, im in enumerate(raw["images"]):
        where = f"images[{i}]"
        _need(isinstance(im, dict) and all(f in im for f in ("id", "file_name", "width", "height")), path, where,
              "an object with id, file_name, width, height")
        if check_images and not (images_dir / im["file_name"]).is_file():
            raise DataError(path, f"{where} (id {im['id']}): image {images_dir / im['file_name']} not found",
                            expected="every listed image under the images folder")
        images[int(im["id"])] = im
    anns: dict[int, list[dict]] = {i: [] for i in images}
    for i, a in enumerate(raw["annotations"]):
        where = f"annotations[{i}]" + (f" (id {a['id']})" if isinstance(a, dict) and "id" in a else "")
        _need(isinstance(a, dict) and all(f in a for f in ("image_id", "keypoints")), path, where,
              "an object with image_id and keypoints")
        kp = a["keypoints"]
        _need(isinstance(kp, list) and len(kp) == 3 * k, path, where,
              f"'keypoints' of 3 × {k} numbers (x, y, v per joint of {cats[0].get('name', 'person')})")
        _need(all(isinstance(v, (int, float)) and math.isfinite(v) for v in kp), path, where, "finite numbers in 'keypoints'")
        _need(all(int(v) in (0, 1, 2) for v in kp[2::3]), path, where, "visibility flags v in {0, 1, 2}")
        if int(a["image_id"]) not in images:
            raise DataError(path, f"{where}: image_id {a['image_id']} is not in 'images'",
                            expected="annotations of listed images")
        if "bbox" in a:
            _need(isinstance(a["bbox"], list) and len(a["bbox"]) == 4 and a["bbox"][2] >= 0 and a["bbox"][3] >= 0,
                  path, where, "'bbox' = [x, y, w, h] with w, h >= 0")
        anns[int(a["image_id"])].append(a)
    return KeypointSet(path, images_dir, images, anns, names, raw, flip_idx)


def dataset_joints(data_dir: str | Path) -> list[str]:
    """The joint names of a prepared dataset (``<data_dir>/train.json``'s person category): what sizes the model's
    heads (``num_joints``), read from the data rather than configured."""
    path = Path(data_dir) / "train.json"
    if not path.is_file():
        raise DataError(path, "prepared training annotations not found",
                        expected="the prepare stage's output (python -m tasks.pose.prepare)")
    try:
        cats = json.loads(path.read_text()).get("categories", [])
    except (json.JSONDecodeError, AttributeError) as e:
        raise DataError(path, "not a COCO-format keypoints JSON", expected="the prepare stage's output") from e
    names = next((c["keypoints"] for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)), None)
    _need(bool(names), path, "'categories'", "a person category with a 'keypoints' list of joint names")
    return list(names)


# ----------------------------------------------------------------------------- synthetic scenes
def _clothing(rng: np.random.Generator) -> dict[str, tuple[int, int, int]]:
    """Per-person colours (BGR): skin for head, neck and forearms, an outfit colour for torso and upper arms
    and a darker shade of it for the legs. People differ in appearance as real people do — the cue
    associative embedding uses to tell them apart. (Identically drawn figures, or independent shirt and
    trouser colours, leave only long-range context to group by; on the smoke budget the tags then collapse
    to one value for everybody — measured, see the pose report.)"""
    skin = tuple(int(c) for c in rng.choice([[150, 180, 230], [110, 140, 200], [80, 105, 160], [60, 80, 120]]))
    outfit = rng.uniform(30, 240, size=3)
    shirt = tuple(int(c) for c in outfit)
    trousers = tuple(int(c) for c in outfit * 0.7)
    return {"head": skin, "neck": skin, "forearm": skin, "upper_arm": shirt, "torso": shirt,
            "thigh": trousers, "shin": trousers}


def _figure(rng: np.random.Generator, cx: float, top: float, height: float) -> np.ndarray:
    """14 CrowdPose joints (x, y) of a front-facing articulated figure (its left on the image's right)."""
    u = height / 7.0  # head-to-ankle ≈ 7 units
    lean = rng.normal(0, 0.12)
    head = np.array([cx, top + 0.5 * u])
    neck = head + [math.sin(lean) * u, 1.0 * u]
    pelvis = neck + [math.sin(lean) * 2.8 * u, 2.8 * u]
    sw, hw = rng.uniform(0.8, 1.1) * u, rng.uniform(0.5, 0.7) * u
    j = np.zeros((14, 2))
    j[12], j[13] = head, neck
    j[0], j[1] = neck + [sw, 0.2 * u], neck + [-sw, 0.2 * u]  # left / right shoulder
    j[6], j[7] = pelvis + [hw, 0], pelvis + [-hw, 0]  # left / right hip

    def limb(start, angle, length):
        return start + length * np.array([math.sin(angle), math.cos(angle)])

    for side, sign in ((0, 1), (1, -1)):  # angles from straight down; + swings toward the figure's side
        a_up = sign * rng.uniform(-0.3, 2.4)
        j[2 + side] = limb(j[0 + side], a_up, 1.5 * u)
        j[4 + side] = limb(j[2 + side], a_up + sign * rng.uniform(-1.6, 1.2), 1.3 * u)
        a_th = sign * rng.uniform(-0.25, 0.7)
        j[8 + side] = limb(j[6 + side], a_th, 1.9 * u)
        j[10 + side] = limb(j[8 + side], a_th - sign * rng.uniform(-0.2, 1.0), 1.8 * u)
    return j


def _draw_figure(img: np.ndarray, j: np.ndarray, height: float, colours: dict) -> None:
    import cv2

    t = max(2, int(round(height / 22)))
    pt = lambda p: (int(round(p[0])), int(round(p[1])))  # noqa: E731
    torso = np.array([j[0], j[1], j[7], j[6]], np.int32)
    cv2.fillConvexPoly(img, torso, colours["torso"], lineType=cv2.LINE_AA)
    cv2.line(img, pt(j[12]), pt(j[13]), colours["neck"], t, cv2.LINE_AA)
    for side in (0, 1):
        cv2.line(img, pt(j[6 + side]), pt(j[8 + side]), colours["thigh"], t + 1, cv2.LINE_AA)
        cv2.line(img, pt(j[8 + side]), pt(j[10 + side]), colours["shin"], t, cv2.LINE_AA)
        cv2.line(img, pt(j[0 + side]), pt(j[2 + side]), colours["upper_arm"], t, cv2.LINE_AA)
        cv2.line(img, pt(j[2 + side]), pt(j[4 + side]), colours["forearm"], max(1, t - 1), cv2.LINE_AA)
    cv2.circle(img, pt(j[12]), max(3, int(height / 14)), colours["head"], -1, cv2.LINE_AA)


def synthesize_image(seed: int, index: int, size: int, max_people: int, min_height: float, max_height: float):
    """One scene: (BGR image, [per-person (14, 3) keypoints with v ∈ {0, 1, 2}])."""
    import cv2

    from common.data.synthetic import add_clutter_lines, add_sensor_noise, item_rng, textured_background

    rng = item_rng(seed, index)
    img = textured_background(rng, size, size)
    add_clutter_lines(img, rng, int(rng.integers(2, 8)), 3)
    people = []
    for _ in range(int(rng.integers(1, max_people + 1))):
        h = rng.uniform(min_height, max_height)
        cx, top = rng.uniform(0.1 * size, 0.9 * size), rng.uniform(-0.1 * h, size - 0.7 * h)
        j = _figure(rng, cx, top, h)
        _draw_figure(img, j, h, _clothing(rng))
        people.append(np.concatenate([j, np.full((14, 1), 2.0)], axis=1))
    # a later figure hides the joints of earlier ones it covers: mark them occluded (v = 1)
    for a in range(len(people)):
        for b in range(a + 1, len(people)):
            lo, hi = people[b][:, :2].min(0) - 2, people[b][:, :2].max(0) + 2
            inside = np.all((people[a][:, :2] > lo) & (people[a][:, :2] < hi), axis=1)
            people[a][inside & (people[a][:, 2] > 0), 2] = 1
    for _ in range(int(rng.integers(0, 3))):  # occluders: boxes drawn over the people
        w, hh = rng.uniform(0.08, 0.25, size=2) * size
        x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - hh)
        colour = tuple(int(c) for c in rng.uniform(30, 220, size=3))
        cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + hh)), colour, -1)
        for p in people:
            inside = (p[:, 0] >= x0) & (p[:, 0] <= x0 + w) & (p[:, 1] >= y0) & (p[:, 1] <= y0 + hh)
            p[inside & (p[:, 2] > 0), 2] = 1
    for p in people:  # joints outside the image are not labelled
        out = (p[:, 0] < 0) | (p[:, 0] >= size) | (p[:, 1] < 0) | (p[:, 1] >= size)
        p[out] = 0
    img = add_sensor_noise(img, rng, rng.uniform(2, 6))
    return img, [p for p in people if (p[:, 2] > 0).sum() >= 2]


def coco_annotation(ann_id: int, image_id: int, kp: np.ndarray) -> dict:
    vis = kp[:, 2] > 0
    x0, y0 = kp[vis, :2].min(0)
    x1, y1 = kp[vis, :2].max(0)
    pad = 0.1 * max(x1 - x0, y1 - y0)  # the figure's extent beyond its joints (head, limb width)
    bbox = [float(x0 - pad), float(y0 - pad), float(x1 - x0 + 2 * pad), float(y1 - y0 + 2 * pad)]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "keypoints": [round(float(v), 2) for v in kp.reshape(-1)], "num_keypoints": int(vis.sum()),
            "bbox": bbox, "area": bbox[2] * bbox[3]}


def categories(names: list[str] = CROWDPOSE_JOINTS, skeleton=CROWDPOSE_SKELETON) -> list[dict]:
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(names), "skeleton": skeleton}]


def synthesize(out_dir: str | Path, split: str, n_images: int, *, seed: int, size: int, max_people: int,
               min_height: float, max_height: float, progress: bool = True) -> Path:
    """Write ``<out_dir>/images/<split>_*.png`` and ``<out_dir>/<split>.json``; return the JSON path."""
    import cv2
    from tqdm import tqdm

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    split_seed = seed * 1000 + (0 if split == "train" else 1)
    for i in tqdm(range(n_images), desc=f"synthesizing {split}", disable=not progress):
        img, people = synthesize_image(split_seed, i, size, max_people, min_height, max_height)
        name = f"{split}_{i:05d}.png"
        cv2.imwrite(str(out_dir / "images" / name), img)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for p in people:
            anns.append(coco_annotation(len(anns) + 1, i + 1, p))
    path = out_dir / f"{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories()}))
    return path


# ----------------------------------------------------------------------------- targets
def letterbox_matrix(w: int, h: int, size: int) -> np.ndarray:
    """2×3 affine: fit a w×h image into size×size keeping its aspect ratio, centred."""
    s = size / max(w, h)
    return np.array([[s, 0, (size - s * w) / 2], [0, s, (size - s * h) / 2]], np.float64)


def random_affine(w: int, h: int, size: int, rng: np.random.Generator, scale=(0.75, 1.5), max_rotation=30.0,
                  max_translate=40.0) -> np.ndarray:
    """HigherHRNet-style augmentation: scale, rotate and shift around the letterboxed centre."""
    base = np.vstack([letterbox_matrix(w, h, size), [0, 0, 1]])
    s, r = rng.uniform(*scale), math.radians(rng.uniform(-max_rotation, max_rotation))
    t = rng.uniform(-max_translate, max_translate, size=2) * size / 512
    c = size / 2
    cos, sin = s * math.cos(r), s * math.sin(r)
    aug = np.array([[cos, -sin, c - cos * c + sin * c + t[0]], [sin, cos, c - sin * c - cos * c + t[1]], [0, 0, 1]])
    return (aug @ base)[:2]


def gaussian_heatmaps(joints: np.ndarray, res: int, sigma: float = 2.0) -> np.ndarray:
    """(K, res, res) max over people of Gaussians at each labelled joint; joints: (P, K, 3) in map pixels."""
    k = joints.shape[1]
    hm = np.zeros((k, res, res), np.float32)
    size = int(6 * sigma + 3)
    x = np.arange(size, dtype=np.float32)
    g = np.exp(-((x[None] - 3 * sigma - 1) ** 2 + (x[:, None] - 3 * sigma - 1) ** 2) / (2 * sigma ** 2))
    for person in joints:
        for idx, (px, py, v) in enumerate(person):
            if v <= 0:
                continue
            xi, yi = int(px), int(py)
            if xi < 0 or yi < 0 or xi >= res or yi >= res:
                continue
            ul = (int(round(xi - 3 * sigma - 1)), int(round(yi - 3 * sigma - 1)))
            br = (ul[0] + size, ul[1] + size)
            cx0, cx1 = max(0, -ul[0]), min(br[0], res) - ul[0]
            cy0, cy1 = max(0, -ul[1]), min(br[1], res) - ul[1]
            ax0, ax1 = max(0, ul[0]), min(br[0], res)
            ay0, ay1 = max(0, ul[1]), min(br[1], res)
            hm[idx, ay0:ay1, ax0:ax1] = np.maximum(hm[idx, ay0:ay1, ax0:ax1], g[cy0:cy1, cx0:cx1])
    return hm


class PoseDataset(torch.utils.data.Dataset):
    """Items for training (augmented) or validation (letterboxed only) at ``imgsz``×``imgsz``."""

    def __init__(self, kset: KeypointSet, imgsz: int, train: bool, *, sigma: float = 2.0, max_people: int = 30,
                 flip: float = 0.5, scale=(0.75, 1.5), max_rotation: float = 30.0, seed: int = 0):
        if imgsz % 4:
            raise ValueError(f"imgsz must be a multiple of 4, got {imgsz}")
        self.kset, self.imgsz, self.train = kset, imgsz, train
        self.ids = kset.image_ids
        self.sigma, self.max_people, self.flip, self.scale, self.max_rotation = sigma, max_people, flip, scale, max_rotation
        self.flip_idx = kset.flip
        self.seed = seed

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, image_id: int) -> np.ndarray:
        import cv2

        info = self.kset.images[image_id]
        path = self.kset.images_dir / info["file_name"]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(path, "cannot read image", expected="a readable image file")
        return img

    def __getitem__(self, i: int) -> dict:
        import cv2

        image_id = self.ids[i]
        img = self.load(image_id)
        h, w = img.shape[:2]
        anns = self.kset.annotations[image_id]
        k = self.kset.num_joints
        kp = np.array([a["keypoints"] for a in anns], np.float64).reshape(-1, k, 3)
        # torch's generator is seeded per worker and epoch by the DataLoader (from seed_everything): augmentations
        # differ every epoch and are reproducible
        rng = np.random.default_rng([self.seed, int(torch.randint(0, 2**62, ())), i])
        if self.train:
            m = random_affine(w, h, self.imgsz, rng, self.scale, self.max_rotation)
        else:
            m = letterbox_matrix(w, h, self.imgsz)
        out = cv2.warpAffine(img, m, (self.imgsz, self.imgsz), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
        pts = kp.copy()
        if len(kp):
            pts[..., :2] = kp[..., :2] @ m[:, :2].T + m[:, 2]
        if self.train and rng.random() < self.flip:
            out = out[:, ::-1]
            pts = pts[:, self.flip_idx]
            pts[..., 0] = self.imgsz - 1 - pts[..., 0]
        pts[(pts[..., 0] < 0) | (pts[..., 1] < 0) | (pts[..., 0] >= self.imgsz) | (pts[..., 1] >= self.imgsz)] = 0
        # ignored regions: crowd boxes and people without labelled joints (HigherHRNet masks them out)
        mask = np.ones((self.imgsz, self.imgsz), np.float32)
        for a in anns:
            if (a.get("iscrowd", 0) or a.get("num_keypoints", 1) == 0) and "bbox" in a:
                x, y, bw, bh = a["bbox"]
                corners = np.array([[x, y], [x + bw, y], [x, y + bh], [x + bw, y + bh]]) @ m[:, :2].T + m[:, 2]
                x0, y0 = np.clip(corners.min(0), 0, self.imgsz).astype(int)
                x1, y1 = np.clip(np.ceil(corners.max(0)), 0, self.imgsz).astype(int)
                mask[y0:y1, x0:x1] = 0
        item = {"img": torch.from_numpy(np.ascontiguousarray(out[..., ::-1].transpose(2, 0, 1))).float() / 255.0,
                "image_id": image_id, "matrix": torch.from_numpy(m).float()}
        for div, key in ((4, "4"), (2, "2")):
            res = self.imgsz // div
            sj = pts.copy()
            sj[..., :2] /= div
            item[f"heatmaps_{key}"] = torch.from_numpy(gaussian_heatmaps(sj, res, self.sigma))
            item[f"mask_{key}"] = torch.from_numpy(np.ascontiguousarray(mask[::div, ::div]))
        res = self.imgsz // 4
        joints = np.zeros((self.max_people, k, 2), np.int64)
        for p, person in enumerate(pts[: self.max_people]):
            for j, (x, y, v) in enumerate(person):
                xi, yi = int(x / 4), int(y / 4)
                if v > 0 and 0 <= xi < res and 0 <= yi < res:
                    joints[p, j] = (j * res * res + yi * res + xi, 1)
        item["joints"] = torch.from_numpy(joints)
        return item
