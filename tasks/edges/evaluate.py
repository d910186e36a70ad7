"""Stage ``evaluate``: every edge detector on the validation images — BSDS-protocol scores (pyEdgeEval),
crispness, size and CPU latency — and the comparison picture.

Rows: ``canny`` (OpenCV, the classical peer; binary maps), ``rcf`` (the CNN baseline), ``diffusionedge@<n>``
(n sampling steps) and the ablations ``no_aff@<n>`` / ``no_ud@<n>`` from the ``sample`` stage.

Scores (``tasks.edges.metrics``): ODS / OIS / AP with NMS + thinning (``standard``) and without any
post-processing (``crisp``), ``thresholds`` evenly spaced levels (pyEdgeEval's convention; BSDS uses 99,
smoke fewer for time), matching distance ``max_dist`` × the image diagonal (BSDS: 0.0075); AC = average
crispness. Latency (batch 1, ``threads`` CPU threads, median of ``runs``): PyTorch eager for every model and
onnxruntime for every exported model (RCF; each DiffusionEdge variant and step count as one graph: the sampler
unrolled + decoder, with a fixed start noise). Writes ``data/edges/evaluate/{results.json, comparison.png, pr.png}``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_json, stage_params

TRAIN = Path("data/edges/train")


def median_latency_ms(fn, warmup: int, runs: int) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


class FixedNoiseSampler(torch.nn.Module):
    """The deterministic sampler (posterior means) + decoder with a fixed start noise of one input size: the
    graph exported to ONNX (image → edge map)."""

    def __init__(self, sampler, shape: tuple[int, int, int, int]):
        super().__init__()
        self.sampler = sampler
        f = sampler.codec.factor
        z = torch.randn((1, sampler.unet.config["latent_channels"], shape[2] // f, shape[3] // f),
                        generator=torch.Generator().manual_seed(0))
        self.register_buffer("z", z)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        from tasks.edges.losses import sampling_step, sampling_times, x0_from

        x = self.z.expand(image.shape[0], -1, -1, -1)
        times = sampling_times(self.sampler.steps)
        for t, s in zip(times[:-1], times[1:]):
            tt = torch.full((x.shape[0],), t, dtype=x.dtype)
            c_hat, eps_hat = self.sampler.unet(x, tt, image)
            x = sampling_step(x, x0_from(x, c_hat, eps_hat, tt), eps_hat, t, s)
        return self.sampler.codec.decode(x)


def comparison_image(rows: list[dict], columns: list[str]) -> bytes:
    """A grid: one row per validation image, one column per map (image, GT, detectors)."""
    from common.reports.render import _png, _pyplot  # noqa: PLC2701 (the shared figure helpers)

    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.6 * len(columns), 1.7 * len(rows)), dpi=140,
                             squeeze=False)
    for r, row in enumerate(rows):
        for c, name in enumerate(columns):
            ax = axes[r][c]
            img = row[name]
            ax.imshow(img if img.ndim == 3 else 1 - img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
    return _png(fig)


def run(params: dict, out: str | Path, data_dir: str = "data/edges/prepare/dataset",
        sample_dir: str | Path = "data/edges/sample", train_dir: Path = TRAIN) -> dict:
    from tqdm import tqdm

    from common.evaluate.profile import hardware, onnx_latency
    from common.export.onnx import export_onnx
    from common.reports.render import line_plot
    from tasks.edges.data import soft_label
    from tasks.edges.metrics import average_crispness, boundary_scores
    from tasks.edges.models import EdgeSampler, RCFPredict, canny, count_params
    from tasks.edges.module import load_codec, load_rcf, load_split, load_unet, read_metrics, to_tensor
    from tasks.edges.sample import load_predictions

    torch.manual_seed(0)
    train_dir, sample_dir = Path(train_dir), Path(sample_dir)
    names, images, bounds = load_split(data_dir, "val")
    index = read_json(sample_dir / "index.json")
    c = params["canny"]
    preds = {"canny": [canny(im, c["low"], c["high"], c.get("blur", 1.0)) for im in images]}
    for name in index:
        preds[name] = load_predictions(sample_dir, name)
    rows: dict[str, dict] = {}
    for name, maps in tqdm(preds.items(), desc="score", unit="model"):
        rec = {"standard": boundary_scores(maps, bounds, params["thresholds"], params["max_dist"], True, params["nproc"]),
               "crisp": boundary_scores(maps, bounds, params["thresholds"], params["max_dist"], False, params["nproc"])}
        rec.update(average_crispness(maps))
        rec.update({k: index[name][k] for k in ("steps", "variant", "seconds_per_image")} if name in index
                   else {"steps": None, "variant": "canny"})
        rows[name] = rec
        print(f"{name}: ODS {rec['standard']['ods']:.3f} / crisp ODS {rec['crisp']['ods']:.3f} / AC {rec['ac']:.3f}")

    # size and latency (batch 1, one image of the validation size)
    threads = int(params.get("threads", 1))
    torch.set_num_threads(threads)
    x = to_tensor(images[0])[None]
    codec = load_codec(train_dir / "autoencoder" / "model.pt")
    rcf = load_rcf(train_dir / "baseline" / "model.pt")
    unets = {v: load_unet(train_dir / "diffusion" / v / "model.pt") for v in {r["variant"] for r in rows.values()}
             if v not in ("canny", "rcf", "autoencoder")}
    with atomic_dir(out) as tmp:
        im0 = images[0]
        rows["canny"]["latency_ms"] = {"torch": median_latency_ms(lambda: canny(im0, c["low"], c["high"]), params["warmup"], params["runs"])}
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
            rec["latency_ms"] = {"torch": median_latency_ms(lambda: model(x), params["warmup"], params["runs"])}
            onnx_model = model if rec["variant"] == "rcf" else FixedNoiseSampler(model, tuple(x.shape)).eval()
            try:
                info = export_onnx(onnx_model, x, tmp / f"{name.replace('@', '_')}.onnx", opset=params["opset"],
                                   dynamic_batch=False, simplify=False, atol=params.get("atol", 1e-3))
                lat = onnx_latency(info["onnx"], list(x.shape), (threads,), params["warmup"], params["runs"])
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
        main = f"diffusionedge@{params.get('main_steps', 1)}"
        cols = {"image": None, "ground truth": None, "Canny": "canny", "CNN (RCF)": "rcf", "DiffusionEdge": main}
        fig_rows = []
        for i in params.get("figure_images", [0, 1, 2, 3]):
            if i >= len(names):
                continue
            row = {"image": images[i].astype(np.float32) / 255, "ground truth": soft_label(bounds[i])}
            row.update({k: preds[v][i] for k, v in cols.items() if v})
            fig_rows.append(row)
        atomic_write_bytes(tmp / "comparison.png", comparison_image(fig_rows, list(cols)))
        curves = {n: (r["standard"]["pr"]["recall"], r["standard"]["pr"]["precision"]) for n, r in rows.items()
                  if n in ("canny", "rcf", main, f"no_aff@{params.get('main_steps', 1)}", f"no_ud@{params.get('main_steps', 1)}")}
        atomic_write_bytes(tmp / "pr.png", line_plot(curves, "recall", "precision",
                                                     "Precision–recall, NMS + thinning (pyEdgeEval)"))
        results = {"rows": rows, "train": train, "images": len(names), "thresholds": params["thresholds"],
                   "max_dist": params["max_dist"], "main": main, "hardware": hardware(), "threads": threads,
                   "image_size": list(images[0].shape[:2])}
        atomic_write_json(tmp / "results.json", results)
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.edges.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/edges/evaluate")
    args = ap.parse_args(argv)
    run({**stage_params("edges", "evaluate"), "main_steps": stage_params("edges", "sample").get("main_steps", 1)},
        args.out)


if __name__ == "__main__":
    main()
