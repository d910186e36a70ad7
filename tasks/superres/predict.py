"""``python -m tasks.superres predict --model M --images DIR --out DIR``: super-resolve a folder of images.

For each image (read as LR): ``<name>.png``, the super-resolved RGB image, ``scale`` × its width and height, and
its sizes in ``predictions.json``. The model is a one-step generator (``train/one_step/<variant>/model.pt`` or
``train/one_step_kd/model.pt``, kind ``onestep``: D^3SR, its ablations, the KD baseline) run as the ``evaluate``
stage runs it: bicubic ×scale → frozen encoder → one UNet call → frozen decoder, the LR reflect-padded to the
networks' multiple and the output cropped back (:func:`tasks.superres.evaluate.run_padded`).

The model file holds the UNet only; the frozen autoencoder (``--autoencoder``) and the scale (``--scale``) default
to the pipeline's: ``autoencoder/model.pt`` and ``prepare/dataset/manifest.json``'s ``scale`` in the nearest folder
above the model (``data/superres/``'s layout).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from common.predict import Predictor, find_beside, output_path, predict_main, same_size_groups

OPTIONS = (
    ("--scale", {"type": int, "default": None,
                 "help": "upscaling factor (default: the scale of the dataset the model was trained on, "
                         "prepare/dataset/manifest.json above --model)"}),
    ("--autoencoder", {"type": Path, "default": None,
                       "help": "the autoencoder model file the generator encodes / decodes with (default: "
                               "autoencoder/model.pt in a folder above --model, as the pipeline writes it)"}),
)


def _load(path: Path) -> dict:
    from tasks.superres.module import _load as load_file

    load_file(path, "onestep")  # another kind (the multi-step UNet, the autoencoder …) is refused here, named
    return {"path": Path(path), "sr": None}


def _model(model: dict, args: argparse.Namespace):
    """The generator, its scale and the LR multiple it pads to; built on the first batch (options known then)."""
    if model["sr"] is None:
        from tasks.superres.module import dataset_scale, load_codec, load_onestep, onestep_scale

        scale = args.scale or onestep_scale(model["path"])  # a mismatch with the file's own scale is refused
        if scale is None:
            manifest = find_beside(model["path"], "prepare/dataset/manifest.json")
            if manifest is None:
                raise SystemExit(f"--model {model['path']}: no prepare/dataset/manifest.json above it to read the "
                                 "scale from: pass --scale")
            scale = dataset_scale(manifest.parent)
        if scale < 2:
            raise SystemExit(f"--scale {scale}: must be at least 2")
        ae = args.autoencoder or find_beside(model["path"], "autoencoder/model.pt")
        if ae is None:
            raise SystemExit(f"--model {model['path']}: no autoencoder/model.pt above it: pass --autoencoder")
        sr = load_onestep(model["path"], load_codec(ae), scale).eval()
        # the HR side must be a multiple of the autoencoder's factor × the UNet's downsamplings: LR pads to
        # the smallest multiple k with k × scale divisible by it (evaluate's default 2 for the shipped sizes)
        hr_multiple = 2 ** (len(sr.codec.ae.config.block_out_channels) - 1) * \
            2 ** (len(sr.unet.config.block_out_channels) - 1)
        model.update(sr=sr, scale=scale, multiple=hr_multiple // math.gcd(hr_multiple, scale), autoencoder=str(ae))
    return model["sr"], model["scale"], model["multiple"]


def _predict(model: dict, paths: list[Path], args: argparse.Namespace) -> list:
    import numpy as np
    import torch

    from tasks.superres.data import read_rgb
    from tasks.superres.evaluate import run_padded
    from tasks.superres.module import to_tensor

    sr, scale, multiple = _model(model, args)
    images = [read_rgb(p) for p in paths]
    out: list = [None] * len(paths)
    for idx in same_size_groups(paths, images, multiple):  # one forward pass per image size
        y = run_padded(sr, torch.stack([to_tensor(images[i]) for i in idx]), scale, multiple)
        for i, img in zip(idx, y.clamp(0, 1)):
            out[i] = {"image": np.round(img.permute(1, 2, 0).numpy() * 255).astype(np.uint8), "scale": scale,
                      "input": list(images[i].shape[1::-1])}
    return out


def _write(result: dict, image: Path, out: Path, args: argparse.Namespace) -> dict:
    from PIL import Image

    png = output_path(out, image, args.images, ".png")
    Image.fromarray(result["image"]).save(png)  # (H, W, 3) uint8 → RGB
    h, w = result["image"].shape[:2]
    return {"sr": png.relative_to(out).as_posix(), "width": w, "height": h, "input_width": result["input"][0],
            "input_height": result["input"][1], "scale": result["scale"]}


PREDICTOR = Predictor(load=_load, predict=_predict, write=_write, options=OPTIONS, batch_size=4,
                      describe="<name>.png (the super-resolved RGB image, scale × the input's size)")


def main(argv=None) -> dict:
    return predict_main("superres", PREDICTOR, argv)
