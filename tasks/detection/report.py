"""Root stage ``tasks/detection``: render ``reports/detection.{md,json,png}`` (+ training, |γ| and recovery plots,
and the training curves under ``reports/curves/detection/``) from the pipeline's outputs under
``data/detection/`` and the paper's numbers in ``tasks/detection/paper.yaml`` (arXiv 2509.12918).

What it shows: the data and runtimes it ran on; the paper's table beside ours; the ablation (baseline → sparse →
pruned by |γ| before fine-tuning, with the random-prune control → pruned + fine-tune / pruned + CWD over seeds);
whether each training run reached its plateau by the stated rule; every exported model on every runtime (the
precision its runtime used, its own mAP, p50 latency at 1 and 2 threads at each measured size, peak memory, file
size) with ultralytics' own exports of the baseline as reference rows, and what could not run and why; the
independent check of our mAP by ultralytics' ``val``; the goal figure (our best compressed model vs the fastest
ultralytics export); the CWD weight/τ sweep; and the claims with 95 % intervals and verdict classes
(``common.reports.schema``).

Intervals: accuracy over training seeds (``seeds.json`` of ``finetune`` / ``distill``; differences paired by seed),
the random-prune control over its draws, speed-ups by a bootstrap of the timed runs of both models (the ratio of
medians on each resample; latency does not depend on the training seed). With one seed an interval covers what it
can (``common.evaluate.intervals.estimate``) and says so.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from common.io import atomic_write_bytes, atomic_write_json, atomic_write_text, project_params, read_json
from common.reports import report_dir
from common.reports.render import (_plain, _png, _pyplot, check_claims, claims_table, fmt, fmt_interval, line_plot,
                                   md_table, read_epoch_metrics, scaled, training_logs, write_curves)
from common.reports.schema import load_paper

DATA = Path("data/detection")
PAPER = "tasks/detection/paper.yaml"
BASE, SPARSE, PRUNED, RANDOM, FT, CWD = "baseline", "sparse", "pruned", "pruned (random)", "pruned+ft", "pruned+cwd"
COMPRESSED = (FT, CWD)
PAPER_SIZE = 640  # the paper's input size: speed claims are checked here, the trained size is shown beside
PLATEAU_EPOCHS, PLATEAU_POINTS = 5, 1.0
PLATEAU_RULE = (f"a run is at its plateau when the best validation mAP50 of its last {PLATEAU_EPOCHS} epochs beats "
                f"the best of all epochs before them by less than {PLATEAU_POINTS:g} point (early stopping with "
                f"patience {PLATEAU_EPOCHS} and a {PLATEAU_POINTS:g}-point minimum gain would have stopped it)")
GPU_BACKENDS = ("tensorrt",)
DET_LOSS = ("train/box", "train/cls", "train/dfl", "train/box_loss", "train/cls_loss", "train/dfl_loss")


# ------------------------------------------------------------------------------------------------- numbers
def _maybe(path: Path):
    return read_json(path) if path.is_file() else None


def load_inputs(data: Path) -> dict:
    """Every JSON the report reads; optional stages (structure, cwd_sweep, peer) are ``None`` when absent."""
    ev = read_json(data / "evaluate" / "metrics.json")
    sparse = read_json(data / "sparse_train" / "metrics.json")
    gamma = sparse.get("gamma") or _maybe(data / "sparse_train" / "gamma.json")
    return {"stats": read_json(data / "prepare" / "stats.json"),
            "train": read_json(data / "train_teacher" / "metrics.json"),
            "sparse": sparse, "gamma": gamma, "prune": read_json(data / "prune" / "prune.json"),
            "ft": read_json(data / "finetune" / "seeds.json"), "cwd": read_json(data / "distill" / "seeds.json"),
            "cwd_metrics": _maybe(data / "distill" / "metrics.json"),
            "sweep": _maybe(data / "cwd_sweep" / "sweep.json"), "ev": ev,
            "structure": _maybe(data / "structure" / "structure.json"), "data": data}


def seed_values(seeds: dict, key: str = "val/map50") -> dict[int, float]:
    """{seed: metric} of a ``seeds.json`` (its ``runs`` are keyed by the seed as a string)."""
    return {int(s): float(seeds["runs"][str(s)][key]) for s in seeds["seeds"]}


def over_seeds(values: list[float], noise: str, trained: bool = True):
    """Mean and 95 % interval over seeds (or draws): a Student-t interval with ≥ 2, the value alone with 1 (its
    ``noise`` says training noise is not covered); ``trained=False``: a deterministic number (no interval)."""
    from common.evaluate.intervals import estimate

    return estimate(values, None, n_items="—", noise=noise, trained=trained)


def plateau(curve: tuple[list[float], list[float]] | None) -> dict:
    """The plateau rule (:data:`PLATEAU_RULE`) on one run's per-epoch validation mAP50 curve: {epochs, last,
    best_last, best_before, gain_points, holds} (``holds`` None: too few epochs to tell)."""
    if not curve or not curve[1]:
        return {"epochs": 0, "last": None, "best_last": None, "best_before": None, "gain_points": None, "holds": None}
    ys = curve[1]
    out = {"epochs": len(ys), "last": ys[-1], "best_last": None, "best_before": None, "gain_points": None,
           "holds": None}
    if len(ys) > PLATEAU_EPOCHS:
        best_last, best_before = max(ys[-PLATEAU_EPOCHS:]), max(ys[:-PLATEAU_EPOCHS])
        gain = 100 * (best_last - best_before)
        out.update(best_last=best_last, best_before=best_before, gain_points=gain, holds=gain < PLATEAU_POINTS)
    return out


def val_curve(csv_path: Path):
    if not csv_path.is_file():
        return None
    return read_epoch_metrics(csv_path).get("val/map50")


def find_run(ev: dict, variant: str, backend: str, precision: str, producer: str = "edgerepro") -> dict | None:
    for r in ev["runs"]:
        if (r["variant"], r["backend"], r["precision"], r["producer"]) == (variant, backend, precision, producer):
            return r
    return None


def latency(run: dict | None, size: int, threads: int) -> dict | None:
    """The latency record {p50, p90, mean, runs, times} of a run at ``size`` px and ``threads`` threads."""
    if run is None:
        return None
    return ((run.get("latency") or {}).get(str(size)) or {}).get("latency_ms", {}).get(str(threads))


def ratio(num: dict | None, den: dict | None, what: str):
    """``num`` p50 / ``den`` p50 (a speed-up when ``num`` is the slower model) with a 95 % interval: a bootstrap of
    each model's timed runs (independent resamples: they ran in different processes), the ratio of medians on each
    resample. Without the per-run ``times`` the point value alone."""
    import numpy as np

    from common.evaluate.intervals import bootstrap, estimate, resample

    if not num or not den:
        return None
    point = num["p50"] / den["p50"]
    a, b = np.asarray(num.get("times") or [], float), np.asarray(den.get("times") or [], float)
    if a.size < 2 or b.size < 2:
        return point
    draws = resample([a.size, b.size], seed=0)
    boot = bootstrap(lambda i, j: float(np.median(a[i]) / np.median(b[j])), draws)
    return estimate([point], boot, n_items=f"{a.size} + {b.size} timed runs", trained=False,
                    noise=f"{what}; latency depends on the architecture, not the training seed")


def sizes_of(ev: dict) -> list[int]:
    imgsz = int(ev["imgsz"])
    return [imgsz, *sorted({int(s) for s in ev.get("latency_sizes", [])} - {imgsz})]


def derive(inp: dict, data: Path) -> tuple[dict, dict]:
    """(derived: every number a claim checks, by its metric name; facts: what the sections show)."""
    ev, prune, train = inp["ev"], inp["prune"], inp["train"]
    imgsz, sizes = int(ev["imgsz"]), sizes_of(ev)
    variants = ev["variants"]
    derived: dict = {}
    facts: dict = {"imgsz": imgsz, "sizes": sizes}

    def det(v, noise="counted on the architecture"):
        return over_seeds([v], noise, trained=False)

    # structure of the compressed model (deterministic)
    if BASE in variants and CWD in variants:
        b, c = variants[BASE], variants[CWD]
        derived["params_reduction"] = det(1 - c["params"] / b["params"])
        if str(imgsz) in b["gflops"] and str(imgsz) in c["gflops"]:
            derived["gflops_reduction"] = det(1 - c["gflops"][str(imgsz)] / b["gflops"][str(imgsz)])
    s = inp["structure"]
    if s:
        derived["structure_params_m"] = det(s["params_after"] / 1e6)
        derived["structure_gflops"] = det(s["gflops_after"])
        derived["structure_gmacs"] = det(s["gmacs_after"])
        derived["structure_params_reduction"] = det(1 - s["params_ratio"])
        derived["structure_gflops_reduction"] = det(1 - s["gflops_ratio"])

    # accuracy: the Lightning validation mAP50 (PyTorch, EMA weights) every training stage logs, one measure
    base_map = float(train["val/map50"])
    derived["baseline_map50"] = over_seeds([base_map], "one training of the baseline")
    logs = {"baseline": val_curve(data / "train_teacher" / "logs" / "metrics.csv")}
    for stage, label in (("finetune", FT), ("distill", CWD)):
        for seed in inp["ft" if stage == "finetune" else "cwd"]["seeds"]:
            logs[f"{label} seed {seed}"] = val_curve(data / stage / "seeds" / str(seed) / "logs" / "metrics.csv")
    facts["plateau"] = {name: plateau(c) for name, c in logs.items()}
    gain = facts["plateau"]["baseline"]["gain_points"]
    derived["baseline_plateau_gain_points"] = gain  # a plain number: the precondition is a point check of the rule
    ft, cwd = seed_values(inp["ft"]), seed_values(inp["cwd"])
    derived["ap50_drop_points"] = over_seeds(
        [100 * (base_map - v) for v in cwd.values()],
        "baseline − each distill seed; the baseline is one training (its own training noise not covered)")
    paired = sorted(set(ft) & set(cwd))
    if paired:
        derived["cwd_gain_points"] = over_seeds([100 * (cwd[k] - ft[k]) for k in paired],
                                                f"paired by seed (seeds {', '.join(map(str, paired))})")
    facts["unpaired_seeds"] = sorted(set(ft) ^ set(cwd))

    # sparsity and the random-prune control (both before fine-tuning, measured alike by `prune`)
    g = inp["gamma"] or {}
    if "after" in g:
        derived["sparse_gamma_frac_below_0_1"] = float(g["after"]["frac_below_0.1"])
    bf = prune.get("before_finetune") or {}
    if bf.get("bn_scale") and bf.get("random"):
        # after BatchNorm recalibration when `prune` measured it (both arms alike): a 50 % per-layer cut of a small
        # model scores ≈ 0 as cut whatever the channels, a floor at which no criterion can beat another
        recal = "recalibrated" in bf["bn_scale"] and all("recalibrated" in r for r in bf["random"])
        pick = (lambda r: r["recalibrated"]) if recal else (lambda r: r)
        gb = float(pick(bf["bn_scale"])["map50"])
        derived["gamma_vs_random_points"] = over_seeds(
            [100 * (gb - float(pick(r)["map50"])) for r in bf["random"]],
            f"over {len(bf['random'])} random-prune draw(s); the |γ| pruning is deterministic"
            + (f"; both after BatchNorm recalibration on {bf.get('recalibrate_images')} training images" if recal
               else "; as cut (no BatchNorm recalibration)"))

    # speed: pruned+cwd vs baseline on ONNX Runtime fp32, and INT8 vs fp32 of pruned+cwd
    base32, cwd32 = find_run(ev, BASE, "onnxruntime", "fp32"), find_run(ev, CWD, "onnxruntime", "fp32")
    cwd8 = find_run(ev, CWD, "onnxruntime", "int8")
    facts["speedups"] = {}
    for size in sizes:
        for t in ev.get("threads", [1, 2]):
            facts["speedups"][(size, t)] = {
                "compression": ratio(latency(base32, size, t), latency(cwd32, size, t),
                                     f"baseline / pruned+cwd, ONNX Runtime fp32, {size} px, {t} thread(s)"),
                "int8": ratio(latency(cwd32, size, t), latency(cwd8, size, t),
                              f"pruned+cwd fp32 / INT8, ONNX Runtime, {size} px, {t} thread(s)")}
    for t in (1, 2):
        sp = facts["speedups"].get((PAPER_SIZE, t), {})
        # the root params.yaml's headline reads derived/speedup_onnx_cpu_t1: keep the key, None when not measured
        derived[f"speedup_onnx_cpu_t{t}"] = sp.get("compression")
        derived[f"int8_speedup_onnx_cpu_t{t}"] = sp.get("int8")
        if imgsz != PAPER_SIZE and (imgsz, t) in facts["speedups"]:
            derived[f"speedup_onnx_cpu_t{t}_at{imgsz}"] = facts["speedups"][(imgsz, t)]["compression"]
            derived[f"int8_speedup_onnx_cpu_t{t}_at{imgsz}"] = facts["speedups"][(imgsz, t)]["int8"]
    if cwd32 and cwd8:
        derived["int8_ap50_drop_points"] = over_seeds(
            [100 * (cwd32["map50"] - cwd8["map50"])], "the exported model (the first distill seed), one quantization")

    # the independent check: ultralytics' val of our baseline.onnx vs our evaluate of the same file
    ours_val = (ev.get("peer") or {}).get("our_onnx_ultralytics_val")
    if ours_val and base32:
        facts["independent"] = {"ours": base32["map50"], "ultralytics": ours_val["map50"], "file": ours_val.get("file"),
                                "ours_95": base32["map50_95"], "ultralytics_95": ours_val.get("map50_95")}
        derived["ultralytics_val_gap_points"] = det(100 * abs(base32["map50"] - ours_val["map50"]),
                                                     "two evaluations of the same file")
    facts["goal"] = goal(ev, sizes)
    return derived, facts


def goal(ev: dict, sizes: list[int]) -> list[dict]:
    """Per size: our best compressed model (the compressed variant whose exported model scores the higher PyTorch
    mAP50) on its fastest CPU runtime vs the fastest of ultralytics' exports of the baseline, 1 thread."""
    scored = [v for v in COMPRESSED if v in ev["variants"]]
    if not scored:
        return []
    best = max(scored, key=lambda v: (ev["variants"][v]["pytorch"]["map50"], v == CWD))  # a tie: the paper's model
    out = []
    for size in sizes:
        def fastest(rows):
            rows = [(latency(r, size, 1)["p50"], r) for r in rows if latency(r, size, 1)]
            return min(rows, key=lambda x: x[0])[1] if rows else None

        ours = fastest([r for r in ev["runs"] if r["variant"] == best and r["producer"] == "edgerepro"
                        and r["backend"] not in GPU_BACKENDS])
        peer = fastest([r for r in ev["runs"] if r["producer"] == "ultralytics" and r["backend"] not in GPU_BACKENDS])
        if ours and peer:
            out.append({"size": size, "variant": best, "ours": ours, "peer": peer,
                        "speedup": ratio(latency(peer, size, 1), latency(ours, size, 1),
                                         f"fastest ultralytics export / ours, {size} px, 1 thread"),
                        "map50_points": 100 * (ours["map50"] - peer["map50"])})
    return out


