"""OCR training recipes through the common Lightning module: the DB detector and the CTC recognisers
(CRNN student, a larger CTC teacher), with frame-level logit distillation of the student from the teacher through
``common.distill`` (Hinton KD on each CTC frame's class posteriors: the two networks emit the same frames)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from common.training.module import DistillTerm, TaskModule

def read_charset(path: str | Path):
    from tasks.ocr.text import Charset

    return Charset.load(path)


# ----------------------------------------------------------------------------- detector
class DetModule(TaskModule):
    """DB detector. Validation: ICDAR precision / recall / h-mean at IoU 0.5 after DB post-processing.

    Args:
        widths: channels of the stem and the four backbone stages.
        depth: blocks per backbone stage.
        neck: FPN channels.
        box_thresh: minimum mean probability of a kept box (DB: 0.6 … 0.7).
        binary_loss: loss of the approximate binary map: "dice" (the authors' released code) or "bce" (the
            paper's text); see :func:`tasks.ocr.db.db_loss`.
        prob_scale: weight of the probability-map BCE (released code 5, paper text 1).
        recipe: arguments of :class:`common.training.module.TaskModule`.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 24, 48, 96, 128), depth: tuple[int, ...] = (1, 2, 2, 1),
                 neck: int = 64, box_thresh: float = 0.6, binary_loss: str = "dice", prob_scale: float = 5.0,
                 **recipe: Any):
        recipe.setdefault("warmup_epochs", 0.0)
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        from tasks.ocr.models import DBNet

        self.arch = {"widths": list(widths), "depth": list(depth), "neck": neck}
        self.model = DBNet(**self.arch)
        self._counts = np.zeros(3)

    def model_inputs(self, batch: dict) -> torch.Tensor:
        return batch["img"]

    def task_loss(self, batch: dict):
        from tasks.ocr.db import db_loss

        prob, thresh = self.model(batch["img"])
        return db_loss(prob, thresh, batch, binary_loss=self.hparams.binary_loss, prob_scale=self.hparams.prob_scale)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        from tasks.ocr.db import boxes_from_prob
        from tasks.ocr.metrics import detection_counts

        prob = self.model(batch["img"])[0][:, 0].cpu().numpy()
        ds = self.trainer.datamodule.val_set
        for j, p in enumerate(prob):
            i = int(batch["index"][j])
            s = float(batch["scale"][j])
            words = ds.rows[i]["words"]
            preds = [q / s for q, _ in boxes_from_prob(p, box_thresh=self.hparams.box_thresh)]
            self._counts += detection_counts(preds, [w["quad"] for w in words], [bool(w.get("ignore")) for w in words])

    def on_validation_epoch_start(self) -> None:
        self._counts = np.zeros(3)

    def on_validation_epoch_end(self) -> None:
        from tasks.ocr.metrics import prf

        m = prf(int(self._counts[0]), int(self._counts[1]), int(self._counts[2]))
        self.log("val/precision", m["precision"])
        self.log("val/recall", m["recall"])
        self.log("val/hmean", m["f1"], prog_bar=True)


