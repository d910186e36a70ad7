"""Stage ``prepare``: write HR / LR pairs to ``data/superres/prepare/dataset/{train,val}/{hr,lr}/`` and
``manifest.json`` (source of every item, scale, sizes).

``source: synthetic`` (tiny/smoke): HR crops of scikit-image's real photos (validation from photos held out
of training) and procedural textures, LR by the Real-ESRGAN-style degradation (:mod:`tasks.superres.data`).
``source: folders`` (full): real data — ``{split: {hr, lr}}`` paired folders (DIV2K, RealSR, DRealSR
naming) or ``{split: {hr}}`` HR-only folders degraded by the same pipeline, under ``raw_dir``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params


def _save(path: Path, img) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def run(params: dict, out: str | Path) -> dict:
    import numpy as np
    from tqdm import tqdm

    from tasks.superres.data import Degradation, degrade, hr_only_folder, pair_folders, read_rgb, synthetic_pair
    from common.data.synthetic import item_rng

    scale = params.get("scale", 4)
    d = Degradation(scale=scale)
    manifest = {"scale": scale, "source": params["source"], "splits": {}}
    with atomic_dir(out) as tmp:
        root = tmp / "dataset"
        for split in ("train", "val"):
            items = []
            if params["source"] == "synthetic":
                for i in tqdm(range(params[f"{split}_images"]), desc=f"{split} pairs", unit="img", mininterval=2):
                    hr, lr, src = synthetic_pair(params["seed"], i, split, params["hr_size"], params["texture_frac"], d)
                    _save(root / split / "hr" / f"{i:05d}.png", hr)
                    _save(root / split / "lr" / f"{i:05d}.png", lr)
                    items.append({"name": f"{i:05d}", "source": src})
            elif params["source"] == "folders":
                spec = params["splits"][split]
                raw = Path(params["raw_dir"])
                if "lr" in spec:
                    pairs = pair_folders(raw / spec["hr"], raw / spec["lr"], scale)
                    for hr_p, lr_p in tqdm(pairs, desc=f"{split} pairs", unit="img"):
                        lr = read_rgb(lr_p)  # HR cropped to exactly scale × LR (RealSR's differ by < scale px)
                        hr = read_rgb(hr_p)[: lr.shape[0] * scale, : lr.shape[1] * scale]
                        _save(root / split / "hr" / f"{hr_p.stem}.png", np.ascontiguousarray(hr))
                        _save(root / split / "lr" / f"{hr_p.stem}.png", lr)
                        items.append({"name": hr_p.stem, "source": str(hr_p)})
                else:
                    for i, hr_p in enumerate(tqdm(hr_only_folder(raw / spec["hr"]), desc=f"{split} degrade", unit="img")):
                        hr = read_rgb(hr_p)
                        h, w = (s - s % scale for s in hr.shape[:2])
                        hr = hr[:h, :w].copy()
                        _save(root / split / "hr" / f"{hr_p.stem}.png", hr)
                        _save(root / split / "lr" / f"{hr_p.stem}.png", degrade(hr, item_rng(params["seed"], i, 12), d))
                        items.append({"name": hr_p.stem, "source": str(hr_p)})
            else:
                raise SystemExit(f"unknown prepare source {params['source']!r}; expected 'synthetic' or 'folders'")
            manifest["splits"][split] = items
        atomic_write_json(root / "manifest.json", manifest)
    print({s: len(v) for s, v in manifest["splits"].items()})
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.superres.prepare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/superres/prepare")
    args = ap.parse_args(argv)
    run(stage_params("superres", "prepare"), args.out)


if __name__ == "__main__":
    main()