def ablation(inp: dict) -> dict[str, dict]:
    """The ablation rows: params, GFLOPs at each measured size, validation mAP (Lightning, PyTorch, EMA) — over seeds
    for the recovered models, over the draws for the random control, measured by ``prune`` for the pruned models."""
    ev, prune, sizes = inp["ev"], inp["prune"], sizes_of(inp["ev"])
    imgsz = sizes[0]
    var = ev["variants"]

    def arch(name):
        v = var.get(name) or {}
        return {"params": v.get("params"), **{f"gflops@{s}": (v.get("gflops") or {}).get(str(s)) for s in sizes}}

    base_arch = (arch(BASE) if BASE in var
                 else {"params": prune["params_before"], f"gflops@{imgsz}": prune["gflops_before"]})
    pruned_arch = next((arch(v) for v in (CWD, FT) if v in var),
                       {"params": prune["params_after"], f"gflops@{imgsz}": prune["gflops_after"]})
    bf = prune.get("before_finetune") or {}
    rows = {BASE: {**base_arch, "map50": inp["train"]["val/map50"], "map50_95": inp["train"].get("val/map50_95"),
                   "how": "Lightning validation, 1 training"},
            SPARSE: {**base_arch, "map50": inp["sparse"].get("val/map50"),
                     "map50_95": inp["sparse"].get("val/map50_95"),
                     "how": "Lightning validation, 1 training"}}
    if bf.get("bn_scale"):
        rows[PRUNED] = {**pruned_arch, "map50": bf["bn_scale"]["map50"], "map50_95": bf["bn_scale"]["map50_95"],
                        "how": "before fine-tuning, measured by `prune`"}
    if bf.get("random"):
        n = len(bf["random"])
        same = prune.get("mode") == "uniform"  # a uniform per-layer ratio keeps the same widths whatever the choice
        rows[RANDOM] = {**(pruned_arch if same else {}),
                        "map50": over_seeds([r["map50"] for r in bf["random"]], f"over {n} random draw(s)"),
                        "map50_95": over_seeds([r["map50_95"] for r in bf["random"]], f"over {n} random draw(s)"),
                        "how": f"before fine-tuning, {n} random channel draw(s)"}
    if bf.get("bn_scale", {}).get("recalibrated"):
        how = (f"before fine-tuning, BatchNorm statistics re-estimated on {bf.get('recalibrate_images')} training "
               "images (adaptive BN)")
        rows[f"{PRUNED}, BN recal."] = {**pruned_arch, "map50": bf["bn_scale"]["recalibrated"]["map50"],
                                        "map50_95": bf["bn_scale"]["recalibrated"]["map50_95"], "how": how}
        if bf.get("random") and all("recalibrated" in r for r in bf["random"]):
            n = len(bf["random"])
            rows[f"{RANDOM}, BN recal."] = {
                **rows[RANDOM], "how": how.replace("before fine-tuning", f"{n} random draw(s)"),
                **{k: over_seeds([r["recalibrated"][k] for r in bf["random"]], f"over {n} random draw(s)")
                   for k in ("map50", "map50_95")}}
    for label, key in ((FT, "ft"), (CWD, "cwd")):
        seeds = inp[key]
        rows[label] = {**(arch(label) if label in var else pruned_arch),
                       "map50": over_seeds(list(seed_values(seeds).values()), "over seeds"),
                       "map50_95": over_seeds(list(seed_values(seeds, "val/map50_95").values()), "over seeds"),
                       "how": f"Lightning validation, {len(seeds['seeds'])} seed(s)"}
    for r in rows.values():
        r["params_m"] = None if r.get("params") is None else r["params"] / 1e6
    return rows