# ----------------------------------------------------------------------------- recogniser
class RecModule(TaskModule):
    """CTC recogniser, optionally distilled from a saved teacher recogniser.

    Args:
        charset_file: the prepared charset (``charset.json``): the classes are its characters + the blank.
        arch: ``crnn`` (student and teacher, at two sizes), ``convtr`` (conv + transformers BERT encoder) or
            ``vit`` (a transformers ViT encoder).
        arch_args: keyword arguments of the architecture (widths, hidden size, layers, …).
        teacher: path of a saved recogniser to distill from (null = no distillation).
        distill_weight: weight of the frame-level KD term.
        distill_tau: KD temperature.
        recipe: arguments of :class:`common.training.module.TaskModule`.
    """

    def __init__(self, charset_file: str = "data/ocr/prepare/dataset/charset.json", arch: str = "crnn",
                 arch_args: dict | None = None, teacher: str | None = None, distill_weight: float = 1.0,
                 distill_tau: float = 2.0, **recipe: Any):
        recipe.setdefault("warmup_epochs", 0.0)
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        from common.distill import KDLoss
        from tasks.ocr.models import build_recogniser

        self.charset = read_charset(charset_file)
        self.arch = {"arch": arch, "num_classes": len(self.charset), **(arch_args or {})}
        self.model = build_recogniser(arch, len(self.charset), **(arch_args or {}))
        if teacher:
            from tasks.ocr.models import load_ocr_model

            t_model, rec = load_ocr_model(teacher)
            if rec["arch"].get("num_classes") != len(self.charset):
                raise ValueError(f"teacher {teacher} has {rec['arch'].get('num_classes')} classes, the charset "
                                 f"{charset_file} {len(self.charset)}: train the teacher on the same prepared data")
            self.set_teacher(t_model, [DistillTerm("head", "head", KDLoss(distill_tau), distill_weight)])
        self._val: list[tuple[str, str]] = []

    def model_inputs(self, batch: dict) -> torch.Tensor:
        return batch["img"]

    def task_loss(self, batch: dict):
        logits = self.model(batch["img"])  # (B, T, C)
        log_probs = F.log_softmax(logits.float(), -1).transpose(0, 1)  # (T, B, C)
        t = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
        loss = F.ctc_loss(log_probs, batch["label"], t, batch["label_len"], blank=0, zero_infinity=True)
        return loss, {"ctc": loss.detach()}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        best = self.model(batch["img"]).argmax(-1).cpu().numpy()
        self._val += [(gt, self.charset.ctc_greedy(p)) for gt, p in zip(batch["text"], best)]

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def on_validation_epoch_end(self) -> None:
        from tasks.ocr.metrics import cer
        from tasks.ocr.text import normalise

        if not self._val:
            return
        gts, preds = zip(*self._val)
        acc = float(np.mean([normalise(g) == normalise(p) for g, p in self._val]))
        self.log("val/word_acc", acc, prog_bar=True)
        self.log("val/cer", cer(list(gts), list(preds)))


# ----------------------------------------------------------------------------- data
class OCRDataModule(L.LightningDataModule):
    """Base: a prepared OCR dataset (``<data_dir>/{train,val}``, ``images/``, ``charset.json``)."""

    def __init__(self, data_dir: str = "data/ocr/prepare/dataset", batch_size: int = 16, workers: int = 2):
        super().__init__()
        self.save_hyperparameters()
        self.train_set = self.val_set = None

    def _loader(self, ds, shuffle: bool, collate=None):
        return torch.utils.data.DataLoader(ds, batch_size=self.hparams.batch_size, shuffle=shuffle,
                                           num_workers=self.hparams.workers, collate_fn=collate,
                                           persistent_workers=self.hparams.workers > 0)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)


class _Indexed(torch.utils.data.Dataset):
    """Adds the row index and the resize scale (validation maps boxes back to the original image)."""

    def __init__(self, ds):
        self.ds, self.rows = ds, ds.rows

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        r = self.rows[i]
        item.update(index=i, scale=self.ds.imgsz / max(r["width"], r["height"]))
        return item


class DetDataModule(OCRDataModule):
    """Scenes + DB targets.

    Args:
        imgsz: square detector input (multiple of 32): the long side is scaled to it.
        shrink_ratio: DB's r (0.4).
    """

    def __init__(self, data_dir: str = "data/ocr/prepare/dataset", batch_size: int = 16, workers: int = 2,
                 imgsz: int = 320, shrink_ratio: float = 0.4):
        super().__init__(data_dir, batch_size, workers)
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        from tasks.ocr.datasets import DetDataset

        h = self.hparams
        if self.train_set is None:
            self.train_set = DetDataset(h.data_dir, "train", h.imgsz, True, h.shrink_ratio)
            self.val_set = _Indexed(DetDataset(h.data_dir, "val", h.imgsz, False, h.shrink_ratio))


class RecDataModule(OCRDataModule):
    """Word crops with CTC targets.

    Args:
        height: crop height.
        max_width: crop width (wider words are squeezed); the recogniser emits max_width / 4 frames.
        preload_mb: decode all images up front when they fit in this many MB (workers share them).
    """

    def __init__(self, data_dir: str = "data/ocr/prepare/dataset", batch_size: int = 32, workers: int = 1,
                 height: int = 32, max_width: int = 128, preload_mb: float = 1024):
        super().__init__(data_dir, batch_size, workers)
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        from tasks.ocr.datasets import RecDataset

        h = self.hparams
        if self.train_set is None:
            cs = read_charset(Path(h.data_dir) / "charset.json")
            self.train_set = RecDataset(h.data_dir, "train", cs, True, h.height, h.max_width, preload_mb=h.preload_mb)
            self.val_set = RecDataset(h.data_dir, "val", cs, False, h.height, h.max_width, preload_mb=h.preload_mb)
