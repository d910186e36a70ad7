"""Stage ``prepare``: write the OCR dataset to ``data/ocr/prepare/dataset``: ``images/<split>/``, one
Hugging Face ``datasets`` folder per split (``train``, ``val``; Arrow), ``charset.json`` (the recogniser's
classes) and ``stats.json`` (images and words per language and edge case, the words-per-image histogram).

``source: synthetic`` (tiny/smoke) renders multilingual scenes (:mod:`tasks.ocr.render`);
``source: icdar`` (full) reads ICDAR-style real data: ``{split: {images, gt}}`` folders under ``raw_dir``
(``gt_<image stem>.txt`` with ``x1,y1,…,x4,y4[,script],transcription`` lines).
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params


def synthetic_split(params: dict, split: str, n: int, images_dir: Path) -> list[dict]:
    from PIL import Image
    from tqdm import tqdm

    from tasks.ocr.render import EDGE_CASES, render_scene

    (images_dir / split).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in tqdm(range(n), desc=f"render {split}", unit="img", mininterval=2):
        s = render_scene(params["seed"], i, size=params["image_size"], languages=params["languages"],
                         max_words=params["max_words"], edge_cases=tuple(params.get("edge_cases", EDGE_CASES)),
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
    words = [w for r in rows for w in r["words"] if not w.get("ignore")]
    return {"images": len(rows), "words": len(words),
            "images_per_language": dict(Counter(r["language"] for r in rows).most_common()),
            "images_per_edge_case": dict(Counter(r["edge_case"] for r in rows).most_common()),
            "words_per_language": dict(Counter(w["lang"] for w in words).most_common()),
            "words_per_image": dict(sorted(Counter(len(r["words"]) for r in rows).items()))}


def run(params: dict, out: str | Path) -> dict:
    from tasks.ocr.data import load_icdar, save_split
    from tasks.ocr.langs import check_languages
    from tasks.ocr.text import Charset

    with atomic_dir(out) as tmp:
        root = tmp / "dataset"
        images = root / "images"
        images.mkdir(parents=True)
        if params["source"] == "synthetic":
            check_languages(params["languages"])
            splits = {s: synthetic_split(params, s, params[f"{s}_images"], images) for s in ("train", "val")}
            charset = Charset.from_texts(synthetic_charset_texts(params["languages"]))
        elif params["source"] == "icdar":
            raw = Path(params["raw_dir"])
            splits = {s: load_icdar(raw / spec["images"], raw / spec["gt"], script_column=spec.get("script_column", False),
                                    language=spec.get("language", ""))
                      for s, spec in params["splits"].items()}
            charset = Charset.from_texts(w["text"] for r in splits["train"] for w in r["words"] if not w["ignore"])
        else:
            raise SystemExit(f"unknown prepare source {params['source']!r}; expected 'synthetic' or 'icdar'")
        for split, rows in splits.items():
            save_split(rows, root / split)
        atomic_write_json(root / "charset.json", charset.to_json())
        doc = {split: stats(rows) for split, rows in splits.items()}
        doc["charset_size"] = len(charset.chars)
        atomic_write_json(tmp / "stats.json", doc)
    print({s: (d["images"], d["words"]) for s, d in doc.items() if isinstance(d, dict)}, "charset", len(charset.chars))
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.ocr.prepare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/ocr/prepare")
    args = ap.parse_args(argv)
    run(stage_params("ocr", "prepare"), args.out)


if __name__ == "__main__":
    main()
