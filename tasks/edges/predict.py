"""``python -m tasks.edges predict --model M --images DIR --out DIR``: edge maps for a folder of images.

For each image: ``<name>.png``, the edge probability map as an 8-bit greyscale PNG (0..255 = p × 255) of the
image's size, and its size in ``predictions.json``. The model file decides the inference path, the one the
``evaluate`` stage times and exports:

* a DiffusionEdge UNet (``train/diffusion/<variant>/model.pt``, kind ``unet``): the sampler with ``--steps`` steps
  (default: ``main_steps`` of the ``sample`` section of ``tasks/edges/params.yaml``, the report's headline row) and
  the frozen autoencoder's decoder (``--autoencoder``, default: ``autoencoder/model.pt`` in the pipeline's train
  folder above the model), deterministic (posterior means, fixed start noise: a map depends only on its image). The
  sampler runs one image at a time: its start noise is drawn for the whole batch from one seeded generator, so in a
  batch an image's noise would depend on its place and on ``--batch-size``;
* the RCF baseline (``train/baseline/model.pt``, kind ``rcf``): its fused output.

The sampler reflect-pads an image to the UNet's multiple and crops the map back to the image's size.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.predict import Predictor, find_beside, output_path, predict_main, same_size_groups

OPTIONS = (
    ("--steps", {"type": int, "default": None,
                 "help": "DiffusionEdge sampling steps (default: sample.main_steps of tasks/edges/params.yaml)"}),
    ("--autoencoder", {"type": Path, "default": None,
                       "help": "the autoencoder model file a DiffusionEdge model decodes with (default: "
                               "autoencoder/model.pt in a folder above --model, as the pipeline writes it)"}),
)


def _load(path: Path) -> dict:
    from tasks.edges.module import _load as load_file
    from tasks.edges.module import load_rcf, load_unet

    kind = load_file(path, ("unet", "rcf"))["kind"]  # an autoencoder file is refused, naming the kinds expected
    net = load_unet(path) if kind == "unet" else load_rcf(path)
    return {"kind": kind, "path": Path(path), "net": net, "run": None}


def _runner(model: dict, args: argparse.Namespace):
    """image batch (B, 3, H, W) in [0, 1] → (B, 1, H, W) probabilities, and the smallest side it takes;
    built on the first batch (the options are known then)."""
    if model["run"] is None:
        if model["kind"] == "rcf":
            model["run"], model["multiple"] = model["net"].predict, 1
        else:
            from tasks.edges.models import EdgeSampler
            from tasks.edges.module import load_codec

            ae = args.autoencoder or find_beside(model["path"], "autoencoder/model.pt")
            if ae is None:
                raise SystemExit(f"--model {model['path']}: a DiffusionEdge model needs its autoencoder; none found "
                                 "as autoencoder/model.pt in a folder above it: pass --autoencoder")
            steps = args.steps if args.steps is not None else _main_steps()
            if steps < 1:
                raise SystemExit(f"--steps {steps}: must be at least 1")
            sampler = EdgeSampler(model["net"], load_codec(ae), steps, stochastic=False).eval()
            model["run"], model["multiple"] = sampler, sampler.multiple
            model["autoencoder"], model["steps"] = str(ae), steps
    return model["run"], model["multiple"]


def _main_steps() -> int:
    from common.stage import StageId, load_params
    from tasks.edges.sample import Params as SampleParams

    try:
        return load_params(SampleParams, StageId("edges", "sample")).main_steps
    except Exception as e:  # run outside the repository, or its params.yaml does not validate
        raise SystemExit(f"no --steps given and tasks/edges/params.yaml's sample.main_steps unreadable "
                         f"({type(e).__name__}: {e}): pass --steps") from None


def _predict(model: dict, paths: list[Path], args: argparse.Namespace) -> list:
    import numpy as np
    import torch

    from tasks.edges.data import read_image
    from tasks.edges.module import to_tensor

    run, multiple = _runner(model, args)
    images = [read_image(p) for p in paths]
    out: list = [None] * len(paths)
    # RCF: one forward pass per image size; the sampler: one per image (see above)
    for idx in same_size_groups(paths, images, multiple, one_each=model["kind"] != "rcf"):
        prob = run(torch.stack([to_tensor(images[i]) for i in idx]))
        for i, p in zip(idx, prob):
            out[i] = {"map": np.round(p[0].clamp(0, 1).numpy() * 255).astype(np.uint8), "kind": model["kind"],
                      "steps": model.get("steps")}
    return out


def _write(result: dict, image: Path, out: Path, args: argparse.Namespace) -> dict:
    from PIL import Image

    png = output_path(out, image, args.images, ".png")
    Image.fromarray(result["map"]).save(png)  # (H, W) uint8 → 8-bit greyscale
    h, w = result["map"].shape
    entry = {"edges": png.relative_to(out).as_posix(), "width": w, "height": h, "model_kind": result["kind"]}
    if result["steps"] is not None:
        entry["steps"] = result["steps"]
    return entry


PREDICTOR = Predictor(load=_load, predict=_predict, write=_write, options=OPTIONS,
                      describe="<name>.png (edge probability, 8-bit greyscale, the image's size)")


def main(argv=None) -> dict:
    return predict_main("edges", PREDICTOR, argv)