# ------------------------------------------------------------------------------------------------- rendering
def cell(x, spec: str = ".3f", k: float = 1.0) -> str:
    """A number, or an interval as ``value [lo, hi] (n)`` (one seed: the value and ``(1 seed)``)."""
    from common.evaluate.intervals import Estimate, is_estimate

    if x is None:
        return "—"
    if not is_estimate(x):
        return fmt(x * k, spec)
    e = x if isinstance(x, Estimate) else Estimate.from_dict(x)
    e = scaled(e, k)
    if e.lo == e.hi:  # deterministic, or one seed: the value alone (an interval of one seed covers no training)
        return fmt(e.value, spec) + (f" ({e.n_seeds} seed)" if e.n_seeds == 1 else "")
    return fmt_interval(e.value, e.lo, e.hi, spec) + (f" ({e.n_seeds})" if e.n_seeds else "")


def chain(inp: dict) -> str:
    """One line: how each model of the ablation came from the previous one, and how CWD was set up (from the first
    distill seed's Lightning ``hparams.yaml``, which holds the module's arguments)."""
    from common.io import read_yaml

    t, sp, pr = inp["train"], inp["sparse"], inp["prune"]
    n_ft, n_cwd = len(inp["ft"]["seeds"]), len(inp["cwd"]["seeds"])
    out = (f"baseline ({t.get('epochs', '?')} epochs) → sparsity training ({sp.get('epochs', '?')} epochs) → "
           f"pruning (`{pr.get('mode')}`, ratio {pr.get('ratio')}) → fine-tune ({n_ft} seed(s)) and CWD ({n_cwd} "
           "seed(s)), same recipe and epochs.")
    hp_path = inp["data"] / "distill" / "seeds" / str(inp["cwd"]["seeds"][0]) / "logs" / "hparams.yaml"
    hp = read_yaml(hp_path) if hp_path.is_file() else {}
    if hp.get("teacher_weights"):
        parent = " (the pruned model's parent)" if hp["teacher_weights"] == pr.get("input") else ""
        how = ("each student channel compared with the parent channel it was pruned from (`kept_channels`), no adapter"
               if hp.get("kept_channels") else "learnable 1×1 adapters (random init) map student to teacher channels")
        out += (f" CWD teacher `{hp['teacher_weights']}`{parent}, weight {hp.get('cwd_weight', '?')} per tap, "
                f"τ {hp.get('cwd_tau', '?')}, taps {hp.get('distill_taps') or 'the neck outputs feeding Detect'}; "
                f"{how}.")
    return out


