"""Stage ``export``: every SR model to ONNX (opset 17, fp32), checked against PyTorch on a validation image.

* D^3SR, the one-step KD baseline and bicubic: one graph ``lr → sr``, LoRA already merged into the UNet
  (``common.export.onnx.export_onnx``; D^3SR's ablations are the same graph with other weights);
* the multi-step model: three graphs — ``encoder`` (lr → LR latent), ``unet`` (one denoising call:
  noisy latent, LR latent, timestep → ε̂) and ``decoder`` (latent → sr) — that the evaluation stage drives
  with diffusers' DDIM scheduler for 50 / 10 / 1 steps.

The scale is the dataset's (``prepare``'s manifest). Writes ``data/superres/export/{<model>.onnx,
multistep_{encoder,unet,decoder}.onnx, export.json}``.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageParams, main

TRAIN = Path("data/superres/train")
DATA = "data/superres/prepare/dataset"
DEPLOYED = "d3sr"  # the one_step variant that is deployed; the others are quality ablations of the same graph


class Params(StageParams):
    atol: float = Field(2e-3, gt=0, description="largest |ONNX − PyTorch| accepted on a validation image")


def export_multi_input(model, inputs: dict, path: Path, atol: float, opset: int = 17) -> dict:
    """ONNX export of a graph (``torch.nn.Module``) with several inputs (name → tensor), checked against PyTorch
    with onnxruntime. (``common.export.onnx.export_onnx`` takes one input tensor; the UNet step takes three.)"""
    import tempfile

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    model.eval()
    names = list(inputs)
    with torch.no_grad():
        ref = model(*inputs.values())
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / path.name
        torch.onnx.export(model, tuple(inputs.values()), str(tmp_path), opset_version=opset, input_names=names,
                          output_names=["output"], dynamic_axes={n: {0: "batch"} for n in [*names, "output"]},
                          dynamo=False, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(str(tmp_path)))
        tmp_path.replace(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {n: v.numpy() for n, v in inputs.items()})[0]
    diff = float(np.abs(out - ref.numpy()).max())
    if not np.isfinite(diff) or diff > atol:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{path}: ONNX output differs from PyTorch by {diff:.3g} > atol {atol}")
    return {"onnx": str(path), "opset": opset, "inputs": {n: list(v.shape) for n, v in inputs.items()},
            "max_abs_diff": diff, "file_bytes": path.stat().st_size}


def one_step_models(train_dir: Path = TRAIN) -> dict[str, Path]:
    """{name: model.pt} of every trained one-step model: the one_step variants, then the KD baseline."""
    out = {p.parent.name: p for p in sorted((train_dir / "one_step").glob("*/model.pt"))}
    if DEPLOYED not in out:
        raise FileNotFoundError(f"{train_dir / 'one_step' / DEPLOYED / 'model.pt'}: not found (run the one_step "
                                f"stage; its variants must include {DEPLOYED!r})")
    out["one_step_kd"] = train_dir / "one_step_kd" / "model.pt"
    return out


def run(params: Params, out_dir: Path, data_dir: str = DATA) -> dict:
    import torch

    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_json
    from tasks.superres.models import Bicubic, LatentDecoder, LREncoder, UNetStep
    from tasks.superres.module import dataset_scale, load_codec, load_onestep, load_split, load_unet, to_tensor

    scale = dataset_scale(data_dir)
    atol = params.atol
    _, lr, _ = load_split(data_dir, "val")
    sample = to_tensor(lr[0])[None]
    codec = load_codec(TRAIN / "autoencoder" / "model.pt")
    doc = {"scale": scale, "sample_lr_shape": list(sample.shape), "models": {}}
    with atomic_dir(out_dir) as tmp, torch.no_grad():
        doc["models"]["bicubic"] = export_onnx(Bicubic(scale), sample, tmp / "bicubic.onnx", input_name="lr",
                                               output_names=["sr"], atol=atol, simplify=False)
        # the ablation variants share D^3SR's graph (same UNet, LoRA merged): their latency is D^3SR's, so
        # only D^3SR and the KD baseline are exported (tracing a UNet costs seconds)
        for name, path in one_step_models().items():
            if name not in (DEPLOYED, "one_step_kd"):
                continue
            model = load_onestep(path, codec, scale)
            doc["models"][name] = export_onnx(model, sample, tmp / f"{name}.onnx", input_name="lr",
                                              output_names=["sr"], atol=atol, simplify=False)
            print(f"{name}: max |onnx − torch| = {doc['models'][name]['max_abs_diff']:.2e}")
        unet, _ = load_unet(TRAIN / "diffusion" / "model.pt")
        z_lr = codec.encode_lr(sample, scale)
        parts = {"encoder": export_onnx(LREncoder(codec, scale), sample, tmp / "multistep_encoder.onnx",
                                        input_name="lr", output_names=["z_lr"], atol=atol, simplify=False),
                 "unet": export_multi_input(UNetStep(unet), {"z": torch.randn_like(z_lr), "z_lr": z_lr,
                                                               "t": torch.tensor([500])},
                                            tmp / "multistep_unet.onnx", atol),
                 "decoder": export_onnx(LatentDecoder(codec), z_lr, tmp / "multistep_decoder.onnx", input_name="z",
                                        output_names=["sr"], atol=atol, simplify=False)}
        doc["models"]["multistep"] = {"parts": parts, "file_bytes": sum(p["file_bytes"] for p in parts.values())}
        for p in [*doc["models"].values(), *parts.values()]:  # paths as they will be after the rename
            if "onnx" in p:
                p["onnx"] = str(Path(out_dir) / Path(p["onnx"]).name)
        atomic_write_json(tmp / "export.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
