"""Stage ``prepare``: write the pose dataset to ``data/pose/prepare/dataset``:
``images/``, ``train.json`` and ``val.json`` (COCO keypoints), and ``yolo/`` — the same images and people
in ultralytics' pose format (``cls cx cy w h x1 y1 v1 …``) for the YOLOv8-pose peer.

``source: synthetic`` (tiny/smoke) generates multi-person scenes; ``source: coco`` (full) reads a COCO or
CrowdPose release: ``{split: {json, images}}`` under ``raw_dir``; ``source: yolo`` reads an ultralytics pose dataset
described by a ``data.yaml`` (``data``): ``path``, ``train``, ``val`` (folders or ``.txt`` lists of images),
``kpt_shape: [K, 2|3]``, one class in ``names``, optional ``flip_idx`` and ``kpt_names``; label lines
``class cx cy w h px1 py1 [v1] …`` normalised to [0, 1].

The joints — their number, names and mirror pairs — come from the data: the json's person category
(``keypoints``), or the data.yaml (``kpt_shape``, ``kpt_names`` else ``joint0 … joint<K-1>``, ``flip_idx`` else
``left_*`` ↔ ``right_*`` by name). A CrowdPose json lists COCO's 17-joint ``skeleton`` under its 14 joints; the
skeleton is drawing information, read by nothing here, and passed through as it is. CrowdPose annotations carry no
``area``: it is filled with 0.53 × the box area, the OKS scale CrowdPose's own evaluation (crowdposetools,
xtcocotools ``use_area=False``) uses, so pycocotools scores them the same way; a yolo label has only a box, and its
``area`` is 0.53 × that box's area too, as ultralytics' pose validator scales OKS. A yolo split with no labelled
person (a misnamed ``labels/`` folder makes every image background) is an error naming the label folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from common.stage import Field, StageParams, main


class Params(StageParams):
    source: Literal["synthetic", "coco", "yolo"] = Field(
        description="synthetic scenes, a COCO / CrowdPose release, or an ultralytics pose data.yaml")
    train_images: int = Field(400, ge=1, description="synthetic: training images")
    val_images: int = Field(80, ge=1, description="synthetic: validation images")
    image_size: int = Field(128, ge=32, description="synthetic: image side in pixels")
    max_people: int = Field(4, ge=1, description="synthetic: most people per image")
    min_height: int = Field(40, ge=8, description="synthetic: smallest person height in pixels")
    max_height: int = Field(110, ge=8, description="synthetic: largest person height in pixels")
    raw_dir: str | None = Field(None, description="coco: the folder holding the release")
    splits: dict[Literal["train", "val"], dict[Literal["json", "images"], str]] | None = Field(
        None, description="coco: our split → {json: annotation file, images: image folder}, relative to raw_dir")
    data: str | None = Field(None, description="yolo: the dataset's data.yaml (path, train, val, kpt_shape, names; "
                                               "optional flip_idx, kpt_names)")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "yolo" and not self.data:
            raise ValueError("source yolo needs data: the path of the dataset's data.yaml")
        if self.source != "yolo" and self.data:
            raise ValueError(f"data is read by source yolo only (source is {self.source})")
        if self.source == "coco" and not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}
                                          and all(set(s) == {"json", "images"} for s in self.splits.values())):
            raise ValueError("source coco needs raw_dir and splits {train, val}, each with json and images")
        if self.min_height > self.max_height:
            raise ValueError(f"min_height ({self.min_height}) > max_height ({self.max_height})")
        return self


def write_yolo_pose(kset, root: Path, split: str) -> int:
    """``root/images/<split>/`` (hard links, or copies across devices) + ``root/labels/<split>/*.txt``, under unique
    flat names: an image keeps its file name when no earlier image of the split has its stem (ultralytics names a
    label by the image's stem, so ``a/x.jpg`` and ``b/x.jpg``, or ``x.jpg`` and ``x.png``, would share one), else
    gets ``<stem>_2``, ``<stem>_3``… — the rule :func:`convert_yolo_pose` uses."""
    import errno
    import os
    import shutil

    import numpy as np

    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    n = 0
    used: set[str] = set()
    for image_id in kset.image_ids:
        info = kset.images[image_id]
        src = kset.images_dir / info["file_name"]
        name = Path(info["file_name"])
        stem, k = name.stem, 1
        while stem in used:  # the same file name in two folders, or one stem with two suffixes
            k += 1
            stem = f"{name.stem}_{k}"
        used.add(stem)
        dst = root / "images" / split / f"{stem}{name.suffix}"
        try:
            os.link(src, dst)
        except OSError as e:  # another file system (or none that links): copy; never over an existing file
            if e.errno == errno.EEXIST:
                raise
            shutil.copy2(src, dst)
        w, h = float(info["width"]), float(info["height"])
        lines = []
        for a in kset.annotations[image_id]:
            if a.get("iscrowd", 0) or a.get("num_keypoints", 1) == 0 or "bbox" not in a:
                continue
            x, y, bw, bh = a["bbox"]
            x0, y0 = max(x, 0.0), max(y, 0.0)
            x1, y1 = min(x + bw, w), min(y + bh, h)
            kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
            kp[:, 0] /= w
            kp[:, 1] /= h
            kp[kp[:, 2] == 0] = 0
            vals = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h, *kp.reshape(-1)]
            lines.append("0 " + " ".join(f"{v:.6g}" for v in vals))
            n += 1
        (root / "labels" / split / f"{dst.stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return n


CROWDPOSE_AREA_FACTOR = 0.53  # crowdposetools / xtcocotools (use_area=False): OKS scale = 0.53 · box w · h


def complete_annotations(kset) -> int:
    """Fill what pycocotools needs and a CrowdPose json leaves out (in place): ``iscrowd`` (0), ``num_keypoints``
    (the labelled joints) and ``area`` (``CROWDPOSE_AREA_FACTOR`` × the box area). Returns how many areas were
    filled; an annotation with neither ``area`` nor ``bbox`` is an error (its OKS has no scale)."""
    from common.data.errors import DataError

    filled = 0
    for i, a in enumerate(kset.raw["annotations"]):
        a.setdefault("iscrowd", 0)
        a.setdefault("num_keypoints", sum(1 for v in a["keypoints"][2::3] if v > 0))
        if "area" not in a:
            if "bbox" not in a:
                raise DataError(kset.path, f"annotations[{i}] (id {a.get('id')}) has neither 'area' nor 'bbox'",
                                expected="a 'bbox' [x, y, w, h] (or an 'area') for each person: OKS is scaled by it")
            a["area"] = CROWDPOSE_AREA_FACTOR * a["bbox"][2] * a["bbox"][3]
            filled += 1
    return filled


class PoseDataYaml:
    """An ultralytics pose dataset's ``data.yaml``: the detection reader (:class:`common.data.yolo.YoloDataYaml`:
    ``path``, ``train``, ``val``, ``names``, label files beside the images) plus the keypoint keys ultralytics
    defines: ``kpt_shape: [K, D]`` (D = 2: x y; D = 3: x y visibility), ``flip_idx`` (optional: each joint's mirror
    joint) and ``kpt_names`` (optional, ultralytics ≥ 8.3: ``{0: [name, …]}`` per class, or a list)."""

    def __init__(self, path: str | Path):
        from common.data.errors import DataError
        from common.data.yolo import YoloDataYaml
        from common.io import read_yaml
        from tasks.pose.data import flip_index

        self.detect = YoloDataYaml(path)
        self.path = self.detect.path
        doc = read_yaml(self.path)
        kpt = doc.get("kpt_shape")
        if not (isinstance(kpt, list) and len(kpt) == 2 and all(type(v) is int for v in kpt) and kpt[0] >= 1
                and kpt[1] in (2, 3)):
            raise DataError(self.path, f"kpt_shape is {kpt!r}" if "kpt_shape" in doc else "no 'kpt_shape:' entry",
                            expected="kpt_shape: [K, 2] or [K, 3] (joints per person; x y, or x y visibility)")
        self.k, self.ndim = kpt
        if len(self.detect.names) != 1:
            raise DataError(self.path, f"{len(self.detect.names)} classes in 'names:' {self.detect.names}",
                            expected="one class (e.g. names: {0: person}): LitePose finds people of one kind")
        self.joint_names = self._joint_names(doc.get("kpt_names"))
        flip = doc.get("flip_idx")
        if flip is not None and not (isinstance(flip, list) and all(type(i) is int for i in flip)
                                     and sorted(flip) == list(range(self.k))):
            raise DataError(self.path, f"flip_idx is {flip!r}",
                            expected=f"a permutation of 0..{self.k - 1} (kpt_shape has {self.k} joints): "
                                     "each joint's mirror joint")
        self.flip_from = "data.yaml flip_idx" if flip is not None else "joint names (left_* <-> right_*)"
        self.flip_idx = list(flip) if flip is not None else flip_index(self.joint_names)

    def _joint_names(self, names) -> list[str]:
        from common.data.errors import DataError

        if names is None:
            return [f"joint{i}" for i in range(self.k)]
        if isinstance(names, dict):  # {class id: [names]}: the one class's
            if set(names) != {0}:
                raise DataError(self.path, f"kpt_names has class ids {sorted(names)}",
                                expected="kpt_names: {0: [joint names]} for the one class, or a list")
            names = names[0]
        if not (isinstance(names, list) and len(names) == self.k and all(isinstance(n, str) and n for n in names)
                and len(set(names)) == self.k):
            raise DataError(self.path, f"kpt_names is {names!r}",
                            expected=f"{self.k} distinct joint names (kpt_shape has {self.k} joints)")
        return list(names)

    def parse_labels(self, path: Path) -> list[tuple[list[float], list[list[float]]]]:
        """One label file → [(box cx cy w h, K × [x, y, v]) per person], normalised; v ∈ {0, 1, 2} (D = 2: a joint
        at exactly (0, 0) is unlabelled, v = 0; any other is labelled, v = 2). Errors name the file and line."""
        from common.data.errors import DataError

        eps, k, nd = 1e-6, self.k, self.ndim
        want = 5 + k * nd
        layout = "px py v" if nd == 3 else "px py"
        rows = []
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != want:
                raise DataError(path, f"{len(fields)} fields on this line", line=lineno,
                                expected=f"{want} fields: class cx cy w h, then {k} joints × {nd} ({layout}) "
                                         f"as kpt_shape [{k}, {nd}] in {self.path} says")
            try:
                cls = int(fields[0])
                vals = [float(v) for v in fields[1:]]
            except ValueError as e:
                raise DataError(path, f"non-numeric field in {line[:80]!r}", line=lineno,
                                expected="an integer class then numbers") from e
            if cls != 0:
                raise DataError(path, f"class id {cls}", line=lineno, expected="class 0 (names: has one class)")
            cx, cy, w, h = vals[:4]
            if w <= 0 or h <= 0 or cx - w / 2 < -eps or cy - h / 2 < -eps or cx + w / 2 > 1 + eps \
                    or cy + h / 2 > 1 + eps:
                raise DataError(path, f"box ({cx}, {cy}, {w}, {h})", line=lineno,
                                expected="a normalised box cx cy w h inside [0, 1] with w, h > 0")
            joints = []
            for j in range(k):
                x, y, *rest = vals[4 + j * nd: 4 + (j + 1) * nd]
                v = rest[0] if rest else (0.0 if x == 0 and y == 0 else 2.0)
                if v not in (0, 1, 2):
                    raise DataError(path, f"joint {j} ({self.joint_names[j]}) has visibility {v}", line=lineno,
                                    expected="0 (unlabelled), 1 (labelled, hidden) or 2 (visible)")
                if v > 0 and not (-eps <= x <= 1 + eps and -eps <= y <= 1 + eps):
                    raise DataError(path, f"joint {j} ({self.joint_names[j]}) at ({x}, {y}) is outside the image",
                                    line=lineno, expected="normalised coordinates in [0, 1]")
                joints.append([x, y, v] if v > 0 else [0.0, 0.0, 0.0])
            rows.append(([cx, cy, w, h], joints))
        return rows


def convert_yolo_pose(data: str | Path, root: Path, progress: bool = True) -> tuple[dict, dict]:
    """An ultralytics pose dataset → ``root/images/`` (copies, unique flat names across both splits) and
    ``root/{train,val}.json`` (COCO keypoints, pixels). Every image is decoded (a corrupt one fails with its name)
    and every label line checked. Returns ({split: KeypointSet}, facts for prepare.json)."""
    import json
    import shutil

    from tqdm import tqdm

    from common.data.errors import DataError
    from common.data.images import image_size
    from tasks.pose.data import load_keypoints_json

    ds = PoseDataYaml(data)
    (root / "images").mkdir(parents=True, exist_ok=True)
    category = {"id": 1, "name": ds.detect.names[0], "supercategory": ds.detect.names[0],
                "keypoints": ds.joint_names, "skeleton": [], "flip_idx": ds.flip_idx}
    used: set[str] = set()
    ksets, facts = {}, {"data_yaml": str(ds.path.resolve()), "kpt_shape": [ds.k, ds.ndim],
                        "flip_idx": ds.flip_idx, "flip_from": ds.flip_from}
    for split, paths in ds.detect.splits.items():
        images, anns, background = [], [], 0
        for img in tqdm(paths, desc=f"{split}: converting", unit="img", disable=not progress):
            stem, n = img.stem, 1
            while stem in used:  # the same file name in two folders or splits
                n += 1
                stem = f"{img.stem}_{n}"
            used.add(stem)
            w, h = image_size(img)  # decodes
            name = f"{stem}{img.suffix.lower()}"
            shutil.copyfile(img, root / "images" / name)
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": name, "width": w, "height": h})
            lab = ds.detect.label_for(img)
            rows = ds.parse_labels(lab) if lab.is_file() else []
            background += not rows
            for (cx, cy, bw, bh), joints in rows:
                kp = [round(v, 3) for x, y, vis in joints for v in (x * w, y * h, vis)]
                bbox = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                             "keypoints": kp, "num_keypoints": sum(1 for j in joints if j[2] > 0),
                             "bbox": [round(v, 3) for v in bbox],
                             # OKS scale as ultralytics' pose validator computes it from a label's box:
                             # 0.53 · w · h (ultralytics/models/yolo/pose/val.py, after xtcocotools' cocoeval)
                             "area": CROWDPOSE_AREA_FACTOR * bbox[2] * bbox[3]})
        if not anns:  # e.g. a misnamed labels/ folder: every image would count as background
            folders = sorted({str(ds.detect.label_for(img).parent) for img in paths})
            raise DataError(ds.path, f"split {split!r}: no labelled person in {len(paths)} image(s); label files "
                                     f"looked for in {', '.join(folders[:3])}{' …' if len(folders) > 3 else ''}",
                            expected="label files <stem>.txt in the labels/ folder beside images/ (ultralytics' "
                                     "layout …/images/…/x.jpg → …/labels/…/x.txt), with at least one person")
        path = root / f"{split}.json"
        path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [category]}))
        ksets[split] = load_keypoints_json(path, root / "images")  # validates what was written
        facts[f"{split}_background_images"] = background
    if ds.flip_idx == list(range(ds.k)) and ds.k > 1:
        print(f"warning: {ds.path}: no flip_idx and no left_*/right_* joint names: a horizontal flip in training "
              "mirrors the image without swapping any joints; set flip_idx in the data.yaml, or data.flip: 0.0 in "
              "the train config")
    return ksets, facts