def header(inp: dict, paper, profile: str) -> list[str]:
    st, hw, ev = inp["stats"], inp["ev"]["hardware"], inp["ev"]
    splits = ", ".join(f"{k} {v['images']} images / {v['boxes']} boxes" for k, v in st["splits"].items())
    src = st["source"]
    if src == "synthetic":
        data = f"a synthetic VisDrone-like set generated by `prepare` ({st['nc']} VisDrone classes; {splits})"
    elif src == "visdrone":
        raw = ", ".join(f"{k} = `{v}`" for k, v in (st.get("raw_splits") or {}).items())
        data = (f"**VisDrone2019-DET** converted from `{st.get('raw_dir', '?')}` ({raw}; {splits}); "
                f"{st.get('clipped_boxes_total', 0):,} boxes crossing the image edge were clipped to it "
                f"({', '.join(f'{k} {v:,}' for k, v in (st.get('clipped_boxes') or {}).items())})")
    elif src == "yolo":
        data = f"your YOLO dataset `{st.get('data_yaml', '?')}` ({st['nc']} classes; {splits})"
    else:
        raw = ", ".join(f"{k} = `{v.get('json', v)}`" for k, v in (st.get("raw_splits") or {}).items())
        data = f"your COCO dataset under `{st.get('raw_dir', '?')}` ({raw}; {st['nc']} classes; {splits})"
    runtimes = [("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO"), ("ncnn", "ncnn"), ("litert", "LiteRT"),
                ("tensorrt", "TensorRT"), ("torch", "torch")]
    vers = [f"{label} {hw[k]}" if hw.get(k) else f"{label} not installed" for k, label in runtimes]
    ul = (ev.get("peer") or {}).get("ultralytics")
    if ul:
        vers.append(f"ultralytics {ul}")
    t = inp["train"]
    md = [f"# detection: {paper.title}", "",
          f"arXiv [{paper.arxiv}](https://arxiv.org/abs/{paper.arxiv}) · profile **{profile}** · "
          f"{hw.get('cpu', '?')}, {hw.get('logical_cores', '?')} logical cores" +
          (f", GPU {hw['gpu']}" if hw.get("gpu") else "") + f" · python {hw.get('python', '?')}", "",
          f"- **Data:** {data}.",
          f"- **Model:** {t.get('model_cfg', '?')} trained at {ev['imgsz']} px; latency measured at "
          f"{', '.join(f'{s} px' for s in sizes_of(ev))}, at {' and '.join(map(str, ev.get('threads', [1, 2])))} "
          "thread(s).",
          f"- **Chain:** {chain(inp)}",
          f"- **Runtimes:** {', '.join(vers)}.", ""]
    if t.get("imported_checkpoint"):
        imp = t["imported_checkpoint"]
        md += [f"**The chain started from your checkpoint** `{imp['checkpoint']}` (sha256 {imp['sha256'][:12]}…, "
               f"{imp['arch']}, {imp['nc']} classes, trained by ultralytics {imp['ultralytics_version']}): it was "
               "converted and validated, not retrained; every compressed row descends from it.", ""]
    if paper.note:
        md += [f"> {paper.note.strip()}", ""]
    return md


