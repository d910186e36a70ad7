"""Detection training recipe: YOLOv8 (ultralytics architecture and loss) through the common Lightning
module, validated with COCO-style mAP50 / mAP50-95 (torchmetrics + faster-coco-eval)."""
from __future__ import annotations

from typing import Any

import torch
from torchmetrics.detection import MeanAveragePrecision

from common.training.module import TaskModule


def targets_from_batch(batch: dict, n_images: int) -> list[dict]:
    """ultralytics' batch (normalised xywh of the letterboxed image) → per-image pixel xyxy targets."""
    h, w = batch["img"].shape[-2:]
    out = []
    scale = torch.tensor([w, h, w, h], device=batch["bboxes"].device, dtype=torch.float32)
    for i in range(n_images):
        m = batch["batch_idx"] == i
        xywh = batch["bboxes"][m].float() * scale
        xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], dim=1)
        out.append({"boxes": xyxy, "labels": batch["cls"][m].view(-1).long()})
    return out


def detections_to_preds(dets: list[torch.Tensor]) -> list[dict]:
    return [{"boxes": d[:, :4], "scores": d[:, 4], "labels": d[:, 5].long()} for d in dets]


def new_map_metric(max_det: int = 300) -> MeanAveragePrecision:
    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval",
                                max_detection_thresholds=[1, 10, max_det])


