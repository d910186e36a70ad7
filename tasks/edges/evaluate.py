"""Stage ``evaluate``: every edge detector on the validation images — BSDS-protocol scores (pyEdgeEval),
crispness, size and CPU latency — and the comparison picture.

Rows: ``canny`` (OpenCV, the classical peer; binary maps), ``rcf`` (the CNN baseline), ``diffusionedge@<n>``
(n sampling steps) and the ablations ``no_aff@<n>`` / ``no_ud@<n>`` from the ``sample`` stage.

Scores (``tasks.edges.metrics``): ODS / OIS / AP with NMS + thinning (``standard``) and without any
post-processing (``crisp``), ``thresholds`` evenly spaced levels (pyEdgeEval's convention; BSDS uses 99,
smoke fewer for time), matching distance ``max_dist`` × the image diagonal (BSDS: 0.0075); AC = average
crispness. Latency (batch 1, ``threads`` CPU threads, median of ``runs``): PyTorch eager for every model and
onnxruntime for every exported model (RCF; each DiffusionEdge variant and step count as one graph: the sampler
unrolled + decoder, with a fixed start noise). The headline row is ``diffusionedge@<main_steps>``, ``main_steps``
read from the ``sample`` section. Writes ``data/edges/evaluate/{results.json, comparison.png, pr.png}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from common.stage import Field, StageId, StageParams, load_params, main

TRAIN = Path("data/edges/train")
DATA = "data/edges/prepare/dataset"
SAMPLE = "data/edges/sample"


class CannyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = Field(50, ge=0, description="hysteresis low threshold")
    high: float = Field(150, ge=0, description="hysteresis high threshold")
    blur: float = Field(1.0, ge=0, description="Gaussian σ before Canny (0 = none)")


class Params(StageParams):
    thresholds: int = Field(99, ge=1, description="evenly spaced probability levels of the ODS / OIS / AP sweep")
    max_dist: float = Field(0.0075, gt=0, lt=1, description="matching distance as a fraction of the image diagonal")
    nproc: int = Field(1, ge=1, description="processes of pyEdgeEval")
    canny: CannyParams = Field(default_factory=CannyParams, description="the classical peer's settings")
    warmup: int = Field(3, ge=0, description="untimed runs before timing")
    runs: int = Field(10, ge=1, description="timed runs (the median is reported)")
    threads: int = Field(1, ge=1, description="CPU threads of PyTorch and onnxruntime while timing")
    opset: int = Field(17, ge=11, description="ONNX opset of the exported models")
    atol: float = Field(1e-3, gt=0, description="largest |ONNX − PyTorch| accepted")
    figure_images: list[Annotated[int, Field(ge=0)]] = Field(
        [0, 1, 2, 3], description="indices of the validation images in the comparison picture (missing ones skipped)")


def comparison_image(rows: list[dict], columns: list[str]) -> bytes:
    """A grid: one row per validation image, one column per map (image, GT, detectors)."""
    from common.reports.grid import image_grid

    return image_grid(rows, columns, cell=(1.6, 1.7))


def run(params: Params, out_dir: Path, data_dir: str = DATA, sample_dir: str | Path = SAMPLE,
        train_dir: Path = TRAIN) -> dict:
    import numpy as np
    import torch
    from tqdm import tqdm

    from common.evaluate.profile import hardware, onnx_latency
    from common.evaluate.torch_latency import median_latency_ms
    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_json
    from common.reports.render import line_plot
    from tasks.edges.data import soft_label
    from tasks.edges.metrics import average_crispness, boundary_scores
    from tasks.edges.models import EdgeSampler, FixedNoiseSampler, RCFPredict, canny, count_params
    from tasks.edges.module import load_codec, load_rcf, load_split, load_unet, read_metrics, to_tensor
    from tasks.edges.sample import Params as SampleParams
    from tasks.edges.sample import load_predictions

    main_steps = load_params(SampleParams, StageId("edges", "sample")).main_steps
    torch.manual_seed(0)
    train_dir, sample_dir = Path(train_dir), Path(sample_dir)
    names, images, bounds = load_split(data_dir, "val")
    index = read_json(sample_dir / "index.json")
    c = params.canny
    preds = {"canny": [canny(im, c.low, c.high, c.blur) for im in images]}
    for name in index:
        preds[name] = load_predictions(sample_dir, name)
    rows: dict[str, dict] = {}
    for name, maps in tqdm(preds.items(), desc="score", unit="model"):
        rec = {"standard": boundary_scores(maps, bounds, params.thresholds, params.max_dist, True, params.nproc),
               "crisp": boundary_scores(maps, bounds, params.thresholds, params.max_dist, False, params.nproc)}
        rec.update(average_crispness(maps))
        rec.update({k: index[name][k] for k in ("steps", "variant", "seconds_per_image")} if name in index
                   else {"steps": None, "variant": "canny"})
        rows[name] = rec
        print(f"{name}: ODS {rec['standard']['ods']:.3f} / crisp ODS {rec['crisp']['ods']:.3f} / AC {rec['ac']:.3f}")

    # size and latency (batch 1, one image of the validation size)
    threads = params.threads
    torch.set_num_threads(threads)
    x = to_tensor(images[0])[None]
    codec = load_codec(train_dir / "autoencoder" / "model.pt")
    rcf = load_rcf(train_dir / "baseline" / "model.pt")
    unets = {v: load_unet(train_dir / "diffusion" / v / "model.pt") for v in {r["variant"] for r in rows.values()}
             if v not in ("canny", "rcf", "autoencoder")}
    with atomic_dir(out_dir) as tmp:
        im0 = images[0]
        rows["canny"]["latency_ms"] = {"torch": median_latency_ms(lambda: canny(im0, c.low, c.high, c.blur),
                                                                  params.warmup, params.runs)}
        rows["canny"]["params"] = 0
        for name, rec in rows.items():
            if name == "canny" or rec["variant"] == "autoencoder":  # the ceiling reads the ground truth: no detector
                continue
            if rec["variant"] == "rcf":
                model = RCFPredict(rcf).eval()
                rec["params"] = count_params(rcf)
            else:
                model = EdgeSampler(unets[rec["variant"]], codec, rec["steps"], stochastic=False).eval()
                rec["params"] = count_params(unets[rec["variant"]]) + count_params(codec.ae.decoder) + \
                    count_params(codec.ae.post_quant_conv)
            rec["latency_ms"] = {"torch": median_latency_ms(lambda: model(x), params.warmup, params.runs)}
            onnx_model = model if rec["variant"] == "rcf" else FixedNoiseSampler(model, tuple(x.shape)).eval()
            try:
                info = export_onnx(onnx_model, x, tmp / f"{name.replace('@', '_')}.onnx", opset=params.opset,
                                   dynamic_batch=False, simplify=False, atol=params.atol)
                lat = onnx_latency(info["onnx"], list(x.shape), (threads,), params.warmup, params.runs)
                rec["latency_ms"]["onnx"] = lat["latency_ms"][str(threads)]["p50"]
                rec["onnx_bytes"] = info["file_bytes"]
                rec["onnx_max_abs_diff"] = info["max_abs_diff"]
            except Exception as e:  # recorded, not hidden: the report says why there is no ONNX number
                rec["onnx_error"] = f"{type(e).__name__}: {e}"
            (tmp / f"{name.replace('@', '_')}.onnx").unlink(missing_ok=True)  # the size is recorded; keep outputs small
        train = {v: read_metrics(train_dir / "diffusion" / v / "metrics.json") for v in unets}
        train["rcf"] = read_metrics(train_dir / "baseline" / "metrics.json")
        train["autoencoder"] = read_metrics(train_dir / "autoencoder" / "metrics.json")
        # the picture: image / GT / Canny / CNN / DiffusionEdge
        main_row = f"diffusionedge@{main_steps}"
        cols = {"image": None, "ground truth": None, "Canny": "canny", "CNN (RCF)": "rcf", "DiffusionEdge": main_row}
        fig_rows = []
        for i in params.figure_images:
            if i >= len(names):
                continue
            row = {"image": images[i].astype(np.float32) / 255, "ground truth": soft_label(bounds[i])}
            row.update({k: preds[v][i] for k, v in cols.items() if v})
            fig_rows.append(row)
        atomic_write_bytes(tmp / "comparison.png", comparison_image(fig_rows, list(cols)))
        curves = {n: (r["standard"]["pr"]["recall"], r["standard"]["pr"]["precision"]) for n, r in rows.items()
                  if n in ("canny", "rcf", main_row, f"no_aff@{main_steps}", f"no_ud@{main_steps}")}
        atomic_write_bytes(tmp / "pr.png", line_plot(curves, "recall", "precision",
                                                     "Precision–recall, NMS + thinning (pyEdgeEval)"))
        results = {"rows": rows, "train": train, "images": len(names), "thresholds": params.thresholds,
                   "max_dist": params.max_dist, "main": main_row, "hardware": hardware(), "threads": threads,
                   "image_size": list(images[0].shape[:2])}
        atomic_write_json(tmp / "results.json", results)
    return results


if __name__ == "__main__":
    main(__spec__.name, Params, run)