def paper_section(paper, rows: dict, inp: dict, profile: str) -> tuple[list[str], dict]:
    """The paper's rows beside ours (same methods and metrics). GFLOPs, GMACs and FPS of ours at 640 px where
    measured (the paper's size), else at the trained size (said below the table)."""
    ev, sizes = inp["ev"], sizes_of(inp["ev"])
    size = PAPER_SIZE if PAPER_SIZE in sizes else sizes[0]
    ours = {}
    for name, r in rows.items():
        g = r.get(f"gflops@{size}")
        ours[name] = {"params_m": r.get("params_m"), "gflops": g, "gmacs": None if g is None else g / 2,
                      "map50": r.get("map50")}
    for name in (BASE, CWD):
        lat = latency(find_run(ev, name, "onnxruntime", "fp32"), size, 1)
        if lat and name in ours:
            ours[name]["fps"] = 1000 / lat["p50"]
    trt = find_run(ev, CWD, "tensorrt", "fp32") or find_run(ev, CWD, "tensorrt", "fp16")
    if trt:  # the paper's TensorRT row, only where a GPU ran it
        lat = latency(trt, size, 1)
        ours[f"{CWD}+tensorrt"] = {"map50": trt["map50"], "fps": 1000 / lat["p50"] if lat else None}
    methods = list(dict.fromkeys([BASE, SPARSE, PRUNED, FT, CWD, f"{CWD}+tensorrt", *paper.methods]))
    header_ = ["Method"]
    for m, spec in paper.metrics.items():
        header_ += [f"{spec.get('label', m)} paper", "ours"]
    table = []
    for meth in methods:
        cells = [meth]
        for m, spec in paper.metrics.items():
            rep = paper.reported(meth, m)
            cells += [fmt(rep["value"], spec.get("fmt", ".3g")) if rep else "—",
                      cell((ours.get(meth) or {}).get(m), spec.get("fmt", ".3g"), spec.get("ours_scale", 1))]
        table.append(cells)
    sources = sorted({f"{r['source']} ({r['dataset']})" for r in paper.rows})
    md = ["## Paper vs ours", "", md_table(header_, table), "",
          f"Paper numbers: {'; '.join(sources)}. Ours at profile `{profile}`: params; GFLOPs (2 × MACs), GMACs and FPS "
          f"(1000 / p50 latency, ONNX Runtime fp32, 1 thread, this CPU) at **{size} px**"
          + ("" if size == PAPER_SIZE else f" ({PAPER_SIZE} px not measured at this profile)") + "; AP50 = validation mAP50 "
          "× 100 (mean [95 % interval] (seeds) for the recovered models). '—' = not reported / not run here.", ""]
    return md, ours


def ablation_section(rows: dict, inp: dict) -> list[str]:
    sizes = sizes_of(inp["ev"])
    head = ["Row", "mAP50", "mAP50-95", "Params (M)", *[f"GFLOPs @{s}" for s in sizes], "Measured"]
    table = [[name, cell(r.get("map50")), cell(r.get("map50_95")), cell(r.get("params_m"), ".3f"),
              *[cell(r.get(f"gflops@{s}"), ".3f") for s in sizes], r["how"]] for name, r in rows.items()]
    prune, bf = inp["prune"], inp["prune"].get("before_finetune") or {}
    parent = bf.get("parent")
    md = ["## Ablation", "",
          f"Validation mAP (PyTorch; the Lightning validation with EMA weights that every training stage logs). "
          f"Recovered rows (`{FT}`: fine-tune with the detection loss only; `{CWD}`: + CWD) are mean [95 % interval] "
          "(seeds) over `seeds.json`, the same seeds for both; the random-prune control is mean [95 % interval] "
          "(draws) "
          f"over its random channel choices. Pruning: `{prune.get('mode')}`, ratio {prune.get('ratio')} of "
          f"`{prune.get('input')}`.", "", md_table(head, table), ""]
    if parent:
        md += [f"The pruned rows are measured by `prune` on the validation split before any fine-tuning (no EMA); "
               f"by the same measure the unpruned parent scores mAP50 {parent['map50']:.3f} "
               f"(mAP50-95 {parent['map50_95']:.3f}).", ""]
    return md


def plateau_section(facts: dict) -> list[str]:
    rows = []
    for name, p in facts["plateau"].items():
        if p["holds"] is None:
            verdict = f"not established ({p['epochs']} epoch(s) logged; the rule needs > {PLATEAU_EPOCHS})"
        else:
            verdict = "**at plateau**" if p["holds"] else "**still rising**"
        rows.append([name, str(p["epochs"]), cell(p["last"]), cell(p["best_before"]), cell(p["best_last"]),
                     "—" if p["gain_points"] is None else f"{p['gain_points']:+.2f}", verdict])
    return ["## Plateau checks", "", f"Rule: {PLATEAU_RULE}. Read from each run's Lightning CSV log "
            "(`logs/metrics.csv`, validation mAP50 per epoch).", "",
            md_table(["Run", "Epochs", "last mAP50", f"best before the last {PLATEAU_EPOCHS}",
                      f"best of the last {PLATEAU_EPOCHS}", "gain (points)", "Plateau"], rows), ""]


def runtime_section(ev: dict) -> list[str]:
    sizes, threads = sizes_of(ev), ev.get("threads", [1, 2])
    head = ["Variant", "Backend", "Precision (asked → used)", "Producer", "mAP50", "ultralytics val mAP50",
            "Δ vs PyTorch (points)", *[f"p50 ms @{s} {t} thr" for s in sizes for t in threads], "Peak mem (MB)",
            "File (MB)"]
    rows = []
    for r in ev["runs"]:
        uv = (r.get("options") or {}).get("ultralytics_val")
        drop = r.get("map50_drop_vs_pytorch_points")
        rows.append([r["variant"], r["backend"], f"{r['precision']} → {r.get('precision_used', '?')}",
                     "ours" if r["producer"] == "edgerepro" else r["producer"], cell(r["map50"]),
                     cell(uv["map50"]) if uv else "—", "—" if drop is None else f"{drop:+.2f}",
                     *[cell((latency(r, s, t) or {}).get("p50"), ".2f") for s in sizes for t in threads],
                     cell(r.get("peak_mem_mb"), ".0f"), cell(r["file_bytes"] / 2**20, ".2f")])
    md = ["## Runtimes", "",
          "Every exported model on its runtime, each scored on the validation split by our evaluate (ultralytics NMS, "
          "COCO AP by faster-coco-eval) at the trained size; *used* is the precision the runtime actually computed in "
          "(OpenVINO picks bf16 on a CPU with AMX unless told otherwise); Δ = PyTorch mAP50 of the same model − this "
          "runtime's (ours only); latency p50 of batch-1 runs after warm-up, peak memory = VmHWM of the fresh "
          "measuring process. Ultralytics rows: its own exports of our unpruned baseline, with the mAP50 its own "
          "`val` gave beside ours.", "", md_table(head, rows), "", "![latency vs mAP50](detection.png)", ""]
    missing = list(ev.get("unavailable") or []) + list((ev.get("peer") or {}).get("unavailable") or [])
    if missing:
        md += ["**Could not run here:**", ""]
        md += [f"- `{u.get('variant', '?')}` on {u.get('backend', '?')} {u.get('precision', '')}: "
               f"{u.get('reason', '?')}"
               for u in missing]
        md += [""]
    else:
        md += ["Every runtime the export stage was asked for ran every variant (nothing unavailable).", ""]
    return md