class DetectionModule(TaskModule):
    """YOLOv8 detector trained with ultralytics' loss through the common recipe.

    Args:
        model_cfg: ultralytics architecture YAML: yolov8n.yaml, yolov8s.yaml, yolov8m.yaml, … (random init).
        nc: number of classes (the pipeline and ``python -m tasks.detection`` link it to the data's).
        names: class names in id order (linked to the data's; exported with the model).
        init_weights: an edgerepro model file to start from (e.g. data/detection/train_teacher/model.pt);
            overrides model_cfg.
        teacher_weights: an edgerepro model file of a frozen teacher; when set, the loss adds channel-wise
            distillation (CWD) from the teacher's feature maps at ``distill_taps``.
        kept_channels: a ``prune.json`` whose ``kept_channels`` names, per tap, the teacher channel each student
            channel was pruned from (the teacher is the pruned model's parent): CWD compares each student channel
            with its own parent channel, no adapter. Null: a learnable 1×1 adapter (random init) maps the
            student's channels to the teacher's.
        distill_taps: module names tapped in both models; default: the neck outputs that feed Detect
            (P3/P4/P5, ``model.15/18/21`` in YOLOv8).
        cwd_tau: CWD temperature T.
        cwd_weight: weight of each tap's CWD term (relative to the per-image detection loss).
        conf: NMS confidence threshold for validation/prediction.
        iou: NMS IoU threshold.
        max_det: maximum detections per image (also the largest maxDets of the COCO evaluation).
        recipe: arguments of :class:`common.training.module.TaskModule` (optimizer, warm-up, …).
    """

    def __init__(self, model_cfg: str = "yolov8n.yaml", nc: int | None = None, names: list[str] | None = None,
                 init_weights: str | None = None,
                 teacher_weights: str | None = None, kept_channels: str | None = None,
                 distill_taps: list[str] | None = None, cwd_tau: float = 1.0,
                 cwd_weight: float = 10.0, conf: float = 0.001, iou: float = 0.7, max_det: int = 300,
                 **recipe: Any):
        recipe.setdefault("nominal_batch_size", 64)
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        from common.adapters import ultralytics as yolo

        if nc is None and not init_weights:
            raise ValueError("nc (the number of classes) is needed to build a new model; the pipeline and "
                             "`python -m tasks.detection` take it from the data")
        if names is not None and nc is not None and len(names) != nc:
            raise ValueError(f"{len(names)} class names for nc = {nc}")
        self.model = yolo.load_model(init_weights) if init_weights else yolo.build_model(model_cfg, nc)
        if nc is None:  # a model file alone (no data to check it against): its own classes
            nc = int(self.model.yaml["nc"])
            if not names and isinstance(self.model.names, dict):
                names = [self.model.names[i] for i in range(nc)]
        elif init_weights:
            yolo.check_classes(self.model, nc, init_weights, "the data")
            had = getattr(self.model, "names", None)
            if names and isinstance(had, dict) and [had.get(i) for i in range(nc)] != list(names):
                raise ValueError(f"{init_weights}: the model's classes {[had.get(i) for i in range(nc)]} are not "
                                 f"the data's {list(names)} (same count, other names or order)")
        self.model.names = dict(enumerate(names)) if names else {i: f"class{i}" for i in range(nc)}
        yolo.freeze_dfl(self.model)
        self.use_memory_format(self.model)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self._criterion = None
        self.val_map = new_map_metric(max_det)
        if teacher_weights:
            teacher = yolo.load_model(teacher_weights)
            yolo.check_classes(teacher, nc, teacher_weights, "the data")
            self._attach_teacher(teacher, distill_taps, cwd_tau, cwd_weight, kept_channels)

    def _attach_teacher(self, teacher, taps: list[str] | None, tau: float, weight: float,
                        kept_file: str | None = None) -> None:
        from common.distill.losses import CWDLoss
        from common.distill.taps import tap_channels
        from common.training.module import DistillTerm

        if taps is None:
            taps = [f"model.{i}" for i in self.model.model[-1].f]  # Detect's inputs: P3, P4, P5
        sample = torch.zeros(1, 3, 64, 64)
        s_ch, t_ch = tap_channels(self.model, taps, sample), tap_channels(teacher, taps, sample)
        kept: dict[str, list[int]] = {}
        if kept_file:
            from common.io import read_json

            kept = read_json(kept_file).get("kept_channels") or {}
            missing = [t for t in taps if t not in kept]
            if missing:
                raise ValueError(f"{kept_file}: no kept_channels for taps {missing} (has {sorted(kept)})")
        terms = [DistillTerm(t, t, CWDLoss(tau, s_ch[t], t_ch[t], teacher_index=kept.get(t)), weight) for t in taps]
        self.set_teacher(teacher, terms)

    # ---------------------------------------------------------------- loss
    @property
    def criterion(self):
        from common.adapters.ultralytics import detection_loss

        if self._criterion is None or self._criterion.device != self.device:
            self._criterion = detection_loss(self.model)
        return self._criterion

    def _images(self, batch: dict) -> torch.Tensor:
        img = batch["img"]
        img = img.float() / 255 if img.dtype == torch.uint8 else img
        return img.contiguous(memory_format=torch.channels_last) if self.channels_last else img

    def model_inputs(self, batch: dict) -> torch.Tensor:
        return self._images(batch)

    def batch_size_of(self, batch: dict) -> int:
        return int(batch["img"].shape[0])

    def distill_scale(self, batch: dict) -> float:
        return float(self.batch_size_of(batch))  # v8DetectionLoss returns loss × batch size

    def task_loss(self, batch: dict):
        preds = self.model(self._images(batch))
        loss, items = self.criterion(preds, batch)
        names = ("box", "cls", "dfl")
        if isinstance(items, dict):
            logs = {k: v.detach() for k, v in items.items()}
        else:
            logs = {n: v.detach() for n, v in zip(names, items)}
        return loss.sum(), logs

    # ---------------------------------------------------------------- epochs
    def _sync_data_epoch(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "set_epoch"):
            dm.set_epoch(self.current_epoch, int(self.trainer.max_epochs or 1))

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self._sync_data_epoch()

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._sync_data_epoch()

    # ---------------------------------------------------------------- evaluation
    def predict_detections(self, images: torch.Tensor) -> list[torch.Tensor]:
        from common.adapters.ultralytics import nms

        out = self.model(images)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return nms(out, self.conf, self.iou, self.max_det)

    def _eval_step(self, batch: dict) -> None:
        img = self._images(batch)
        dets = self.predict_detections(img)
        self.val_map.update(detections_to_preds(dets), targets_from_batch(batch, img.shape[0]))

    def _eval_epoch_end(self, prefix: str) -> None:
        res = self.val_map.compute()
        self.log(f"{prefix}/map50", res["map_50"], prog_bar=True, sync_dist=False)
        self.log(f"{prefix}/map50_95", res["map"], prog_bar=True, sync_dist=False)
        self.val_map.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        dets = self.predict_detections(self._images(batch))
        return [{"im_file": f, **{k: v.cpu() for k, v in p.items()}}
                for f, p in zip(batch["im_file"], detections_to_preds(dets))]
