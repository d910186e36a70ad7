"""Stage ``prepare``: write the edge dataset to ``data/edges/prepare/dataset`` in BSDS500's layout
(``images/{train,val}/<id>.png`` + ``groundTruth/{train,val}/<id>.mat``) with ``manifest.json``.

``source: synthetic`` (tiny/smoke): :func:`tasks.edges.data.synthetic_scene` — region-boundary ground truth
from several jittered annotators. ``source: bsds | nyud | biped`` (full): the real dataset under
``raw_dir``, read by its loader (clear errors for missing or malformed files) and rewritten in the same
layout; ``splits`` maps our ``train`` / ``val`` to the dataset's split names (e.g. BSDS ``train + val`` →
train, ``test`` → val, as DiffusionEdge trains and tests).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.io import atomic_dir, atomic_write_json, stage_params


def run(params: dict, out: str | Path) -> dict:
    from tqdm import tqdm

    from tasks.edges.data import LOADERS, Annotators, read_image, synthetic_scene, write_bsds_item

    manifest = {"source": params["source"], "splits": {}}
    with atomic_dir(out) as tmp:
        root = tmp / "dataset"
        for split in ("train", "val"):
            names = []
            if params["source"] == "synthetic":
                ann = Annotators(**params.get("annotators", {}))
                offset = 0 if split == "train" else 1_000_000  # disjoint item seeds
                for i in tqdm(range(params[f"{split}_images"]), desc=f"{split} scenes", unit="img", mininterval=2):
                    img, segs, bounds = synthetic_scene(params["seed"], offset + i, params["image_size"], ann)
                    write_bsds_item(root, split, f"{i:05d}", img, segs, bounds)
                    names.append(f"{i:05d}")
                manifest["annotators"] = ann.count
            elif params["source"] in LOADERS:
                import numpy as np

                load = LOADERS[params["source"]]
                wanted = params["splits"][split]
                for raw_split in ([wanted] if isinstance(wanted, str) else wanted):
                    for item in tqdm(load(params["raw_dir"], raw_split), desc=f"{split} ← {raw_split}", unit="img"):
                        name = f"{raw_split}_{item.name}"
                        segs = np.zeros(item.boundaries.shape, np.uint16)  # edge-only datasets: no regions
                        write_bsds_item(root, split, name, read_image(item.image), segs, item.boundaries)
                        names.append(name)
            else:
                raise SystemExit(f"unknown prepare source {params['source']!r}; expected 'synthetic' or one of "
                                 f"{sorted(LOADERS)}")
            manifest["splits"][split] = names
        atomic_write_json(root / "manifest.json", manifest)
    print({s: len(v) for s, v in manifest["splits"].items()})
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.edges.prepare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/edges/prepare")
    args = ap.parse_args(argv)
    run(stage_params("edges", "prepare"), args.out)


if __name__ == "__main__":
    main()
