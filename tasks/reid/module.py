"""LightningModules and the DataModule of the ReID task (trained through ``common.training.TaskModule``).

* :class:`TeacherModule` — the cloud model: ID cross-entropy (on visual *and* text embeddings, one classifier)
  + cross-modal contrastive (supervised contrastive between the visual embeddings and the texts, both ways)
  + batch-hard triplet over every modality together. The loss mix is an **assumption** (the paper names the
  three terms, not their form or weights; every weight is an argument).
* :class:`StudentModule` — the edge model: ID cross-entropy + batch-hard triplet on its own visual embedding,
  plus, when ``teacher`` is given, the distillation terms of ``common.distill.embedding`` on the two
  embeddings (the teacher's visual ``neck`` → the student's ``vision.neck``): plain feature KD, PCM, FR.

Batches are P identities × K images (visual modalities mixed, at least one of each the identity has), with one
caption per identity for the teacher. Validation embeds the validation identities and logs retrieval mAP per
modality pair (``val/map_ir_rgb`` …) and their mean over the visual pairs (``val/map``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import lightning as L
from torch import nn

from common.training.module import DistillTerm, TaskModule
from tasks.reid.data import MODALITY_CODE, SplitArrays

VISUAL_PAIRS = {"ir_rgb": (MODALITY_CODE["ir"], MODALITY_CODE["rgb"]),
                "rgb_ir": (MODALITY_CODE["rgb"], MODALITY_CODE["ir"]),
                "sketch_rgb": (MODALITY_CODE["sketch"], MODALITY_CODE["rgb"])}
TEXT_PAIR = {"text_rgb": (-1, MODALITY_CODE["rgb"])}
# same-modality retrieval across cameras (Market-1501's protocol; not part of the cross-modal mean)
SAME_PAIR = {"rgb_rgb": (MODALITY_CODE["rgb"], MODALITY_CODE["rgb"])}
FORMAT = "edgerepro.reid.v1"


# --------------------------------------------------------------------------------------------- data
class PKBatches(torch.utils.data.Sampler):
    """P identities × K images per batch; an epoch is about one pass over the images (⌊N / (P·K)⌋ batches),
    the identities cycled in fresh random orders. From each identity, one image of every modality it has first
    (so every batch holds cross-modal positives), the rest drawn at random."""

    def __init__(self, labels: np.ndarray, modality: np.ndarray, p: int, k: int, seed: int = 0):
        self.by_id = {}
        for i, (lab, m) in enumerate(zip(labels, modality)):
            self.by_id.setdefault(int(lab), {}).setdefault(int(m), []).append(i)
        self.ids = sorted(self.by_id)
        self.p, self.k, self.seed, self.epoch = min(p, len(self.ids)), k, seed, 0
        self.n = len(labels)

    def __len__(self):
        return max(1, self.n // (self.p * self.k))

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order: list[int] = []
        for _ in range(len(self)):
            if len(order) < self.p:
                order += [int(x) for x in rng.permutation(self.ids) if int(x) not in order[:self.p]]
            group, order = order[:self.p], order[self.p:]
            batch = []
            for pid in group:
                groups = self.by_id[pid]
                first = [int(rng.choice(v)) for _, v in sorted(groups.items())][:self.k]
                rest = np.setdiff1d(np.concatenate([np.asarray(v) for v in groups.values()]), first)
                extra = rng.choice(rest, size=self.k - len(first), replace=len(rest) < self.k - len(first)) \
                    if self.k > len(first) and len(rest) else []
                batch += first + [int(x) for x in extra]
            yield batch


class ReIDDataModule(L.LightningDataModule):
    """``data_dir`` holds ``train.npz`` / ``val.npz`` / ``tune.npz`` (:class:`tasks.reid.data.SplitArrays`).
    ``text``: tokenise the captions and add one per identity to each batch (the teacher). ``val_split``: the
    identities validation reports on — ``val`` (the test identities) or ``tune`` (held-out identities, disjoint
    from both, on which the student stage chooses its distillation weights)."""

    def __init__(self, data_dir: str = "data/reid/prepare/dataset", batch_ids: int = 16, per_id: int = 4,
                 text: bool = False, max_text_len: int = 64, flip: bool = True, shift: int = 2, workers: int = 0,
                 val_batch_size: int = 256, val_split: str = "val"):
        super().__init__()
        if val_split not in ("val", "tune"):
            raise ValueError(f"val_split: 'val' (the test identities) or 'tune' (the held-out tuning identities), "
                             f"got {val_split!r}")
        self.val_split = val_split
        self.data_dir = Path(data_dir)
        self.batch_ids, self.per_id, self.text = batch_ids, per_id, text
        self.max_text_len, self.flip, self.shift = max_text_len, flip, shift
        self.workers, self.val_batch_size = workers, val_batch_size
        path = self.data_dir / "train.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no prepared ReID data (run `dvc repro tasks/reid/dvc.yaml:prepare`)")
        with np.load(path) as z:
            self.train_pids = np.unique(z["pids"])
        self.num_classes = int(len(self.train_pids))
        self.train = self.val = None

    def setup(self, stage=None):
        if self.train is None:
            self.train = SplitArrays.load(self.data_dir / "train.npz")
            path = self.data_dir / f"{self.val_split}.npz"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no `{self.val_split}` split in the prepared data (rerun "
                                        f"`dvc repro tasks/reid/dvc.yaml:prepare`)")
            self.val = SplitArrays.load(path)
            self.label_of = {int(p): i for i, p in enumerate(self.train_pids)}
            self.labels = np.array([self.label_of[int(p)] for p in self.train.pids], np.int64)
            if self.text and not self.train.captions:
                # e.g. SYSU-MM01 or Market-1501: no descriptions to align — said, not skipped silently
                print(f"{self.data_dir / 'train.npz'}: no captions — the teacher trains on the visual modalities only "
                      "(no text branch, no text→RGB row)")
                self.text = False
            if self.text:
                from tasks.reid.models import load_tokenizer

                self.tokenizer = load_tokenizer()
                self.train_tokens = self.tokenize(self.train.captions)
                self.val_tokens = self.tokenize(self.val.captions) if self.val.captions else {}

    def tokenize(self, captions: dict[int, list[str]]) -> dict:
        """All captions tokenised once: {pid: (ids (c, L), mask (c, L))} padded to the longest."""
        flat = [(pid, c) for pid, cs in captions.items() for c in cs]
        if not flat:
            raise ValueError(f"{self.data_dir}: no captions, but the teacher needs text (text: true)")
        enc = self.tokenizer([c for _, c in flat], padding=True, truncation=True, max_length=self.max_text_len,
                             return_tensors="pt")
        out = {}
        for i, (pid, _) in enumerate(flat):
            out.setdefault(pid, []).append(i)
        return {pid: (enc["input_ids"][idx], enc["attention_mask"][idx]) for pid, idx in out.items()}

    def _collate_train(self, idx: list[int]) -> dict:
        idx = np.asarray(idx)
        x = torch.from_numpy(self.train.images[idx]).permute(0, 3, 1, 2).float() / 255
        g = torch.Generator().manual_seed(int(idx.sum()))
        if self.flip:
            f = torch.rand(len(x), generator=g) < 0.5
            x[f] = x[f].flip(-1)
        if self.shift:
            s = self.shift
            pad = F.pad(x, (s, s, s, s), mode="replicate")
            dy, dx = torch.randint(0, 2 * s + 1, (2,), generator=g).tolist()
            x = pad[..., dy:dy + x.shape[2], dx:dx + x.shape[3]]
        batch = {"images": x.contiguous(), "labels": torch.from_numpy(self.labels[idx]),
                 "modality": torch.from_numpy(self.train.modality[idx]), "cams": torch.from_numpy(self.train.cams[idx])}
        if self.text:
            # one caption per identity in the batch (identities without a caption add none)
            pids = [p for p in dict.fromkeys(int(p) for p in self.train.pids[idx]) if p in self.train_tokens]
            if not pids:
                return batch
            ids, masks = [], []
            for p in pids:
                t_ids, t_mask = self.train_tokens[p]
                j = int(torch.randint(len(t_ids), (1,), generator=g))
                ids.append(t_ids[j])
                masks.append(t_mask[j])
            ids, masks = torch.stack(ids), torch.stack(masks)
            keep = int(masks.sum(1).max())  # trim the padding this batch does not need
            batch.update(text_ids=ids[:, :keep], text_mask=masks[:, :keep],
                         text_labels=torch.tensor([self.label_of[p] for p in pids]))
        return batch

    def train_dataloader(self):
        # the run's seed (seed_everything) drives the identity order, so a seed change is a full re-draw
        sampler = PKBatches(self.labels, self.train.modality, self.batch_ids, self.per_id, seed=torch.initial_seed())
        return torch.utils.data.DataLoader(list(range(len(self.labels))), batch_sampler=sampler,
                                           collate_fn=self._collate_train, num_workers=self.workers)

    def val_dataloader(self):
        n = len(self.val.pids)

        def collate(idx):
            idx = np.asarray(idx)
            return {"images": torch.from_numpy(self.val.images[idx]).permute(0, 3, 1, 2).float() / 255,
                    "pids": torch.from_numpy(self.val.pids[idx]), "cams": torch.from_numpy(self.val.cams[idx]),
                    "modality": torch.from_numpy(self.val.modality[idx])}

        return torch.utils.data.DataLoader(list(range(n)), batch_size=self.val_batch_size, collate_fn=collate,
                                           num_workers=0)


# --------------------------------------------------------------------------------------------- modules
class ReIDModule(TaskModule):
    """Shared: the metric-learning losses and retrieval validation."""

    def __init__(self, id_weight: float = 1.0, triplet_weight: float = 1.0, margin: float = 0.3,
                 label_smoothing: float = 0.1, **recipe):
        super().__init__(**recipe)
        from pytorch_metric_learning import losses, miners

        self.id_weight, self.triplet_weight, self.label_smoothing = id_weight, triplet_weight, label_smoothing
        self.triplet = losses.TripletMarginLoss(margin=margin)  # on L2-normalised embeddings (its default)
        self.miner = miners.BatchHardMiner()
        self._val = []

    def id_loss(self, emb, labels):
        return F.cross_entropy(self.model.classifier(emb), labels, label_smoothing=self.label_smoothing)

    def triplet_loss(self, emb, labels):
        return self.triplet(emb, labels, self.miner(emb, labels))

    def validation_step(self, batch, batch_idx):
        self._val.append({k: v.cpu() for k, v in batch.items() if k != "images"} | {"emb": self.model(batch["images"]).cpu()})

    def text_queries(self):
        return None

    def on_validation_epoch_end(self):
        from tasks.reid.metrics import evaluate_pairs, evaluate_split

        if not self._val:
            return
        cat = {k: torch.cat([b[k] for b in self._val]) for k in self._val[0]}
        self._val = []
        pairs = {**VISUAL_PAIRS, **SAME_PAIR, **TEXT_PAIR}
        dm = getattr(self.trainer, "datamodule", None)
        split = getattr(dm, "val", None)
        if split is not None and split.protocol is not None and len(split.pids) == len(cat["pids"]):
            # the benchmark's query / gallery protocol (Market-1501, SYSU-MM01), as the evaluate stage scores it
            res = evaluate_split(cat["emb"], split, pairs, self.text_queries())
        else:
            res = evaluate_pairs(cat["emb"], cat["pids"].numpy(), cat["cams"].numpy(), cat["modality"].numpy(), pairs,
                                 self.text_queries())
        for name, r in res.items():
            self.log(f"val/map_{name}", r["map"])
            self.log(f"val/rank1_{name}", r["rank1"])
        visual = [res[k]["map"] for k in VISUAL_PAIRS if k in res and np.isfinite(res[k]["map"])]
        if not visual:  # e.g. Market-1501: RGB only, its protocol pair is RGB → RGB
            visual = [r["map"] for r in res.values() if np.isfinite(r["map"])]
        self.log("val/map", float(np.mean(visual)) if visual else 0.0, prog_bar=True)


class TeacherModule(ReIDModule):
    """The cloud teacher (see the module docstring). Args beyond the recipe: the model's (``dim``,
    ``backbone``, ``lora_layers``, ``lora_ranks`` — the hierarchical LoRA: one rank per depth), and the loss
    weights (``contrastive_weight``, ``temperature`` of the supervised contrastive term)."""

    def __init__(self, num_classes: int, dim: int = 256, backbone: str = "resnet18", lora_layers: list[int] = (1, 3, 5),
                 lora_ranks: list[int] = (4, 8, 16), lora_alpha_ratio: float = 2.0, lora_dropout: float = 0.05,
                 contrastive_weight: float = 1.0, temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        from pytorch_metric_learning import losses

        from tasks.reid.models import TeacherModel

        self.config = {"num_classes": num_classes, "dim": dim, "backbone": backbone, "lora_layers": list(lora_layers),
                       "lora_ranks": list(lora_ranks), "lora_alpha_ratio": lora_alpha_ratio, "lora_dropout": lora_dropout}
        self.model = TeacherModel(**self.config)
        self.contrastive_weight = contrastive_weight
        self.supcon = losses.SupConLoss(temperature=temperature)

    def task_loss(self, batch):
        v = self.model.vision(batch["images"])
        y = batch["labels"]
        if "text_ids" not in batch:  # a dataset without captions: the visual modalities only
            l_id, l_tri, l_con = self.id_loss(v, y), self.triplet_loss(v, y), self.supcon(v, y)
            loss = self.id_weight * l_id + self.triplet_weight * l_tri + self.contrastive_weight * l_con
            return loss, {"id": l_id.detach(), "triplet": l_tri.detach(), "contrastive": l_con.detach()}
        t = self.model.text(batch["text_ids"], batch["text_mask"])
        ty = batch["text_labels"]
        l_id = self.id_loss(v, y) + self.id_loss(t, ty)
        both, both_y = torch.cat([v, t]), torch.cat([y, ty])
        l_tri = self.triplet_loss(both, both_y)
        # cross-modal contrastive: anchors of one modality, candidates of the other (both directions)
        l_con = self.supcon(v, y, ref_emb=t, ref_labels=ty) + self.supcon(t, ty, ref_emb=v, ref_labels=y)
        loss = self.id_weight * l_id + self.triplet_weight * l_tri + self.contrastive_weight * l_con
        return loss, {"id": l_id.detach(), "triplet": l_tri.detach(), "contrastive": l_con.detach()}

    def text_queries(self):
        dm = self.trainer.datamodule if self.trainer is not None else None
        if dm is None or not getattr(dm, "text", False) or not dm.val_tokens:
            return None
        embs, pids = [], []
        with torch.no_grad():
            for pid, (ids, mask) in dm.val_tokens.items():
                embs.append(self.model.text(ids.to(self.device), mask.to(self.device)).cpu())
                pids += [pid] * len(ids)
        return torch.cat(embs), np.array(pids)

    def save(self, path, **extra) -> None:
        save_model(path, "teacher", self.config, self.model, **extra)


class StudentModule(ReIDModule):
    """The edge student. ``teacher``: a saved teacher (``model.pt`` of the teacher stage) to distil from with
    ``kd_weight`` (plain feature KD), ``pcm_weight`` (PCM, energy threshold ``pcm_tau``) and ``fr_weight``
    (feature relation); all zero = the student alone. ``distill_normalize``: L2-normalise features inside KD
    and PCM (an assumption, off by default)."""

    def __init__(self, num_classes: int, dim: int = 128, backbone: str = "mobilenet_v3_small", width: float = 1.0,
                 teacher: str | None = None, kd_weight: float = 0.0, pcm_weight: float = 0.0, fr_weight: float = 0.0,
                 pcm_tau: float = 0.9, pcm_center: bool = False, distill_normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        from tasks.reid.models import StudentModel

        self.config = {"num_classes": num_classes, "dim": dim, "backbone": backbone, "width": width}
        self.model = StudentModel(**self.config)
        self.pcm_ks: list[int] = []  # PCM's adaptive k at every training step
        self.settings = {"kd_weight": kd_weight, "pcm_weight": pcm_weight, "fr_weight": fr_weight, "pcm_tau": pcm_tau,
                         "pcm_center": pcm_center, "distill_normalize": distill_normalize, "teacher": teacher}
        if teacher and (kd_weight or pcm_weight or fr_weight):
            from common.distill.embedding import EmbeddingHintLoss, FeatureRelationLoss, PCMLoss

            t_model = load_model(teacher)
            t_dim = t_model.dim
            terms = []
            if kd_weight:
                terms.append(DistillTerm("vision.neck", "neck", EmbeddingHintLoss(dim, t_dim, distill_normalize), kd_weight))
            if pcm_weight:
                terms.append(DistillTerm("vision.neck", "neck", PCMLoss(dim, t_dim, pcm_tau, pcm_center, distill_normalize),
                                         pcm_weight))
            if fr_weight:
                terms.append(DistillTerm("vision.neck", "neck", FeatureRelationLoss(), fr_weight))
            self.set_teacher(t_model.vision, terms)

    def model_inputs(self, batch):
        return batch["images"]

    def task_loss(self, batch):
        v = self.model(batch["images"])
        y = batch["labels"]
        l_id, l_tri = self.id_loss(v, y), self.triplet_loss(v, y)
        return self.id_weight * l_id + self.triplet_weight * l_tri, {"id": l_id.detach(), "triplet": l_tri.detach()}

    def compute_loss(self, batch):
        loss, items = super().compute_loss(batch)
        for term in self.distill_terms:
            if hasattr(term, "last_k"):
                items["pcm_k"] = torch.tensor(float(term.last_k))
                self.pcm_ks.append(int(term.last_k))
        return loss, items

    def save(self, path, **extra) -> None:
        save_model(path, "student", self.config, self.model, **extra)


# the constructor arguments a model file records, per kind, with their types: the loader rebuilds the network from
# these plain values only (the class from the kind, the backbone from VisualEncoder's fixed set), never from a
# class path stored in the file
ARCH = {
    "teacher": {"num_classes": int, "dim": int, "backbone": str, "lora_layers": list, "lora_ranks": list,
                "lora_alpha_ratio": float, "lora_dropout": float},
    "student": {"num_classes": int, "dim": int, "backbone": str, "width": float},
}
BACKBONES = ("resnet18", "mobilenet_v3_small")


def save_model(path: str | Path, kind: str, config: dict, model: nn.Module, **extra) -> Path:
    """A teacher's or student's network as an ``edgerepro.reid.v1`` file: its constructor arguments
    (``config``), its state dict and ``extra`` plain values (e.g. the variant's ``name``)."""
    from common.modelfile import save_model_file

    return save_model_file(path, FORMAT, kind, config=config, state_dict=model.state_dict(), **extra)


def _plain(value, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return isinstance(value, kind)


def load_model(path: str | Path) -> nn.Module:
    """A saved teacher or student (written by :meth:`TeacherModule.save` / :meth:`StudentModule.save`), in eval
    mode."""
    from common.modelfile import ModelFileError, load_model_file
    from tasks.reid.models import StudentModel, TeacherModel

    ck = load_model_file(path, FORMAT, tuple(ARCH))
    arch, config = ARCH[ck["kind"]], ck.get("config")
    if not (isinstance(config, dict) and set(config) == set(arch) and all(_plain(v, arch[k]) for k, v in config.items())
            and config["backbone"] in BACKBONES):
        raise ModelFileError(f"{path}: not a known ReID {ck['kind']} network: {config!r} (expected the keys "
                             f"{sorted(arch)} with plain values, backbone in {BACKBONES})")
    model = (TeacherModel if ck["kind"] == "teacher" else StudentModel)(**config)
    model.load_state_dict(ck["state_dict"])
    return model.eval()
