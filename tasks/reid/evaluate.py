"""Stage ``evaluate``: retrieval on the test identities for the teacher and every student variant (each seed), the
tuning runs on the tuning identities, the teacher's singular-value spectrum against a trained network's, and the
deployed students on the CPU runtimes.

* Rank-1 / mAP / mINP per query → gallery modality pair: IR→RGB, RGB→IR, sketch→RGB (and RGB→RGB across cameras,
  the single-modality protocol) for every model; text→RGB for the teacher (the students are visual-only: text
  queries are the cloud model's job, as in the paper); on Market-1501 (RGB→RGB) and SYSU-MM01 (IR→RGB) that pair
  follows the benchmark's protocol recorded by ``prepare`` (:func:`tasks.reid.metrics.evaluate_split`), every
  other pair is leave-one-out over the test split. Every model's per-query AP and Rank-1 hit go to
  ``per_query.npz``: the report's paired bootstrap over queries (with the seeds' spread) gives every comparison
  its interval.
* Student variants: every seed of ``data/reid/train/student/<variant>/seeds/``; the tuning runs
  (``student/tune/``) on the tuning identities (the split they were chosen on) and, as a diagnostic, the test ones.
* Spectra (no centring, as PCM's SVD) and the k their energy thresholds τ keep: the teacher's test embeddings, a
  same-shape Gaussian matrix (what "not low-rank" looks like) and each seed of the student trained alone (what any
  trained metric-learning network of this data gives); the fraction k(0.9)/d of each on the same bootstrap
  resamples of the test images.
* Deployment of each variant's first seed: ONNX Runtime (fp32, static INT8 QDQ) and OpenVINO (IR at its default
  precision, NNCF INT8) from the same ONNX file and calibration images (``common.runtime.deploy``), each scored by
  its own embeddings and timed at batch 1 in a fresh process (p50, peak memory); the teacher in PyTorch (its text
  encoder per caption).

Writes ``data/reid/evaluate/{results.json, per_query.npz, models/*}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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
    backends: list[Literal["onnxruntime", "openvino"]] = Field(
        ["onnxruntime", "openvino"], min_length=1,
        description="CPU runtimes the deployed models are exported to, scored on and timed (fp32 and INT8 each)")
    spectrum_resamples: int = Field(200, ge=10, description="bootstrap resamples of the test images for the "
                                                            "spectra's k(0.9)/d (one SVD each)")


def spectrum(features, taus) -> dict:
    import torch

    from common.distill.embedding import energy_rank

    s = torch.linalg.svdvals(features.double())
    energy = (s**2 / (s**2).sum()).tolist()
    return {"singular_values": s.tolist(), "energy": energy, "dim": int(features.shape[1]), "n": int(features.shape[0]),
            "k": {f"{t:g}": energy_rank(s, t) for t in taus}}


def headline_pairs(results: dict) -> list[str]:
    """The pairs the headline (mean visual) metric averages: the cross-modal pairs that have queries; on a
    single-modality benchmark (Market-1501) its protocol pair."""
    from tasks.reid.module import SAME_PAIR, VISUAL_PAIRS

    import math

    ok = [k for k in VISUAL_PAIRS if k in results and results[k]["queries"] and not math.isnan(results[k]["map"])]
    return ok or [k for k in SAME_PAIR if k in results and results[k]["queries"]]


def _strip(pairs: dict, store: dict, key: str) -> dict:
    """Move each pair's per-query arrays into ``store`` (``<key>/<pair>/ap`` …) and return the pair metrics."""
    import numpy as np

    out = {}
    for pair, r in pairs.items():
        for name in ("ap_q", "hit1_q"):
            if name in r:
                store[f"{key}/{pair}/{name[:-2]}"] = np.asarray(r[name], np.float32)
        out[pair] = {k: v for k, v in r.items() if k not in ("ap_q", "hit1_q")}
    return out


def _rank_fracs(features, draws, tau: float = 0.9):
    """k(τ)/d of ``features`` on each row of ``draws`` (image indices)."""
    import numpy as np
    import torch

    from common.distill.embedding import energy_rank

    f = features.double()
    return np.asarray([energy_rank(torch.linalg.svdvals(f[torch.from_numpy(d)]), tau) / f.shape[1] for d in draws])


