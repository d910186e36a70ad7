"""Stage ``evaluate``: every SR model on the whole validation images — quality, size and CPU latency —
and the visual comparison image.

Rows: ``bicubic`` (the floor), ``multistep-<K>`` (the multi-step latent diffusion model, DDIM with K steps,
fixed noise seed), ``one_step_kd`` (one-step distilled from it), ``d3sr`` and its ablations (the
``one_step`` variants), ``autoencoder`` (HR → latent → HR: the ceiling every latent model shares) and
``autoencoder_bicubic`` (bicubic LR → latent → image: where the one-step generators start).

Quality (inputs in [0, 1], against HR): PSNR on luminance and SSIM (piq); ``dists`` — the DISTS formula on
our feature network (lower = closer); ``edge_dists`` — the same on Sobel maps; ``edge_l1`` — mean
|Sobel(x̂) − Sobel(x)| (edge fidelity without any learnt network). LPIPS needs ImageNet-pretrained
AlexNet/VGG weights, which cannot be had offline: not measured.

Latency (batch 1, LR ``latency_lr_size``², ``threads`` CPU threads, median of ``runs``): PyTorch eager
and onnxruntime on the exported graphs; the multi-step model is its encoder + K UNet calls driven by
diffusers' DDIM scheduler + decoder. The scale is the dataset's (``prepare``'s manifest). Writes
``data/superres/evaluate/{results.json, comparison.png}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from common.stage import Field, StageParams, main

if TYPE_CHECKING:  # annotations only: the heavy modules load inside the functions
    import numpy as np
    import torch

TRAIN = Path("data/superres/train")
DATA = "data/superres/prepare/dataset"
EXPORT = "data/superres/export"


class Params(StageParams):
    steps: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, description="DDIM step counts of the multi-step model (a row each; the largest is pictured)")
    threads: int = Field(1, ge=1, description="CPU threads of PyTorch and onnxruntime while timing (quality uses all)")
    latency_lr_size: int = Field(32, ge=4, description="LR side of the latency input (batch 1)")
    warmup: int = Field(3, ge=0, description="untimed runs before timing")
    runs: int = Field(10, ge=1, description="timed runs (the median is reported)")
    batch_size: int = Field(8, ge=1, description="images per call while scoring quality")
    max_images: int | None = Field(None, ge=1, description="score only the first validation images (null: all)")
    comparison_images: list[Annotated[int, Field(ge=0)]] = Field(
        [0, 1, 2], description="indices of the validation images in the comparison picture (missing ones skipped)")
    comparison_crop: int = Field(64, ge=1, description="side of the HR window shown per image")


def quality(sr: torch.Tensor, hr: torch.Tensor, dists) -> dict[str, np.ndarray]:
    """Per-image metrics of a batch (N, 3, H, W) in [0, 1]."""
    import piq

    from tasks.superres.losses import sobel
    from tasks.superres.module import psnr

    sr = sr.clamp(0, 1)
    return {"psnr": psnr(sr, hr).numpy(),
            "ssim": piq.ssim(sr, hr, data_range=1.0, reduction="none").numpy(),
            "dists": dists.distance(sr, hr).numpy(),
            "edge_dists": dists.edge_distance(sr, hr).numpy(),
            "edge_l1": (sobel(sr) - sobel(hr)).abs().mean((1, 2, 3)).numpy()}


def run_padded(model, lr: torch.Tensor, scale: int, multiple: int = 2) -> torch.Tensor:
    """SR of an LR image of any size: reflect-pad to a multiple of ``multiple`` LR pixels (the UNet halves the
    latent twice; the latent is 2× the LR), run, crop the padding off the output."""
    import torch

    h, w = lr.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        lr = torch.nn.functional.pad(lr, (0, pw, 0, ph), mode="reflect")
    return model(lr)[..., : h * scale, : w * scale]


def _session(path: str, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


class OnnxMultiStep:
    """The exported multi-step model: encoder graph, K calls of the UNet graph under diffusers' DDIM
    scheduler (the same schedule as PyTorch), decoder graph."""

    def __init__(self, parts: dict, threads: int, steps: int, seed: int = 0):
        self.enc = _session(parts["encoder"]["onnx"], threads)
        self.unet = _session(parts["unet"]["onnx"], threads)
        self.dec = _session(parts["decoder"]["onnx"], threads)
        self.steps, self.seed = steps, seed

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        import numpy as np
        import torch

        from tasks.superres.models import build_scheduler

        z_lr = self.enc.run(None, {"lr": lr})[0]
        sched = build_scheduler("ddim")
        sched.set_timesteps(self.steps)
        z = torch.randn(z_lr.shape, generator=torch.Generator().manual_seed(self.seed))
        for t in sched.timesteps:
            eps = self.unet.run(None, {"z": z.numpy(), "z_lr": z_lr, "t": np.full((z.shape[0],), int(t), np.int64)})[0]
            z = sched.step(torch.from_numpy(eps), t, z).prev_sample
        return self.dec.run(None, {"z": z.numpy()})[0]


def comparison_image(rows: list[dict], columns: list[str]) -> bytes:
    """A grid: one row per validation image (a window of the HR frame, labelled), one column per method."""
    from common.reports.grid import image_grid

    return image_grid(rows, columns, row_labels=[r["label"] for r in rows], cell=(1.6, 1.75))


def run(params: Params, out_dir: Path, data_dir: str = DATA, export_dir: str = EXPORT) -> dict:
    import numpy as np
    import torch
    from tqdm import tqdm

    from common.evaluate.profile import hardware
    from common.evaluate.torch_latency import median_latency_ms
    from common.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_json
    from tasks.superres import models as M
    from tasks.superres.export import one_step_models
    from tasks.superres.losses import DISTS
    from tasks.superres.models import Bicubic
    from tasks.superres.module import (dataset_scale, load_codec, load_features, load_onestep, load_split, load_unet,
                                       to_tensor)

    torch.manual_seed(0)
    threads = params.threads  # latency threads; quality runs on every core
    scale = dataset_scale(data_dir)
    hr_all, lr_all, sources = load_split(data_dir, "val")
    n = min(params.max_images or len(hr_all), len(hr_all))
    codec = load_codec(TRAIN / "autoencoder" / "model.pt")
    unet, _ = load_unet(TRAIN / "diffusion" / "model.pt")
    dists = DISTS(load_features(TRAIN / "features" / "model.pt"))
    exported = read_json(Path(export_dir) / "export.json")["models"]

    models: dict[str, torch.nn.Module] = {"bicubic": Bicubic(scale)}
    for k in params.steps:
        models[f"multistep-{k}"] = M.MultiStepSR(codec, unet, scale, steps=int(k), seed=0)
    for name, path in one_step_models().items():
        models[name] = load_onestep(path, codec, scale)
    ae_params, unet_params = M.count_params(codec), M.count_params(unet)

    results: dict[str, dict] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    bs = params.batch_size
    def score(fn) -> tuple[dict[str, float], list[np.ndarray]]:
        """Mean quality of ``fn(lr, hr) → image`` over the validation images, and its outputs (H, W, 3)."""
        per: dict[str, list] = {}
        outs = []
        for i in range(0, n, bs):
            lr = torch.stack([to_tensor(a) for a in lr_all[i:i + bs]])
            hr = torch.stack([to_tensor(a) for a in hr_all[i:i + bs]])
            with torch.no_grad():
                sr = fn(lr, hr)
            for k, v in quality(sr, hr, dists).items():
                per.setdefault(k, []).extend(v.tolist())
            outs += [o.permute(1, 2, 0).numpy() for o in sr.clamp(0, 1)]
        return {k: float(np.mean(v)) for k, v in per.items()}, outs

    for name, model in tqdm(list(models.items()), desc="quality", unit="model"):
        results[name], outputs[name] = score(lambda lr, hr, m=model: run_padded(m, lr, scale))
        results[name]["params"] = 0 if name == "bicubic" else ae_params + unet_params
    # the latent space's ceiling: HR encoded and decoded by the frozen autoencoder
    results["autoencoder"] = {**score(lambda lr, hr: codec.decode(codec.encode(hr)))[0], "params": ae_params}
    # where every one-step generator starts: the bicubic-upsampled LR encoded and decoded, no UNet
    start_point = score(lambda lr, hr: run_padded(lambda x: codec.decode(codec.encode_lr(x, scale)), lr, scale))[0]
    results["autoencoder_bicubic"] = {**start_point, "params": ae_params}

    # latency: PyTorch eager and onnxruntime, batch 1, the same LR size and thread count for every model
    torch.set_num_threads(threads)
    s = params.latency_lr_size
    x = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    x_np = x.numpy()
    warmup, runs = params.warmup, params.runs
    for name, model in tqdm(list(models.items()), desc="latency", unit="model"):
        heavy = name.startswith("multistep-") and int(name.split("-")[1]) > 10
        r = max(3, runs // 3) if heavy else runs
        w = 1 if heavy else warmup
        results[name]["latency_ms_torch"] = median_latency_ms(lambda m=model: m(x), w, r, threads)
        if name in exported and name != "multistep":
            sess = _session(exported[name]["onnx"], threads)
            results[name]["latency_ms_onnx"] = median_latency_ms(lambda s_=sess: s_.run(None, {"lr": x_np})[0], w, r)
        elif name.startswith("multistep-"):
            fn = OnnxMultiStep(exported["multistep"]["parts"], threads, int(name.split("-")[1]))
            results[name]["latency_ms_onnx"] = median_latency_ms(lambda f=fn: f(x_np), w, r)
        else:  # an ablation of D^3SR: the same deployed graph (see export.py)
            results[name]["latency_ms_onnx"] = None
        # the deployed latency (the paper's "s / image"): ONNX where the model has its own graph
        results[name]["latency_s"] = (results[name]["latency_ms_onnx"] or results[name]["latency_ms_torch"]) / 1e3

    # the visual comparison: a window of a few validation images, each method side by side
    pick = [i for i in params.comparison_images if i < n]
    crop = min(params.comparison_crop, hr_all[0].shape[0])
    cols = ["LR", "bicubic", f"multistep-{max(params.steps)}", "one_step_kd", "d3sr", "HR"]
    rows = []
    for i in pick:
        h, w = hr_all[i].shape[:2]
        y, x0 = (h - crop) // 2, (w - crop) // 2
        win = (slice(y, y + crop), slice(x0, x0 + crop))
        lr_win = lr_all[i][y // scale:(y + crop) // scale, x0 // scale:(x0 + crop) // scale]
        row = {"label": f"val {i} ({sources[i]})", "LR": lr_win, "HR": hr_all[i][win]}
        for c in cols[1:-1]:
            row[c] = outputs[c][i][win]
        rows.append(row)

    doc = {"scale": scale, "images": n, "comparison_crop": crop, "val_sources": sorted(set(sources[:n])), "threads": threads,
           "latency_lr_size": s, "latency_hr_size": s * scale, "steps": list(params.steps),
           "deployed_one_step": "d3sr", "hardware": hardware(), "models": results,
           "train": {p.parent.name: read_json(p) for p in sorted(TRAIN.glob("**/metrics.json"))},
           "lpips": "not available offline (needs ImageNet-pretrained AlexNet/VGG weights)"}
    with atomic_dir(out_dir) as tmp:
        atomic_write_bytes(tmp / "comparison.png", comparison_image(rows, cols))
        atomic_write_json(tmp / "results.json", doc)
    for name, r in results.items():
        print(f"{name:14s} PSNR {r['psnr']:.2f}  SSIM {r['ssim']:.3f}  DISTS {r['dists']:.4f}  edge L1 {r['edge_l1']:.4f}"
              f"  torch {r.get('latency_ms_torch', float('nan')):.1f} ms  onnx {r.get('latency_ms_onnx') or float('nan'):.1f} ms")
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