def speed_section(facts: dict) -> list[str]:
    rows = []
    for (size, t), sp in sorted(facts["speedups"].items(), key=lambda x: (x[0][0] != PAPER_SIZE, x[0])):
        rows.append([f"{size} px" + (" (paper's size)" if size == PAPER_SIZE else " (trained size)"), str(t),
                     cell(sp["compression"], ".2f"), cell(sp["int8"], ".2f")])
    if not rows:
        return []
    return ["## Speed-ups", "", "ONNX Runtime CPU, p50 ratios with a 95 % bootstrap interval over the timed runs "
            "(the runs of both models resampled independently, the ratio of medians on each resample). The claims "
            f"are checked at {PAPER_SIZE} px; the trained size is shown beside.", "",
            md_table(["Size", "Threads", "baseline / pruned+cwd (fp32)", "pruned+cwd fp32 / INT8"], rows), ""]


def check_section(facts: dict) -> list[str]:
    ind = facts.get("independent")
    if not ind:
        return []
    gap = 100 * (ind["ours"] - ind["ultralytics"])
    return ["## Independent check of our mAP", "",
            f"ultralytics' own `val` of our `{ind['file']}` gives mAP50 {ind['ultralytics']:.4f} (mAP50-95 "
            f"{fmt(ind['ultralytics_95'], '.4f')}); our evaluate of the same file {ind['ours']:.4f} "
            f"({ind['ours_95']:.4f}): {abs(gap):.2f} points apart (acceptance: ≤ 1 point; claim "
            "`ultralytics_val_agrees`).", ""]


def goal_section(facts: dict) -> list[str]:
    rows = []
    for g in facts["goal"]:
        o, p, s = g["ours"], g["peer"], g["size"]
        rows.append([f"{s} px", f"{g['variant']} · {o['backend']} {o.get('precision_used', o['precision'])}",
                     cell(latency(o, s, 1)["p50"], ".2f"), cell(o["map50"]),
                     f"{p['backend']} {p.get('precision_used', p['precision'])}", cell(latency(p, s, 1)["p50"], ".2f"),
                     cell(p["map50"]), cell(g["speedup"], ".2f"), f"{g['map50_points']:+.1f}"])
    if not rows:
        return []
    return ["## Goal figure: our best compressed model vs ultralytics' fastest export", "",
            "Not a claim: the figure a user choosing between the two would look at. Ours: the compressed variant whose "
            "exported model scores the higher mAP50, on its fastest CPU runtime; peer: the fastest of ultralytics' "
            "exports of the unpruned baseline; 1 thread; mAP50 of both by our evaluate.", "",
            md_table(["Size", "Ours (variant · runtime precision)", "p50 ms", "mAP50", "ultralytics export", "p50 ms",
                      "mAP50", "speed-up (peer / ours)", "mAP50 Δ (points, ours − peer)"], rows), ""]


def sparsity_section(inp: dict, out_dir: Path, data: Path) -> list[str]:
    g = inp["gamma"]
    md = []
    if g:
        keys = ["mean", "median", "l1", *sorted((k for k in g["after"] if k.startswith("frac_below_")
                                                 and not k.endswith("_of_layer_max")),
                                                key=lambda k: -float(k.rsplit("_", 1)[1])),
                *(k for k in g["after"] if k.endswith("_of_layer_max"))]
        rows = [[k, fmt(g["before"].get(k), ".4g"), fmt(g["after"].get(k), ".4g")] for k in keys]
        md += ["## Sparsity training", "", "BatchNorm |γ| of the baseline and after sparsity training "
               "(λ(e) = s0·(1 − 0.9·e/E), the paper's schedule). `frac_below_x`: share of channels with |γ| < x; `…_of_layer_max`: below x times the largest |γ| of the channel's own layer (what the per-layer pruning ranks: a layer followed by another BatchNorm can shrink all its γ together at no cost); "
               "a clear low-|γ| mass (share below 0.1 > 0.05) is the precondition of the |γ|-vs-random claim.", "",
               md_table([r"\|γ\|", "baseline", "after sparsity"], rows), ""]
    src = data / "sparse_train" / "gamma_hist.png"
    if src.is_file():
        atomic_write_bytes(out_dir / "detection_gamma.png", src.read_bytes())
        md += ["![|γ| histogram before/after sparsity training](detection_gamma.png)", ""]
    return md


def step_rows(csv_path: Path) -> list[dict[str, float]]:
    """The step rows of a Lightning CSV log (the ones holding training losses), as floats."""
    out = []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            vals = {k: float(v) for k, v in row.items() if k and v not in (None, "")}
            if any(k.startswith("train/distill_") for k in vals):
                out.append(vals)
    return out


def loss_share(data: Path, seeds: list[int]) -> dict[int, dict]:
    """Per distill seed: the share of the CWD terms (weight × loss, summed over the taps) in the per-image training
    loss (CWD + box + cls + DFL) at the first logged step and averaged over every logged step; {} if not logged."""
    out = {}
    for s in seeds:
        p = data / "distill" / "seeds" / str(s) / "logs" / "metrics.csv"
        if not p.is_file():
            continue
        shares = []
        for r in step_rows(p):
            d = sum(v for k, v in r.items() if k.startswith("train/distill_"))
            t = sum(r[k] for k in DET_LOSS if k in r)
            if t > 0 and any(k in r for k in DET_LOSS):
                shares.append(d / (d + t))
        if shares:
            out[s] = {"start": shares[0], "mean": sum(shares) / len(shares), "steps": len(shares)}
    return out


