"""Pose training recipe: LitePose with HigherHRNet's heatmap + associative-embedding loss through the
common Lightning module, validated with OKS AP (pycocotools) after bottom-up grouping."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from common.training.module import TaskModule


def select_tag_threshold(model, kset, imgsz: int, candidates: list[float], n_images: int = 128,
                         batch_size: int = 8) -> tuple[float, dict[float, float]]:
    """The decoding tag threshold (max tag distance for a joint to join a person) with the best OKS AP on
    the first ``n_images`` *training* images (letterboxed, no augmentation) — chosen after training, never
    on the validation split. HigherHRNet fixes it at 1, the push margin, which suits tags trained until
    people sit ≥ 1 apart; tags trained for a short budget sit closer. Returns (threshold, AP per candidate)."""
    from tasks.pose.data import PoseDataset, oks_sigmas
    from tasks.pose.group import batch_coco_results, decode_thresholds
    from tasks.pose.metrics import oks_ap

    if not candidates:
        raise ValueError("tag_thresholds: expected at least one candidate threshold")
    ids = set(kset.image_ids[:n_images])
    gt = {**kset.raw, "images": [im for im in kset.raw["images"] if im["id"] in ids],
          "annotations": [a for a in kset.raw["annotations"] if a["image_id"] in ids]}
    data = PoseDataset(kset, imgsz, train=False)
    subset = torch.utils.data.Subset(data, [i for i, image_id in enumerate(data.ids) if image_id in ids])
    outputs = []
    model.eval()
    with torch.no_grad():
        for batch in torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=0):
            quarter, half = model(batch["img"])
            outputs.append((quarter, half, batch["image_id"].tolist(), batch["matrix"].numpy()))
    results: dict[float, list] = {thr: [] for thr in candidates}
    for quarter, half, image_ids, m in outputs:  # maps aggregated and peaks found once per batch
        for thr, decoded in decode_thresholds(quarter, half, kset.num_joints, list(candidates)).items():
            results[thr] += batch_coco_results(decoded, image_ids, m)
    ap = {thr: oks_ap(gt, results[thr], oks_sigmas(kset.joint_names))["ap"] for thr in candidates}
    best = max(candidates, key=lambda t: (ap[t], t))  # ties: the larger threshold (HigherHRNet's side)
    return float(best), ap


class PoseModule(TaskModule):
    """LitePose trained bottom-up.

    Args:
        config: LitePose configuration: XS, S, M or L.
        num_joints: joints per person (required); the pose CLI links it to the data (``data.num_joints``: the
            prepared dataset's joint names), so it is not an option there (a value set for it is refused).
        kernel: depthwise kernel of the backbone (null = the configuration's 7; 3 for the ablation).
        fusion: fusion deconv head (false = the ablation without backbone fusion).
        push_factor: weight of the AE push loss (HigherHRNet/LitePose: 1e-3).
        pull_factor: weight of the AE pull loss (1e-3).
        ae_type: AE push form: "exp" (LitePose's configs: exp(−Δ²)) or "max" (HigherHRNet's hinge max(0, 1 − |Δ|)).
        detection_threshold: minimum peak value of a joint at decoding.
        tag_threshold: maximum tag distance to join a person at decoding.
        max_people: peaks kept per joint at decoding.
        recipe: arguments of :class:`common.training.module.TaskModule` (optimizer, warm-up, …).
    """

    def __init__(self, config: str = "XS", num_joints: int | None = None, kernel: int | None = None,
                 fusion: bool = True,
                 push_factor: float = 1e-3, pull_factor: float = 1e-3, ae_type: str = "exp",
                 detection_threshold: float = 0.1,
                 tag_threshold: float = 1.0, max_people: int = 30, **recipe: Any):
        if num_joints is None or num_joints < 1:
            raise ValueError(f"num_joints = {num_joints!r}: expected the dataset's joint count (python -m tasks.pose "
                             "links it from the data: data.num_joints)")
        recipe.setdefault("warmup_epochs", 0.0)
        recipe.setdefault("weight_decay", 1e-4)
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        from tasks.pose.loss import LitePoseLoss
        from tasks.pose.model import LitePose

        self.model = LitePose(config, num_joints, kernel, fusion)
        # channels-last (configs/litepose.yaml): PyTorch's CPU backward of 7×7 depthwise convs is ~9× faster in
        # NHWC than in NCHW
        self.use_memory_format(self.model)
        self.criterion = LitePoseLoss(num_joints, push_factor=push_factor, pull_factor=pull_factor, ae_type=ae_type)
        self.decode_args = {"max_people": max_people, "detection_threshold": detection_threshold,
                            "tag_threshold": tag_threshold}
        self._results: list[dict] = []

    def setup(self, stage: str) -> None:
        # the heads are sized by num_joints: a datamodule with other joints would fail deep in the loss
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        joints = getattr(dm, "num_joints", None)
        if joints is not None and joints != self.hparams.num_joints:
            raise ValueError(f"the model has {self.hparams.num_joints} joints but the data in "
                             f"{dm.hparams.data_dir} has {joints}: num_joints comes from the data")

    def model_inputs(self, batch: dict) -> torch.Tensor:
        img = batch["img"]
        return img.contiguous(memory_format=torch.channels_last) if self.channels_last else img

    def batch_size_of(self, batch: dict) -> int:
        return int(batch["img"].shape[0])

    def task_loss(self, batch: dict):
        return self.criterion(self.model(self.model_inputs(batch)), batch)

    # ---------------------------------------------------------------- evaluation
    def predict_people(self, batch: dict) -> list[dict]:
        from tasks.pose.group import batch_coco_results, decode

        quarter, half = self.model(self.model_inputs(batch))
        people = decode(quarter, half, self.hparams.num_joints, **self.decode_args)
        return batch_coco_results(people, batch["image_id"].tolist(), batch["matrix"].cpu().numpy())

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._results += self.predict_people(batch)

    def on_validation_epoch_start(self) -> None:
        self._results = []

    def on_validation_epoch_end(self) -> None:
        from tasks.pose.data import oks_sigmas
        from tasks.pose.metrics import oks_ap

        kset = self.trainer.datamodule.val_set.kset
        stats = oks_ap(kset.raw, self._results, oks_sigmas(kset.joint_names))
        for k in ("ap", "ap50", "ap75"):
            self.log(f"val/{k}", stats[k], prog_bar=k == "ap")
        self._results = []


class PoseDataModule(L.LightningDataModule):
    """COCO-keypoints data: ``<data_dir>/{train,val}.json`` and ``<data_dir>/images/``.

    Args:
        data_dir: folder written by the ``prepare`` stage.
        imgsz: square network input (multiple of 32).
        batch_size: images per batch.
        workers: DataLoader worker processes.
        sigma: Gaussian σ of the target heatmaps, in output pixels (both scales).
        flip: probability of a horizontal flip in training.
        max_rotation: degrees of random rotation in training.
        min_scale: smallest random scale in training.
        max_scale: largest random scale in training.
    """

    def __init__(self, data_dir: str = "data/pose/prepare/dataset", imgsz: int = 256, batch_size: int = 16,
                 workers: int = 2, sigma: float = 2.0, flip: float = 0.5, max_rotation: float = 30.0,
                 min_scale: float = 0.75, max_scale: float = 1.5):
        super().__init__()
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.save_hyperparameters()
        self.train_set = self.val_set = None
        self._joints: list[str] | None = None

    @property
    def joint_names(self) -> list[str]:
        """The dataset's joint names (``<data_dir>/train.json``'s person category), read once when first asked."""
        if self._joints is None:
            from tasks.pose.data import dataset_joints

            self._joints = dataset_joints(self.hparams.data_dir)
        return list(self._joints)

    @property
    def num_joints(self) -> int:
        """Joints per person, from the data (linked to the model's ``num_joints``)."""
        return len(self.joint_names)

    def setup(self, stage: str | None = None) -> None:
        from tasks.pose.data import PoseDataset, load_keypoints_json

        h = self.hparams
        root = Path(h.data_dir)
        if self.train_set is None:
            aug = {"sigma": h.sigma, "flip": h.flip, "max_rotation": h.max_rotation, "scale": (h.min_scale, h.max_scale)}
            self.train_set = PoseDataset(load_keypoints_json(root / "train.json", root / "images"), h.imgsz, True, **aug)
            self.val_set = PoseDataset(load_keypoints_json(root / "val.json", root / "images"), h.imgsz, False,
                                       sigma=h.sigma)
            train, val = self.train_set.kset, self.val_set.kset
            if val.joint_names != train.joint_names:
                from common.data.errors import DataError

                raise DataError(val.path, f"its joints {val.joint_names} are not those of {train.path} "
                                          f"({train.joint_names})", expected="the same joints in both splits")

    def _loader(self, ds, shuffle: bool):
        return torch.utils.data.DataLoader(ds, batch_size=self.hparams.batch_size, shuffle=shuffle,
                                           num_workers=self.hparams.workers, persistent_workers=False,
                                           drop_last=False)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)
