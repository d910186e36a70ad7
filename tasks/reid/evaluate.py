"""Stage ``evaluate``: retrieval on the validation identities for the teacher and every student variant, the
teacher's singular-value spectrum, and the edge deployment of the students (ONNX fp32 + static INT8).

* Rank-1 / mAP / mINP per query → gallery modality pair: IR→RGB, RGB→IR, sketch→RGB (and RGB→RGB across cameras,
  the single-modality protocol) for every model; text→RGB for
  the teacher (the students are visual-only: text queries are the cloud model's job, as in the paper);
* the spectrum of the teacher's validation embeddings (no centring, as PCM's SVD) and the k its energy thresholds
  τ keep, beside a same-shape Gaussian matrix (what "not low-rank" looks like) and the student's own spectrum;
* the k PCM chose per training batch (recorded by the training stage);
* parameters; latency of one query image: the teacher (PyTorch; its text encoder per caption) and each student
  (PyTorch, ONNX fp32, ONNX INT8 — one thread); the deployed student's INT8 retrieval accuracy.

Writes ``data/reid/evaluate/{results.json, onnx/*.onnx}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from common.stage import Field, StageParams, main

TRAIN = Path("data/reid/train")
DATA = "data/reid/prepare/dataset"


class Params(StageParams):
    threads: int = Field(1, ge=1, description="CPU threads of every latency measurement")
    warmup: int = Field(3, ge=0, description="latency: untimed runs first")
    runs: int = Field(20, ge=1, description="latency: timed runs (the median is reported)")
    batch_size: int = Field(256, ge=1, description="images per forward pass when embedding the validation set")
    calibration_images: int = Field(128, ge=1, description="training images that calibrate the static INT8 models")
    taus: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        min_length=1, description="energy thresholds τ at which the spectra's k is read (each in (0, 1])")


def spectrum(features, taus) -> dict:
    import torch

    from common.distill.embedding import energy_rank

    s = torch.linalg.svdvals(features.double())
    energy = (s**2 / (s**2).sum()).tolist()
    return {"singular_values": s.tolist(), "energy": energy, "dim": int(features.shape[1]), "n": int(features.shape[0]),
            "k": {f"{t:g}": energy_rank(s, t) for t in taus}}


def run(params: Params, out_dir: Path, data_dir: str = DATA) -> dict:
    import numpy as np
    import torch

    from common.compress.quantize import quantize_static_int8
    from common.evaluate.profile import hardware, onnx_latency
    from common.evaluate.torch_latency import median_latency_ms
    from common.export.onnx import export_onnx
    from tasks.reid.data import SplitArrays
    from tasks.reid.metrics import evaluate_pairs
    from tasks.reid.models import count_params, embed, load_tokenizer
    from common.io import atomic_dir, atomic_write_json, read_json
    from tasks.reid.module import SAME_PAIR, TEXT_PAIR, VISUAL_PAIRS, load_model

    torch.manual_seed(0)
    val = SplitArrays.load(Path(data_dir) / "val.npz")
    train = SplitArrays.load(Path(data_dir) / "train.npz")
    threads, warmup, runs, bs = params.threads, params.warmup, params.runs, params.batch_size
    taus = params.taus
    one = torch.from_numpy(val.images[:1]).permute(0, 3, 1, 2).float() / 255
    pairs = {**VISUAL_PAIRS, **SAME_PAIR, **TEXT_PAIR}
    student_pairs = {**VISUAL_PAIRS, **SAME_PAIR}
    res = {"hardware": hardware(), "threads": threads, "val": {"ids": int(len(set(val.pids.tolist()))),
           "images": int(len(val.pids))}, "models": {}, "train": {}}

    # ---- teacher
    teacher = load_model(TRAIN / "teacher" / "model.pt")
    t_feat = embed(teacher, val.images, bs)
    tok = load_tokenizer()
    caps = [(pid, c) for pid, cs in val.captions.items() for c in cs]  # none for SYSU-MM01 / Market-1501
    text = None
    if caps:
        enc = tok([c for _, c in caps], padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            text = (teacher.text(enc["input_ids"], enc["attention_mask"]), np.array([p for p, _ in caps]))
    metrics = evaluate_pairs(t_feat, val.pids, val.cams, val.modality, pairs, text)
    # the text encoder's latency on one caption (a fixed one where the dataset has none)
    one_cap = tok([caps[0][1] if caps else "a person in a red shirt and blue trousers carrying a backpack."],
                  return_tensors="pt")
    res["models"]["teacher"] = {
        "pairs": metrics, "params": count_params(teacher), "vision_params": count_params(teacher.vision),
        "text_params": count_params(teacher.text),
        "latency_ms_torch": median_latency_ms(lambda: teacher(one), warmup, runs, threads),
        "text_latency_ms_torch": median_latency_ms(lambda: teacher.text(one_cap["input_ids"], one_cap["attention_mask"]),
                                                   warmup, runs, threads)}
    res["train"]["teacher"] = read_json(TRAIN / "teacher" / "metrics.json")
    res["spectrum"] = {"teacher": spectrum(t_feat, taus),
                       "gaussian": spectrum(torch.randn(t_feat.shape, generator=torch.Generator().manual_seed(0)), taus)}
    rgb_train = torch.from_numpy(train.images[:params.calibration_images]).permute(0, 3, 1, 2).float() / 255

    # ---- students
    variants = sorted(p.name for p in (TRAIN / "student").iterdir() if (p / "model.pt").is_file())
    if not variants:
        raise FileNotFoundError(f"{TRAIN / 'student'}: no trained student variants")
    with atomic_dir(out_dir) as tmp:
        for name in variants:
            model = load_model(TRAIN / "student" / name / "model.pt")
            feat = embed(model, val.images, bs)
            rec = {"pairs": evaluate_pairs(feat, val.pids, val.cams, val.modality, student_pairs),
                   "params": count_params(model), "latency_ms_torch": median_latency_ms(lambda: model(one), warmup, runs,
                                                                                        threads)}
            if name == "alone":
                res["spectrum"]["student"] = spectrum(feat, taus)
            onnx_dir = tmp / "onnx"
            info = export_onnx(model, one, onnx_dir / f"{name}.onnx", input_name="images", output_names=["embedding"],
                               atol=1e-3, check_samples=rgb_train[:8])
            lat = onnx_latency(info["onnx"], list(one.shape), (threads,), warmup, runs)
            rec["latency_ms_onnx"] = lat["latency_ms"][str(threads)]["p50"]
            q = quantize_static_int8(info["onnx"], onnx_dir / f"{name}_int8.onnx",
                                     [rgb_train[i:i + 32].numpy() for i in range(0, len(rgb_train), 32)])
            lat8 = onnx_latency(onnx_dir / f"{name}_int8.onnx", list(one.shape), (threads,), warmup, runs)
            rec["latency_ms_onnx_int8"] = lat8["latency_ms"][str(threads)]["p50"]
            rec["onnx_bytes"], rec["onnx_int8_bytes"] = info["file_bytes"], (onnx_dir / f"{name}_int8.onnx").stat().st_size
            rec["int8"] = q
            # the INT8 model's own retrieval accuracy (what the edge device would deliver)
            import onnxruntime as ort

            sess = ort.InferenceSession(str(onnx_dir / f"{name}_int8.onnx"), providers=["CPUExecutionProvider"])
            f8 = []
            for i in range(0, len(val.images), bs):
                x = (val.images[i:i + bs].transpose(0, 3, 1, 2).astype(np.float32) / 255)
                f8.append(torch.from_numpy(sess.run(None, {"images": x})[0]))
            rec["pairs_int8"] = evaluate_pairs(torch.cat(f8), val.pids, val.cams, val.modality, student_pairs)
            res["models"][name] = rec
            m = read_json(TRAIN / "student" / name / "metrics.json")
            res["train"][name] = m
            print(name, {k: round(v["map"], 3) for k, v in rec["pairs"].items()})
        print("teacher", {k: round(v["map"], 3) for k, v in metrics.items()})
        atomic_write_json(tmp / "results.json", res)
    return res


if __name__ == "__main__":
    main(__spec__.name, Params, run)