def run(params: Params, out_dir: Path, data_dir: str = DATA) -> dict:
    import numpy as np
    import torch

    from common.evaluate.intervals import resample
    from common.evaluate.profile import hardware
    from common.evaluate.torch_latency import median_latency_ms
    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_json, read_json
    from common.runtime import measure_shape, open_session, run_batched, version
    from common.runtime.deploy import at, export_runtimes
    from tasks.reid.data import SplitArrays
    from tasks.reid.metrics import evaluate_split
    from tasks.reid.models import count_params, embed, load_tokenizer
    from tasks.reid.module import SAME_PAIR, TEXT_PAIR, VISUAL_PAIRS, load_model

    torch.manual_seed(0)
    root = Path(data_dir)
    val = SplitArrays.load(root / "val.npz")
    train = SplitArrays.load(root / "train.npz")
    tune = SplitArrays.load(root / "tune.npz") if (root / "tune.npz").is_file() else None
    threads, warmup, runs, bs = params.threads, params.warmup, params.runs, params.batch_size
    taus = params.taus
    h, w = val.images.shape[1:3]
    one = torch.from_numpy(val.images[:1]).permute(0, 3, 1, 2).float() / 255
    pairs = {**VISUAL_PAIRS, **SAME_PAIR, **TEXT_PAIR}
    student_pairs = {**VISUAL_PAIRS, **SAME_PAIR}
    ids = set(val.pids.tolist())
    res = {"hardware": hardware(), "threads": threads,
           "val": {"ids": len(ids - {0}) if val.protocol and val.protocol.get("name") == "market1501" else len(ids),
                   "images": int(len(val.pids)), "protocol": val.protocol, "image_hw": f"{h}×{w}"},
           "tune_split": {"ids": len(set(tune.pids.tolist())), "images": int(len(tune.pids))} if tune else None,
           "models": {}, "train": {}, "runtimes": [], "unavailable": [],
           "runtime_versions": {b: version(b) for b in ("onnxruntime", "openvino")}}
    per_query: dict[str, np.ndarray] = {}
    img_draws = resample(len(val.pids), params.spectrum_resamples, seed=1)[0]

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
    metrics = _strip(evaluate_split(t_feat, val, pairs, text, per_query=True), per_query, "teacher@0")
    # the text encoder's latency on one caption (a fixed one where the dataset has none)
    one_cap = tok([caps[0][1] if caps else "a person in a red shirt and blue trousers carrying a backpack."],
                  return_tensors="pt")
    res["models"]["teacher"] = {
        "pairs": metrics, "seeds": [0], "headline_pairs": headline_pairs(metrics), "params": count_params(teacher),
        "vision_params": count_params(teacher.vision), "text_params": count_params(teacher.text),
        "latency_ms_torch": median_latency_ms(lambda: teacher(one), warmup, runs, threads),
        "text_latency_ms_torch": median_latency_ms(lambda: teacher.text(one_cap["input_ids"], one_cap["attention_mask"]),
                                                   warmup, runs, threads)}
    res["train"]["teacher"] = read_json(TRAIN / "teacher" / "metrics.json")
    gauss = torch.randn(t_feat.shape, generator=torch.Generator().manual_seed(0))
    res["spectrum"] = {"teacher": spectrum(t_feat, taus), "gaussian": spectrum(gauss, taus), "students": {}}
    rank_draws = {"teacher": _rank_fracs(t_feat, img_draws)}
    calib = torch.from_numpy(train.images[:params.calibration_images]).permute(0, 3, 1, 2).float() / 255
    calibration = [calib[i:i + 1].numpy() for i in range(len(calib))]

    # ---- students: every variant × seed; the first seed deployed on every runtime
    student_root = TRAIN / "student"
    variants = sorted(p.name for p in student_root.iterdir() if (p / "seeds.json").is_file())
    if not variants:
        raise FileNotFoundError(f"{student_root}: no trained student variants (seeds.json) — rerun train_student")
    with atomic_dir(out_dir) as tmp:
        model_dir = tmp / "models"
        model_dir.mkdir()
        for name in variants:
            doc = read_json(student_root / name / "seeds.json")
            seeds = [int(x) for x in doc["seeds"]]
            per_seed = {}
            for s in seeds:
                model = load_model(student_root / name / "seeds" / str(s) / "model.pt")
                feat = embed(model, val.images, bs)
                per_seed[str(s)] = _strip(evaluate_split(feat, val, student_pairs, per_query=True), per_query,
                                          f"{name}@{s}")
                if name == "alone":
                    res["spectrum"]["students"][str(s)] = spectrum(feat, taus)
                    rank_draws[f"alone@{s}"] = _rank_fracs(feat, img_draws)
                if s != seeds[0]:
                    continue
                first = model
                rec = {"seeds": seeds, "weights": doc.get("weights", {}), "tuned": doc.get("tuned", {}),
                       "params": count_params(model),
                       "latency_ms_torch": median_latency_ms(lambda: first(one), warmup, runs, threads)}
            pair_names = list(next(iter(per_seed.values())))
            rec["per_seed"] = per_seed
            rec["pairs"] = {p: {m: float(np.mean([per_seed[s][p][m] for s in per_seed]))
                                for m in ("rank1", "map", "minp")} | {"queries": per_seed[str(seeds[0])][p]["queries"]}
                            for p in pair_names}
            rec["headline_pairs"] = headline_pairs(per_seed[str(seeds[0])])
            res["models"][name] = rec
            res["train"][name] = {s: read_json(student_root / name / "seeds" / str(s) / "metrics.json") for s in
                                  map(str, seeds)}
            # ---- deployment of the first seed
            onnx_path = model_dir / f"{name}.onnx"
            export_onnx(first, one, onnx_path, input_name="images", output_names=["embedding"], atol=1e-3,
                        check_samples=calib[:8])
            arts, missing, q_facts = export_runtimes(onnx_path, calibration, name=name, backends=params.backends,
                                                     files_dir=Path(out_dir) / "models")
            res["unavailable"] += missing
            for art in arts:
                local = at(art, model_dir)
                sess = open_session(local, (h, w), threads=2)
                x = val.images.transpose(0, 3, 1, 2).astype(np.float32) / 255
                feats = torch.from_numpy(run_batched(sess, x, bs))
                del sess
                acc = _strip(evaluate_split(feats, val, student_pairs, per_query=True), per_query,
                             f"{name}/{art.backend}/{art.precision}@{seeds[0]}")
                hp = headline_pairs(acc)
                m = measure_shape(local, [1, 3, h, w], threads=(threads,), warmup=warmup, runs=runs)
                lat = m["latency_ms"][str(threads)]
                res["runtimes"].append({
                    "variant": name, "backend": art.backend, "precision": art.precision,
                    "precision_used": m["precision_used"], "file": art.files["any"], "file_bytes": local.bytes(),
                    "peak_mem_mb": m["peak_mem_mb"], "latency_ms_p50": lat["p50"], "latency_ms_p90": lat["p90"],
                    "map_visual": float(np.mean([acc[p]["map"] for p in hp])),
                    "rank1_visual": float(np.mean([acc[p]["rank1"] for p in hp])), "pairs": acc,
                    "quantization": q_facts.get(f"{art.backend}/int8") if art.precision == "int8" else None})
                print(f"{name} {art.backend} {art.precision} ({m['precision_used']}): mAP {res['runtimes'][-1]['map_visual']:.3f}"
                      f" | {lat['p50']:.2f} ms | peak {m['peak_mem_mb']:.0f} MB")
            print(name, {p: round(v["map"], 3) for p, v in rec["pairs"].items()}, f"({len(seeds)} seeds)")
        # ---- tuning runs: on the identities they were chosen on, and (diagnostic) on the test ones
        tune_doc = student_root / "tune.json"
        if tune_doc.is_file():
            res["tune"] = read_json(tune_doc)
            for label, t in res["tune"]["runs"].items():
                model = load_model(student_root / "tune" / label / "model.pt")
                if tune is not None:
                    tp = evaluate_split(embed(model, tune.images, bs), tune, student_pairs)
                    t["tune_pairs"] = tp
                    t["tune_map_visual"] = float(np.mean([tp[p]["map"] for p in headline_pairs(tp)]))
                vp = _strip(evaluate_split(embed(model, val.images, bs), val, student_pairs, per_query=True),
                            per_query, f"tune:{label}@{t['seed']}")
                t["test_pairs"] = vp
                t["test_map_visual"] = float(np.mean([vp[p]["map"] for p in headline_pairs(vp)]))
        print("teacher", {k: round(v["map"], 3) for k, v in metrics.items()})
        np.savez_compressed(tmp / "per_query.npz", **per_query,
                            **{f"rank_frac_090/{k}": v for k, v in rank_draws.items()})
        atomic_write_json(tmp / "results.json", res)
    return res


if __name__ == "__main__":
    main(__spec__.name, Params, run)
