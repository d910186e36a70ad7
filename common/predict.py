"""``python -m tasks.<task> predict --model MODEL --images DIR --out DIR``: a trained model on a folder of images.

Lightning's own ``predict`` subcommand runs on a datamodule's split and keeps the results in memory; a user
wants predictions for *their* images written to disk. Each task gives a :class:`Predictor` (load a model file,
predict a batch of images, write one result); this module does the rest the same way for every task: lists
and decodes the images up front (a corrupt file stops the run with its name), batches them with a progress
bar, writes every result into a temporary folder that replaces ``--out`` only when all succeeded, and writes
``predictions.json`` (the model, the images, one entry per image) beside them.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.data.errors import DataError


@dataclass(frozen=True)
class Predictor:
    """What a task supplies to :func:`predict_main`.

    load: model file → a ready model (``load_model_file`` with the task's format: loading never runs code).
    predict: (model, list of image paths, options) → one result per image.
    write: (result, image path, output folder, options) → a JSON-able summary of what was written (paths are
        relative to the output folder).
    describe: what is written for each image (``--help``).
    options: extra ``(flag, kwargs)`` command-line options the task takes (e.g. ``--conf``).
    """
    load: Callable[[Path], Any]
    predict: Callable[[Any, list[Path], argparse.Namespace], list[Any]]
    write: Callable[[Any, Path, Path, argparse.Namespace], dict]
    describe: str
    options: Sequence[tuple[str, dict]] = ()
    batch_size: int = 8


def parser_for(task: str, predictor: Predictor) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m tasks.{task} predict",
        description=f"Run a trained {task} model on a folder of images. For each image it writes "
                    f"{predictor.describe}, and predictions.json indexes them all. The output folder is "
                    "replaced only when every image succeeded.")
    p.add_argument("--model", required=True, type=Path, help="a model file written by the pipeline (model.pt)")
    p.add_argument("--images", required=True, type=Path, help="a folder of images (.jpg .png .bmp .tif .webp)")
    p.add_argument("--out", required=True, type=Path, help="the output folder (replaced)")
    p.add_argument("--recursive", action="store_true", help="also read images in subfolders")
    p.add_argument("--batch-size", type=int, default=predictor.batch_size, help="images per forward pass")
    for flag, kwargs in predictor.options:
        p.add_argument(flag, **kwargs)
    return p


def predict_main(task: str, predictor: Predictor, argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv`` (without the ``predict`` word), predict every image, write the results; returns the index."""
    import torch
    from tqdm import tqdm

    from common.data.images import image_size, list_images
    from common.io import atomic_dir, atomic_write_json

    args = parser_for(task, predictor).parse_args(list(sys.argv[2:] if argv is None else argv))
    if not args.model.is_file():
        raise SystemExit(f"--model {args.model}: file not found (a model file written by the pipeline)")
    if not args.images.is_dir():
        raise SystemExit(f"--images {args.images}: not a folder of images")
    if args.batch_size < 1:
        raise SystemExit(f"--batch-size {args.batch_size}: must be at least 1")
    check_out_folder(args.out, args.images, args.model)
    images = list_images(args.images, recursive=args.recursive)
    if not images:
        raise DataError(args.images, "no images found", expected="image files (.jpg .png .bmp .tif .webp)")
    by_stem: dict[Path, Path] = {}
    for path in images:  # one result file per image, named by its stem: two images must not share one
        stem = path.relative_to(args.images).with_suffix("")
        if stem in by_stem:
            raise DataError(path, f"has the same name as {by_stem[stem].name}, so their results would overwrite each "
                                  "other", expected="one image per name (rename one, or predict them separately)")
        by_stem[stem] = path
    for path in images:
        image_size(path)  # every image decodes, or the run stops here naming it
    model = predictor.load(args.model)
    entries = []
    with atomic_dir(args.out) as tmp, torch.inference_mode():
        bar = tqdm(total=len(images), desc=f"{task} predict", unit="img", disable=None)
        for i in range(0, len(images), args.batch_size):
            batch = images[i:i + args.batch_size]
            results = predictor.predict(model, batch, args)
            if len(results) != len(batch):
                raise RuntimeError(f"{task} predictor returned {len(results)} results for {len(batch)} images")
            for path, result in zip(batch, results):
                rel = path.relative_to(args.images).as_posix()
                entries.append({"image": rel, **predictor.write(result, path, tmp, args)})
            bar.update(len(batch))
        bar.close()
        index = {"task": task, "model": str(args.model), "images": str(args.images), "count": len(entries),
                 "items": entries}
        atomic_write_json(tmp / "predictions.json", index)
    print(f"{len(entries)} images → {args.out}/ (index: {args.out / 'predictions.json'})")
    return index


def check_out_folder(out: Path, images: Path, model: Path) -> None:
    """``--out`` is replaced as a whole: refuse a folder that holds the images or the model, lies inside the
    images, or is an existing folder of something else (not an earlier prediction: no predictions.json)."""
    o, i, m = out.resolve(), images.resolve(), model.resolve()
    if o == i or o in i.parents or i in o.parents:
        raise SystemExit(f"--out {out}: it is, contains or lies inside --images {images}; the output folder is "
                         "replaced as a whole, so it must be a folder of its own")
    if o in m.parents:
        raise SystemExit(f"--out {out}: it contains the model {model}; choose a folder of its own")
    if o.exists() and (not o.is_dir() or (any(o.iterdir()) and not (o / "predictions.json").is_file())):
        raise SystemExit(f"--out {out}: exists and is not an earlier prediction output (no predictions.json); it "
                         "would be replaced — choose a new folder or remove it")


def same_size_groups(paths: list[Path], images: list, min_side: int, one_each: bool = False) -> list[list[int]]:
    """Indices of ``images`` (HWC arrays) grouped by size, one forward pass per group (``one_each``: one per
    image, for a sampler whose noise would otherwise depend on the batch). An image smaller than ``min_side`` on
    a side stops the run, named."""
    for p, im in zip(paths, images):
        if min(im.shape[:2]) < min_side:
            raise DataError(p, f"image {im.shape[1]}×{im.shape[0]} is smaller than the model's {min_side} px",
                            expected=f"images at least {min_side} px on each side")
    groups: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault((i,) if one_each else im.shape, []).append(i)
    return list(groups.values())


def find_beside(model: Path, rel: str) -> Path | None:
    """``<folder>/<rel>`` for the nearest folder above ``model`` that has it: what a model needs beside it in the
    pipeline's layout (e.g. ``autoencoder/model.pt`` or ``prepare/dataset/manifest.json``)."""
    for parent in Path(model).resolve().parents:
        if (parent / rel).is_file():
            return parent / rel
    return None


def output_path(out: Path, image: Path, images_root: Path, suffix: str) -> Path:
    """Where the result for ``image`` goes: its path under the images folder, with ``suffix``; folders made."""
    rel = image.relative_to(images_root).with_suffix(suffix)
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