def sweep_section(inp: dict, share: dict) -> list[str]:
    sw = inp["sweep"]
    md = []
    if sw:
        seed = int(sw.get("seed", inp["cwd"]["seeds"][0]))
        ft, cwd = inp["ft"]["runs"].get(str(seed)), inp["cwd"]["runs"].get(str(seed))
        rows = []
        if ft:
            rows.append(["pruned+ft (no CWD)", "0", "—", cell(ft["val/map50"]), cell(ft["val/map50_95"]), "—"])
        runs = []
        if cwd:
            runs.append(("pruned+cwd (`distill`)", sw["distill_cwd_weight"], sw.get("cwd_tau"), cwd))
        runs += [(f"`{k}`", r["cwd_weight"], r.get("cwd_tau"), r) for k, r in sw["runs"].items()]
        for label, w, tau, r in sorted(runs, key=lambda x: (x[2] or 0, x[1])):
            rows.append([label, f"{w:g}", fmt(tau, "g"), cell(r["val/map50"]), cell(r["val/map50_95"]),
                         f"{100 * (r['val/map50'] - ft['val/map50']):+.1f}" if ft else "—"])
        md += ["## CWD weight and temperature", "",
               f"The `cwd_sweep` stage reruns `distill`'s recipe (same pruned model, teacher and epochs) with other "
               f"weights (per tap) and temperatures τ, on seed {seed}; each row beside fine-tuning and `distill` on "
               "that same seed (Lightning validation, PyTorch, EMA). One seed: the differences carry training noise "
               "(the seed spread of the recovered rows is in the ablation above).", "",
               md_table(["Run", "CWD weight", "τ", "val mAP50", "val mAP50-95", "Δ mAP50 vs fine-tune (points)"], rows),
               ""]
    if share:
        per = "; ".join(f"seed {s}: {100 * v['start']:.0f} % at the first logged step, {100 * v['mean']:.0f} % on "
                        f"average over {v['steps']} logged steps" for s, v in share.items())
        n = len(share)
        md += [f"Share of the CWD terms (weight × loss, summed over the taps) in the per-image training loss of "
               f"`distill` (CWD + box + cls + DFL): {per}; mean over the {n} seed(s): "
               f"{100 * sum(v['start'] for v in share.values()) / n:.0f} % at the start, "
               f"{100 * sum(v['mean'] for v in share.values()) / n:.0f} % on average.", ""]
    else:
        md += ["The CWD terms' share of the loss is not shown: the `distill` logs at this profile hold no "
               "`train/distill_*` step rows.", ""]
    return md


def structure_section(s: dict | None, paper) -> list[str]:
    if not s:
        return []
    before, after = BASE, CWD  # the paper's structural figures are its baseline / compressed rows

    def pv(method, metric, spec):
        r = paper.reported(method, metric)
        return fmt(r["value"], spec) if r else "—"

    def row(label, metric, ours_before, ours_after, spec):
        return [label, pv(before, metric, spec), fmt(ours_before, spec), pv(after, metric, spec), fmt(ours_after, spec)]

    red = []
    for metric in ("params_m", "gflops"):
        b, a = paper.reported(before, metric), paper.reported(after, metric)
        red.append(f"{100 * (1 - a['value'] / b['value']):.1f} %" if a and b else "—")
    rows = [row("Params (M)", "params_m", s["params_before"] / 1e6, s["params_after"] / 1e6, ".2f"),
            row("GFLOPs (ours: 2 × MACs)", "gflops", s["gflops_before"], s["gflops_after"], ".1f"),
            row("GMACs", "gmacs", s["gmacs_before"], s["gmacs_after"], ".1f"),
            ["reduction (params / FLOPs)", "", "", " / ".join(red),
             f"{100 * (1 - s['params_ratio']):.1f} % / {100 * (1 - s['gflops_ratio']):.1f} %"]]
    if "tp_gmacs_before" in s:
        rows.insert(3, ["GMACs, Torch-Pruning count_ops_and_params", "", fmt(s["tp_gmacs_before"], ".1f"), "",
                        fmt(s["tp_gmacs_after"], ".1f")])
    return ["## Structural check at the paper's scale", "",
            f"{s['model_cfg']} at {s['imgsz']}×{s['imgsz']}, random init (no training, no sparsity), pruned with the "
            f"pipeline's rule (`{s['mode']}`, ratio {s['ratio']}).", "",
            md_table(["", "paper before", "ours before", "paper after", "ours after"], rows), "",
            f"Ours: {s['flops_convention']}. The paper's before-figures (its 'GFLOPs' and 'GMACs' of stock YOLOv8m) "
            "cannot both hold (GMACs = GFLOPs / 2 ≈ 39 at 640 for every counter we ran), so its unit is unknown: the "
            "reductions are compared, and the absolute floor (≤ 14.5 G) is checked on the multiply-accumulate count, "
            "the unit thop and Torch-Pruning's `count_ops_and_params` report and YOLO pruning papers usually call "
            "'FLOPs'.", ""]


