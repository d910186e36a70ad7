"""Torch datasets of the OCR networks: scenes with DB targets (detector) and word crops with CTC targets
(recogniser), read from a prepared split (:mod:`tasks.ocr.data`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tasks.ocr.data import crop_word, load_split, read_rgb, resize_for_detector


class DetDataset(torch.utils.data.Dataset):
    """Images + DB targets (probability / threshold maps and their masks) at ``imgsz``."""

    def __init__(self, root: str | Path, split: str, imgsz: int, train: bool, shrink_ratio: float = 0.4):
        self.root, self.rows = Path(root), load_split(root, split)
        self.imgsz, self.train, self.r = imgsz, train, shrink_ratio

    def __len__(self) -> int:
        return len(self.rows)

    def image(self, i: int) -> np.ndarray:
        return read_rgb(self.root / "images" / self.rows[i]["file"])

    def __getitem__(self, i: int) -> dict:
        from tasks.ocr.db import db_targets

        img, s = resize_for_detector(self.image(i), self.imgsz)
        polys = [np.asarray(w["quad"], np.float32).reshape(4, 2) * s for w in self.rows[i]["words"]]
        ignore = [bool(w.get("ignore")) for w in self.rows[i]["words"]]
        if self.train and torch.rand(()) < 0.5:  # photometric jitter only: geometry is in the data
            img = np.clip(img.astype(np.float32) * float(torch.empty(()).uniform_(0.7, 1.3))
                          + float(torch.empty(()).uniform_(-25, 25)), 0, 255).astype(np.uint8)
        t = db_targets(polys, ignore, self.imgsz, self.r)
        return {"img": torch.from_numpy(img.transpose(2, 0, 1).copy()).float() / 255.0,
                **{k: torch.from_numpy(v) for k, v in t.items()}}


class RecDataset(torch.utils.data.Dataset):
    """Word crops of a split (don't-care words excluded) with CTC targets; training jitters the corners so
    the recogniser tolerates a detector's loose or tight boxes."""

    def __init__(self, root: str | Path, split: str, charset, train: bool, height: int = 32, max_width: int = 128,
                 max_label: int | None = None, preload_mb: float = 1024):
        """``preload_mb``: decode every image of the split once, up front, when they fit in this many MB
        (DataLoader workers then share them copy-on-write); otherwise each worker decodes on demand."""
        from tasks.ocr.text import CharsetError

        self.root, self.train, self.charset = Path(root), train, charset
        self.height, self.max_width = height, max_width
        self.max_label = max_label or max_width // 4
        self.items, self.skipped = [], {"outside_charset": 0, "too_long": 0}
        for r in load_split(root, split):
            for w in r["words"]:
                if w.get("ignore"):
                    continue
                try:
                    ids = charset.encode(w["text"])
                except CharsetError:
                    self.skipped["outside_charset"] += 1  # counted, and reported by the training stage
                    continue
                if len(ids) > self.max_label:
                    self.skipped["too_long"] += 1
                    continue
                self.items.append((r["file"], w["quad"], ids, w["text"]))
        self._cache: dict[str, np.ndarray] = {}
        files = sorted({it[0] for it in self.items})
        sizes = {r["file"]: r["width"] * r["height"] * 3 for r in load_split(root, split)}
        self.preloaded = sum(sizes[f] for f in files) <= preload_mb * 2**20
        if self.preloaded:
            self._cache = {f: read_rgb(self.root / "images" / f) for f in files}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        file, quad, ids, text = self.items[i]
        if file not in self._cache:
            if len(self._cache) > 256 and not self.preloaded:
                self._cache.clear()
            self._cache[file] = read_rgb(self.root / "images" / file)
        q = np.asarray(quad, np.float32).reshape(4, 2)
        if self.train:
            h = float(np.linalg.norm(q[3] - q[0]))
            q = q + torch.empty(4, 2).uniform_(-0.12, 0.12).numpy() * max(h, 4.0)
        label = torch.zeros(self.max_label, dtype=torch.long)
        label[: len(ids)] = torch.tensor(ids)
        return {"img": torch.from_numpy(crop_word(self._cache[file], q, self.height, self.max_width)),
                "label": label, "label_len": torch.tensor(len(ids)), "text": text}
