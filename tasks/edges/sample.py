"""Stage ``sample``: edge maps of the validation images from every trained model, written to
``data/edges/sample/<name>.npz`` (``pred`` (N, H, W) float16 probabilities in [0, 1], ``names``) with
``index.json`` (model, steps, seconds per image).

* ``diffusionedge@<n>`` for every n in ``steps`` (the paper: 1–5 steps; the reference sampler with its
  noise, seeded per batch), and each ablation variant at ``main_steps``;
* ``rcf`` — the CNN baseline's fused output;
* ``autoencoder`` — the ground truth (annotator fractions) encoded and decoded by the frozen first stage: the
  ceiling of every latent model (what DiffusionEdge would score if it predicted the latent perfectly).

Canny needs no training and is computed by ``evaluate`` from the images.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import model_validator

from common.stage import Field, StageParams, main

if TYPE_CHECKING:  # annotations only: the heavy modules load inside the functions
    import numpy as np

TRAIN = Path("data/edges/train")
DATA = "data/edges/prepare/dataset"


class Params(StageParams):
    steps: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, description="sampling step counts of diffusionedge (the paper: 1–5)")
    main_steps: int = Field(1, ge=1, description="the step count of the ablation variants and of the report's "
                                                 "headline row (one of steps)")
    batch_size: int = Field(8, ge=1, description="images per sampler call")

    @model_validator(mode="after")
    def _check(self):
        if self.main_steps not in self.steps:
            raise ValueError(f"main_steps ({self.main_steps}) must be one of steps {self.steps}")
        return self


def predict(fn, images: np.ndarray | list, batch_size: int) -> tuple[np.ndarray | list, float]:
    """Run ``fn`` (tensor (B, 3, H, W) → (B, 1, H, W)) over images; (maps, seconds per image)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from tasks.edges.module import to_tensor

    same = isinstance(images, np.ndarray)
    out, t0 = [], time.perf_counter()
    step = batch_size if same else 1
    with torch.no_grad():
        for i in tqdm(range(0, len(images), step), desc="predict", unit="batch", mininterval=5, leave=False):
            x = torch.stack([to_tensor(im) for im in images[i:i + step]])
            out += [p[0].numpy() for p in fn(x, i)]
    sec = (time.perf_counter() - t0) / max(len(images), 1)
    return (np.stack(out) if same else out), sec


def models(params: Params, codec, train_dir: Path = TRAIN) -> dict:
    """name → (callable(x, batch_index), steps, variant) for every model to sample (``codec``: the frozen
    first stage they decode with)."""
    from tasks.edges.models import EdgeSampler
    from tasks.edges.module import load_rcf, load_unet

    out = {}
    variants = sorted(p.name for p in (train_dir / "diffusion").iterdir() if (p / "model.pt").is_file())
    if "diffusionedge" not in variants:
        raise FileNotFoundError(f"{train_dir / 'diffusion' / 'diffusionedge' / 'model.pt'}: not found (run train_diffusion)")
    for v in variants:
        unet = load_unet(train_dir / "diffusion" / v / "model.pt")
        for n in (params.steps if v == "diffusionedge" else [params.main_steps]):
            def fn(x, i, unet=unet, n=n):
                return EdgeSampler(unet, codec, n, seed=i, stochastic=True)(x)
            out[f"{v}@{n}"] = (fn, n, v)
    rcf = load_rcf(train_dir / "baseline" / "model.pt")
    out["rcf"] = (lambda x, i: rcf.predict(x), None, "rcf")
    return out


def autoencoder_ceiling(codec, labels: list[np.ndarray]) -> list[np.ndarray]:
    """Soft ground truth → latent (posterior mode) → edge map, per image."""
    import torch

    out = []
    with torch.no_grad():
        for lab in labels:
            h, w = lab.shape
            x = torch.from_numpy(lab)[None, None].float()
            ph, pw = -h % codec.factor, -w % codec.factor
            if ph or pw:
                x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
            out.append(codec.decode(codec.encode(x, sample=False))[0, 0, :h, :w].numpy())
    return out


def run(params: Params, out_dir: Path, data_dir: str = DATA, train_dir: Path = TRAIN) -> dict:
    import numpy as np
    import torch

    from common.io import atomic_dir, atomic_write_json
    from tasks.edges.data import soft_label
    from tasks.edges.module import load_codec, load_split

    torch.manual_seed(params.seed)
    names, images, bounds = load_split(data_dir, "val")
    index = {}
    with atomic_dir(out_dir) as tmp:
        codec = load_codec(Path(train_dir) / "autoencoder" / "model.pt")
        todo = models(params, codec, Path(train_dir))
        todo["autoencoder"] = (None, None, "autoencoder")
        for name, (fn, steps, variant) in todo.items():
            if fn is None:
                t0 = time.perf_counter()
                maps = autoencoder_ceiling(codec, [soft_label(b) for b in bounds])
                sec = (time.perf_counter() - t0) / len(maps)
            else:
                maps, sec = predict(fn, images, params.batch_size)
            arr = np.stack(maps) if isinstance(maps, list) and len({m.shape for m in maps}) == 1 else maps
            if isinstance(arr, np.ndarray):
                np.savez_compressed(tmp / f"{name}.npz", pred=arr.astype(np.float16), names=np.array(names))
            else:  # differently sized images: one array per image
                np.savez_compressed(tmp / f"{name}.npz", names=np.array(names),
                                    **{f"pred_{i}": m.astype(np.float16) for i, m in enumerate(arr)})
            index[name] = {"file": f"{name}.npz", "steps": steps, "variant": variant, "seconds_per_image": sec,
                           "threads": torch.get_num_threads()}
            print(f"{name}: {sec * 1000:.1f} ms / image")
        atomic_write_json(tmp / "index.json", index)
    return index


def load_predictions(sample_dir: str | Path, name: str) -> list[np.ndarray]:
    """The maps a ``sample`` output holds for model ``name``, one (H, W) float32 array per image."""
    import numpy as np

    path = Path(sample_dir) / f"{name}.npz"
    with np.load(path) as z:
        if "pred" in z:
            return [m.astype(np.float32) for m in z["pred"]]
        return [z[f"pred_{i}"].astype(np.float32) for i in range(len(z["names"]))]


if __name__ == "__main__":
    main(__spec__.name, Params, run)