def runtime_plot(ev: dict, facts: dict) -> bytes:
    """mAP50 vs p50 latency (1 thread) of every runtime row, one panel per measured size (640 px first): ours
    coloured by variant, marker by runtime and precision; ultralytics' exports as black-edged stars."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    sizes = sorted(facts["sizes"], key=lambda s: (s != PAPER_SIZE, s))
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(4.8 * len(sizes) + 3.0, 4.2), dpi=120, squeeze=False,
                             gridspec_kw={"width_ratios": [4.8] * len(sizes) + [3.0]})
    colours = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(r["variant"] for r in ev["runs"]
                                                              if r["producer"] == "edgerepro"))}
    kinds = list(dict.fromkeys((r["backend"], r["precision"]) for r in ev["runs"] if r["producer"] == "edgerepro"))
    markers = dict(zip(kinds, "osD^vPXh<>p"))
    peers = list(dict.fromkeys((r["backend"], r["precision"]) for r in ev["runs"] if r["producer"] != "edgerepro"))
    peer_colours = dict(zip(peers, ["gold", "magenta", "cyan", "lime", "white", "red"]))
    handles = {}
    for ax, size in zip(axes[0], sizes):
        for r in ev["runs"]:
            lat = latency(r, size, 1)
            if not lat:
                continue
            used = r.get("precision_used", r["precision"])
            if r["producer"] == "edgerepro":
                label = f"{r['variant']} · {r['backend']} {used}"
                h = ax.scatter([lat["p50"]], [r["map50"]], s=40, color=colours[r["variant"]],
                               marker=markers.get((r["backend"], r["precision"]), "o"), alpha=0.85)
            else:
                label = f"{r['producer']}: {r['variant']} · {r['backend']} {used}"
                h = ax.scatter([lat["p50"]], [r["map50"]], s=170, marker="*", edgecolors="black",
                               color=peer_colours.get((r["backend"], r["precision"]), "gold"),
                               linewidths=0.8, zorder=3)
            handles.setdefault(label, h)
        ax.set_xscale("log")
        for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):  # 2, 3, 5 … not 2×10⁰
            axis(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(f"p50 latency, 1 thread, {size} px (ms, log scale)")
        ax.set_ylabel("mAP50 (validation, at the trained size)")
        ax.set_title(f"{size} px" + (" (the paper's size)" if size == PAPER_SIZE else " (trained size)"), fontsize=10)
        ax.grid(alpha=0.3, which="both")
    legend = axes[0][-1]
    legend.axis("off")
    if handles:
        legend.legend(list(handles.values()), list(handles), fontsize=6.5, loc="center left", frameon=False)
    fig.suptitle("detection: accuracy vs latency across runtimes (★ ultralytics' own exports of the baseline)",
                 fontsize=10)
    return _png(fig)


def recovery_plot(curves: dict[str, tuple]) -> bytes:
    """Validation mAP50 per epoch of every seed of fine-tune (dashed) and CWD (solid)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        cwd = name.startswith(CWD)
        ax.plot(xs, ys, marker=".", linestyle="-" if cwd else "--", color="C1" if cwd else "C0",
                alpha=0.55 + 0.45 / (1 + i % 3), label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation mAP50 (PyTorch, EMA)")
    ax.set_title("recovery of the pruned model: fine-tune (dashed) vs CWD (solid), every seed", fontsize=10)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def curves_sections(data: Path, out_dir: Path, inp: dict) -> list[str]:
    md = ["## Training and recovery curves", ""]
    teacher = data / "train_teacher" / "logs" / "metrics.csv"
    if teacher.is_file():
        c = read_epoch_metrics(teacher)
        loss = {k: v for k, v in c.items() if k.startswith("train/") and k != "train/lr"}
        val = {k: c[k] for k in ("val/map50", "val/map50_95") if k in c}
        atomic_write_bytes(out_dir / "detection_training.png",
                           line_plot(loss, "epoch", "training loss (per image)", "baseline: training curves",
                                     secondary=val, secondary_label="validation mAP"))
        md += ["Baseline loss per epoch and validation mAP (PyTorch, EMA), from its "
               "Lightning CSV log.", "", "![training curves](detection_training.png)", ""]
    curves = {}
    for stage, label, key in (("finetune", FT, "ft"), ("distill", CWD, "cwd")):
        for s in inp[key]["seeds"]:
            c = val_curve(data / stage / "seeds" / str(s) / "logs" / "metrics.csv")
            if c:
                curves[f"{label} seed {s}"] = c
    atomic_write_bytes(out_dir / "detection_recovery.png", recovery_plot(curves))
    md += ["Recovery after pruning: validation mAP50 per epoch of every seed of fine-tune and of CWD (same recipe, "
           "epochs and seeds).", "", "![recovery](detection_recovery.png)", ""]
    return md


def run(data: str | Path = DATA, out_dir: str | Path = "reports", profile: str | None = None,
        paper_path: str | Path = PAPER) -> dict:
    data, out_dir = Path(data), Path(out_dir)
    profile = profile or project_params()["profile"]
    paper = load_paper(paper_path)
    inp = load_inputs(data)
    derived, facts = derive(inp, data)
    rows = ablation(inp)
    claims = check_claims(paper, derived, profile)
    ev = inp["ev"]
    share = loss_share(data, inp["cwd"]["seeds"])

    atomic_write_bytes(out_dir / "detection.png", runtime_plot(ev, facts))
    paper_md, ours = paper_section(paper, rows, inp, profile)
    md = header(inp, paper, profile) + paper_md
    md += ["## Claims", ""] + claims_table(claims)
    if facts["unpaired_seeds"]:
        md += [f"Seeds run by only one of fine-tune / distill ({facts['unpaired_seeds']}) are left out of the "
               "paired CWD − fine-tune difference.", ""]
    md += ablation_section(rows, inp) + plateau_section(facts) + runtime_section(ev) + speed_section(facts)
    md += check_section(facts) + goal_section(facts) + sparsity_section(inp, out_dir, data)
    md += curves_sections(data, out_dir, inp) + sweep_section(inp, share) + structure_section(inp["structure"], paper)
    md += ["_Generated by `dvc repro tasks/detection` from `data/detection/`; paper numbers from "
           "`tasks/detection/paper.yaml`._", ""]
    # every training run's curves as CSV (DVC plots: `dvc plots show`)
    write_curves(out_dir, "detection", training_logs(data), last="val/map50")

    runtimes = [{k: v for k, v in r.items() if k != "latency"} | {
        "p50_ms": {s: {t: (latency(r, s, t) or {}).get("p50") for t in ev.get("threads", [1, 2])}
                   for s in facts["sizes"]}} for r in ev["runs"]]
    doc = {"task": "detection", "paper": {"title": paper.title, "short": paper.short or paper.title,
                                          "arxiv": paper.arxiv},
           "profile": profile, "hardware": ev["hardware"],
           "data": {k: v for k, v in inp["stats"].items() if k != "classes"},
           "variants": _plain({**rows, **{k: v for k, v in ours.items() if k not in rows}}),
           "derived": _plain(derived), "claims": claims, "runtimes": runtimes,
           "unavailable": list(ev.get("unavailable") or []) + list((ev.get("peer") or {}).get("unavailable") or []),
           "plateau": {"rule": PLATEAU_RULE, "runs": facts["plateau"]},
           "speedups": [{"size": s, "threads": t, **_plain(v)} for (s, t), v in facts["speedups"].items()],
           "goal": [{"size": g["size"], "variant": g["variant"], "ours": g["ours"]["key"],
                     "ours_precision_used": g["ours"].get("precision_used"), "peer": g["peer"]["key"],
                     "peer_precision_used": g["peer"].get("precision_used"), "speedup": _plain(g["speedup"]),
                     "map50_points": g["map50_points"]} for g in facts["goal"]],
           "independent_check": facts.get("independent"),
           "cwd_loss_share": {str(k): v for k, v in share.items()}}
    for name, v in doc["variants"].items():  # the paper table's numbers of ours, for the index and `dvc metrics`
        v.update({k: _plain(x) for k, x in ours.get(name, {}).items() if k not in v})
    atomic_write_text(out_dir / "detection.md", "\n".join(md))
    atomic_write_json(out_dir / "detection.json", doc)
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.detection.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="where to write the report (default: `reports` of params.yaml)")
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    args.out = report_dir(args.out)  # refuses to overwrite the committed reports from another profile
    run(args.data, args.out)


if __name__ == "__main__":
    main()
