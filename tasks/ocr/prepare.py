"""Stage ``prepare``: write the OCR dataset to ``data/ocr/prepare/dataset``: ``images/<split>/``, one
Hugging Face ``datasets`` folder per split (``train``, ``val``; Arrow), ``charset.json`` (the recogniser's
classes) and ``stats.json`` (images and words per language and edge case, the words-per-image histogram).

``source: synthetic`` (tiny/smoke) renders multilingual scenes (:mod:`tasks.ocr.render`);
``source: icdar`` (full) reads ICDAR-style real data: ``{split: {images, gt}}`` folders under ``raw_dir``
(``gt_<image stem>.txt`` with ``x1,y1,…,x4,y4[,script],transcription`` lines, UTF-8 with or without a BOM,
``###`` = don't care; a bad line stops the stage with its file and line). The images are copied into
``images/<split>/`` so that the prepared dataset stands alone (no paths into ``raw_dir``); a split's ``language``
becomes every word's language when the lines carry no script column.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveFloat, model_validator

from common.stage import Field, StageParams, main

EdgeCase = Literal["clean", "blur", "noise", "low_contrast", "rotation", "perspective", "tiny", "mixed_script",
                   "jpeg", "clutter"]  # tasks.ocr.render.EDGE_CASES


class IcdarSplit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: str = Field(description="image folder, relative to raw_dir")
    gt: str = Field(description="ground-truth folder (gt_<image stem>.txt), relative to raw_dir")
    script_column: bool = Field(False, description="the lines carry a script column before the transcription")
    language: str = Field("", description="language of every word when the lines carry none")


class Params(StageParams):
    source: Literal["synthetic", "icdar"] = Field(description="rendered multilingual scenes, or ICDAR-style real data")
    train_images: int = Field(1200, ge=1, description="synthetic: training images")
    val_images: int = Field(150, ge=1, description="synthetic: validation images")
    image_size: int = Field(320, ge=32, description="synthetic: image side in pixels")
    max_words: int = Field(12, ge=1, description="synthetic: most words per image")
    languages: dict[str, PositiveFloat] | None = Field(
        None, min_length=1, description="synthetic: language code → sampling weight per image")
    edge_cases: list[EdgeCase] | None = Field(None, min_length=1,
                                              description="synthetic: the edge cases drawn (null: all)")
    raw_dir: str | None = Field(None, description="icdar: the folder holding the split folders")
    splits: dict[Literal["train", "val"], IcdarSplit] | None = Field(None, description="icdar: our split → its folders")

    @model_validator(mode="after")
    def _check(self):
        if self.source == "synthetic" and not self.languages:
            raise ValueError("source synthetic needs languages")
        if self.source == "icdar" and not (self.raw_dir and self.splits and set(self.splits) == {"train", "val"}):
            raise ValueError("source icdar needs raw_dir and splits {train, val}")
        return self


def synthetic_split(params: Params, split: str, n: int, images_dir: Path) -> list[dict]:
    from PIL import Image
    from tqdm import tqdm

    from tasks.ocr.render import EDGE_CASES, render_scene

    (images_dir / split).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in tqdm(range(n), desc=f"render {split}", unit="img", mininterval=2):
        s = render_scene(params.seed, i, size=params.image_size, languages=params.languages,
                         max_words=params.max_words, edge_cases=tuple(params.edge_cases or EDGE_CASES),
                         stream={"train": 0, "val": 1}[split])
        file = f"{split}/{i:05d}.png"
        Image.fromarray(s.image).save(images_dir / file)
        rows.append({"file": file, "width": s.image.shape[1], "height": s.image.shape[0], "language": s.language,
                     "edge_case": s.edge_case,
                     "words": [{"text": w.text, "lang": w.lang, "quad": w.quad, "ignore": False} for w in s.words]})
    return rows


def synthetic_charset_texts(languages) -> list[str]:
    from tasks.ocr.langs import LANGUAGES, NUMERALS

    texts = list(NUMERALS)
    for code in languages:
        lang = LANGUAGES[code]
        for w in lang.words:
            texts += [w, w.upper(), w[:1].upper() + w[1:]] if lang.cased else [w]
    return texts


def stats(rows: list[dict]) -> dict:
    from collections import Counter

    words = [w for r in rows for w in r["words"] if not w.get("ignore")]
    return {"images": len(rows), "words": len(words),
            "images_per_language": dict(Counter(r["language"] for r in rows).most_common()),
            "images_per_edge_case": dict(Counter(r["edge_case"] for r in rows).most_common()),
            "words_per_language": dict(Counter(w["lang"] for w in words).most_common()),
            "words_per_image": dict(sorted(Counter(len(r["words"]) for r in rows).items()))}


def icdar_split(raw: Path, split: str, spec: IcdarSplit, images_dir: Path) -> list[dict]:
    """Rows of one ICDAR-style split, its images copied to ``images_dir/<split>/`` (``file`` relative to
    ``images_dir``, like the synthetic splits)."""
    import shutil

    from tasks.ocr.data import load_icdar

    rows = load_icdar(raw / spec.images, raw / spec.gt, script_column=spec.script_column, language=spec.language)
    (images_dir / split).mkdir(parents=True, exist_ok=True)
    for r in rows:
        src = Path(r["file"])
        shutil.copyfile(src, images_dir / split / src.name)
        r["file"] = f"{split}/{src.name}"
        if not spec.script_column:
            for w in r["words"]:
                w["lang"] = spec.language
    return rows


def run(params: Params, out_dir: Path) -> dict:
    from common.io import atomic_dir, atomic_write_json
    from tasks.ocr.data import save_split
    from tasks.ocr.langs import check_languages
    from tasks.ocr.text import Charset

    with atomic_dir(out_dir) as tmp:
        root = tmp / "dataset"
        images = root / "images"
        images.mkdir(parents=True)
        if params.source == "synthetic":
            check_languages(params.languages)
            splits = {s: synthetic_split(params, s, n, images)
                      for s, n in (("train", params.train_images), ("val", params.val_images))}
            charset = Charset.from_texts(synthetic_charset_texts(params.languages))
        else:
            raw = Path(params.raw_dir)
            splits = {s: icdar_split(raw, s, spec, images) for s, spec in params.splits.items()}
            charset = Charset.from_texts(w["text"] for r in splits["train"] for w in r["words"] if not w["ignore"])
        for split, rows in splits.items():
            save_split(rows, root / split)
        atomic_write_json(root / "charset.json", charset.to_json())
        doc = {split: stats(rows) for split, rows in splits.items()}
        doc["charset_size"] = len(charset.chars)
        atomic_write_json(tmp / "stats.json", doc)
    print({s: (d["images"], d["words"]) for s, d in doc.items() if isinstance(d, dict)}, "charset", len(charset.chars))
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