def run(params: Params, out_dir: Path) -> dict:
    import json
    import os
    from dataclasses import replace

    from common.data.errors import DataError
    from common.io import atomic_dir, atomic_write_json
    from tasks.pose.data import load_keypoints_json, synthesize

    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        ksets = {}
        extra = {}
        if params.source == "synthetic":
            for split, n in (("train", params.train_images), ("val", params.val_images)):
                path = synthesize(root, split, n, seed=params.seed, size=params.image_size,
                                  max_people=params.max_people, min_height=params.min_height,
                                  max_height=params.max_height)
                ksets[split] = load_keypoints_json(path, root / "images")  # validates what was written
        elif params.source == "coco":
            raw = Path(params.raw_dir)
            (root / "images").mkdir(parents=True)
            owner: dict[str, str] = {}
            for split in ("train", "val"):
                spec = params.splits[split]
                kset = load_keypoints_json(raw / spec["json"], raw / spec["images"])
                if split == "val" and kset.joint_names != ksets["train"].joint_names:
                    raise DataError(kset.path, f"joints {kset.joint_names} differ from the training split's "
                                               f"{ksets['train'].joint_names}",
                                    expected="the same joints, in the same order, in both splits")
                extra[f"{split}_areas_filled"] = complete_annotations(kset)
                for info in kset.images.values():  # one images/ folder, names unique across splits
                    dst = root / "images" / info["file_name"]
                    if info["file_name"] in owner:
                        raise DataError(kset.path, f"image {info['file_name']!r} is listed twice (also in the "
                                                   f"{owner[info['file_name']]} split)",
                                        expected="each image once, in one split")
                    owner[info["file_name"]] = split
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink((kset.images_dir / info["file_name"]).resolve(), dst)
                (root / f"{split}.json").write_text(json.dumps(kset.raw))
                ksets[split] = replace(kset, path=root / f"{split}.json", images_dir=root / "images")
        else:
            ksets, yolo_facts = convert_yolo_pose(params.data, root)
            extra.update(yolo_facts)
        stats = {}
        for split in ("train", "val"):
            kset = ksets[split]
            people = write_yolo_pose(kset, root / "yolo", split)
            stats[split] = {"images": len(kset.images), "people": people,
                            "labelled_joints": int(sum(a.get("num_keypoints", 0) for v in kset.annotations.values() for a in v))}
        names = ksets["train"].joint_names
        k = len(names)
        category = next(c for c in ksets["train"].raw["categories"] if isinstance(c, dict) and "keypoints" in c)
        (root / "yolo" / "data.yaml").write_text(json.dumps({
            "path": ".", "train": "images/train", "val": "images/val", "names": {0: str(category.get("name", "person"))},
            "kpt_shape": [k, 3], "flip_idx": ksets["train"].flip}))
        doc = {"source": params.source, "joints": names, **stats, **extra}
        print(f"prepared {k} joints: " + ", ".join(f"{s} {v['images']} images / {v['people']} people"
                                                  for s, v in stats.items()))
        atomic_write_json(tmp / "prepare.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
