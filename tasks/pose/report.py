"""Root stage ``tasks/pose``: render ``reports/pose.{md,json,png}`` from the pipeline's outputs and
``tasks/pose/paper.yaml``: the paper's CrowdPose table beside ours, the kernel (3×3 vs 7×7) and fusion
ablations, the MAC check at the paper's input sizes, fp32 vs INT8, and an AP-vs-latency plot."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common.io import project_params, read_json
from common.reports.render import fmt, fmt_interval, md_table, render_task_report, training_logs, write_curves
from common.reports import report_dir
from common.reports.schema import load_paper

DATA = Path("data/pose")
MAIN, K3, NOFUSION, PEER = "litepose-xs", "litepose-xs-k3", "litepose-xs-nofusion", "yolov8n-pose"
COLUMNS = [("params_m", "Params (M)", ".3f"), ("gmacs", "GMACs (ours, input size)", ".3f"), ("ap", "AP", ".3f"),
           ("ap50", "AP50", ".3f"), ("ap75", "AP75", ".3f"),
           ("ap_oracle_grouping", "AP, true grouping", ".3f"), ("latency_ms_t1", "ONNX p50 1 thr (ms)", ".2f"),
           ("latency_ms_t2", "ONNX p50 2 thr (ms)", ".2f"), ("onnx_mb", "ONNX (MB)", ".2f"),
           ("tag_between_std", "tag std between people", ".2g"), ("tag_within_std", "tag std within a person", ".2g"),
           ("tag_threshold", "tag threshold", "g"),
           ("train_min", "train (min)", ".1f")]


def _boot(data: Path) -> dict[str, np.ndarray]:
    path = data / "evaluate" / "bootstrap.npz"
    if not path.is_file():
        return {}
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _seed_aps(summary: dict, variant: str) -> dict[int, float]:
    s = (summary.get("seeds") or {}).get(variant)
    return {int(k): float(v["ap"]) for k, v in s["per_seed"].items()} if s else {}


def gap(summary: dict, boot: dict, a: str, b: str, scale: float = 100.0):
    """a − b (AP × ``scale``) with its interval: per-seed paired differences (seeds a model of ``b`` lacks pair
    with its first seed: the peer has one) and the same image resamples for both."""
    from common.evaluate.intervals import estimate

    aps_a, aps_b = _seed_aps(summary, a), _seed_aps(summary, b)
    if not aps_a or not aps_b:
        return None
    b_first = next(iter(aps_b))
    pairs = [(s, s if s in aps_b else b_first) for s in aps_a]
    per_seed = [scale * (aps_a[s] - aps_b[t]) for s, t in pairs]
    keys = [(f"{a}@{s}", f"{b}@{t}") for s, t in pairs]
    draws = None
    if all(ka in boot and kb in boot for ka, kb in keys):
        draws = np.stack([scale * (boot[ka] - boot[kb]) for ka, kb in keys], axis=1)
    n_b = len(aps_b)
    noise = "" if n_b == len(aps_a) else f"{b}: {n_b} training run(s), its training noise not covered"
    return estimate(per_seed, draws, n_items=f"{summary.get('val_images', '?')} validation images", noise=noise)


def level(summary: dict, boot: dict, a: str):
    from common.evaluate.intervals import estimate

    aps = _seed_aps(summary, a)
    if not aps:
        return None
    keys = [f"{a}@{s}" for s in aps]
    draws = np.stack([boot[k] for k in keys], axis=1) if all(k in boot for k in keys) else None
    return estimate(list(aps.values()), draws, n_items=f"{summary.get('val_images', '?')} validation images")


def runtime_gap(summary: dict, boot: dict, variant: str, backend: str, precision: str):
    """AP points of ``variant``'s ONNX Runtime fp32 model minus its ``backend`` ``precision`` model (the same trained
    weights: evaluation noise only)."""
    from common.evaluate.intervals import estimate

    rt = {(r["variant"], r["backend"], r["precision"]): r for r in summary.get("runtimes", [])}
    ref, other = rt.get((variant, "onnxruntime", "fp32")), rt.get((variant, backend, precision))
    if ref is None or other is None:
        return None
    seed = next(iter(_seed_aps(summary, variant)), 0)
    ka, kb = f"{variant}/onnxruntime/fp32@{seed}", f"{variant}/{backend}/{precision}@{seed}"
    draws = 100 * (boot[ka] - boot[kb]) if ka in boot and kb in boot else None
    return estimate([100 * (ref["ap"] - other["ap"])], draws, trained=False,
                    n_items=f"{summary.get('val_images', '?')} validation images")


def deterministic(value: float):
    from common.evaluate.intervals import estimate

    return estimate([value], None, n_items="—", trained=False)


def derive(variants: dict[str, dict], structure: dict | None, paper, summary: dict | None = None,
           boot: dict | None = None) -> dict:
    summary, boot = summary or {}, boot or {}
    out = {}
    if MAIN in variants:
        out["xs_ap"] = level(summary, boot, MAIN) or variants[MAIN]["ap"]
        out["xs_int8_ap_drop_points"] = runtime_gap(summary, boot, MAIN, "onnxruntime", "int8")
        out["xs_ov_int8_ap_drop_points"] = runtime_gap(summary, boot, MAIN, "openvino", "int8")
    if MAIN in variants and K3 in variants:
        out["kernel_ap_gain_points"] = gap(summary, boot, MAIN, K3)
    if MAIN in variants and PEER in variants:
        out["xs_vs_peer_ap_points"] = gap(summary, boot, MAIN, PEER)
        out["peer_over_xs_latency_t1"] = variants[PEER]["latency_ms_t1"] / variants[MAIN]["latency_ms_t1"]
    if MAIN in variants and NOFUSION in variants:
        out["fusion_ap_gain_points"] = gap(summary, boot, MAIN, NOFUSION)
    if structure:
        m = structure["models"]
        for key, method in (("XS", "litepose-xs"), ("S", "litepose-s"), ("M", "litepose-m"), ("L", "litepose-l")):
            rep = paper.reported(method, "gmacs_paper_input")
            if key in m and rep:
                out[f"{key.lower()}_macs_rel_error"] = deterministic(
                    abs(m[key]["gmacs_paper_convention"] - rep["value"]) / rep["value"])
        if "XS" in m and "XS-k3" in m:
            out["kernel_mac_ratio"] = deterministic(m["XS"]["gmacs_paper_convention"] / m["XS-k3"]["gmacs_paper_convention"])
    return {k: v for k, v in out.items() if v is not None}


def runtime_section(summary: dict) -> list[str]:
    """Every deployed model on every CPU runtime: its own AP, latency, peak memory and size."""
    rts = summary.get("runtimes") or []
    if not rts:
        return []
    rows = []
    for r in rts:
        lat = r["latency_ms"]
        rows.append([r["variant"], r["backend"], r["precision"], r["precision_used"], fmt(r["ap"], ".3f"),
                     fmt(r["ap50"], ".3f"), fmt(lat.get("1", {}).get("p50"), ".2f"), fmt(lat.get("2", {}).get("p50"), ".2f"),
                     fmt(r["peak_mem_mb"], ".0f"), fmt(r["file_bytes"] / 2**20, ".2f")])
    md = ["## Runtimes", "",
          "The first seed's model of each variant and the peer on each CPU runtime: accuracy measured on the "
          "runtime's own outputs (not assumed from PyTorch), p50 latency of one image in a fresh process, the peak "
          "memory that loading and running the model added to it, and the file size. 'Precision used' is what the "
          "runtime computed in: OpenVINO's default on this CPU is bf16 (AMX), as a user shipping the IR gets. "
          f"Versions: {', '.join(f'{k} {v}' for k, v in (summary.get('runtime_versions') or {}).items() if v)}.", "",
          md_table(["model", "runtime", "precision", "precision used", "AP", "AP50", "p50 1 thr (ms)",
                    "p50 2 thr (ms)", "peak memory (MB)", "file (MB)"], rows), ""]
    for u in summary.get("unavailable") or []:
        md.append(f"- {u['variant']}: {u['backend']} {u['precision']} not measured: {u['reason']}")
    return md + ([""] if summary.get("unavailable") else [])


def seeds_section(summary: dict, boot: dict) -> list[str]:
    seeds = summary.get("seeds") or {}
    if not seeds:
        return []
    rows = []
    for v, d in seeds.items():
        est = level(summary, boot, v)
        per = ", ".join(f"{float(x['ap']):.3f}" for x in d["per_seed"].values())
        rows.append([v, str(len(d["seeds"])), per, fmt_interval(est.value, est.lo, est.hi, ".3f") if est else "—"])
    return ["## Seeds", "",
            "OKS AP of every training run (ONNX Runtime fp32), and the mean with its 95 % interval: the seeds' "
            "Student-t spread combined with a bootstrap over the validation images (the same resamples for every "
            "model, so the ablation gaps are paired).", "",
            md_table(["model", "seeds", "AP per seed", "mean AP [95 %]"], rows), ""]


def structure_section(structure: dict, paper) -> list[str]:
    rows = []
    for name, r in structure["models"].items():
        rep = paper.reported(f"litepose-{name.lower()}", "gmacs_paper_input")
        rows.append([name, str(r["imgsz"]), str(r.get("kernel") or 7), "yes" if r.get("fusion", True) else "no",
                     fmt(r["params"] / 1e6, ".2f"), fmt(rep["value"], ".2f") if rep else "—",
                     fmt(r["gmacs_paper_convention"], ".3f"), fmt(r["gmacs_ptflops"], ".3f"), fmt(r["gmacs_torch"], ".3f")])
    return ["## MACs at the paper's input sizes", "",
            "Untrained models, 14 joints. The paper counts with ptflops (the LitePose repo's counter). Its figures "
            "match ptflops when transposed convolutions are counted per *output* position, as ptflops did before "
            "it gained its `transpose` rule (4× the true MACs of a stride-2 deconv): the 'paper convention' column, "
            "on which the MAC claims are checked. 'ptflops now' counts them per input position (the true MACs); "
            "'torch' is `torch.utils.flop_counter` / 2 (convolutions only, no BN/ReLU).", "",
            md_table(["model", "input", "kernel", "fusion", "params (M)", "paper GMACs", "ours, paper convention",
                      "ours, ptflops now", "ours, torch"], rows), ""]


def ablation_section(variants: dict[str, dict]) -> list[str]:
    """The paper's ablations (kernel, fusion) and the peer, each against LitePose-XS on the same budget."""
    if MAIN not in variants:
        return []
    base = variants[MAIN]
    labels = {MAIN: "LitePose-XS (7×7, fusion head) — the paper's design", K3: "3×3 depthwise kernels",
              NOFUSION: "no backbone fusion in the deconv head", PEER: "YOLOv8n-pose (peer, ultralytics' trainer)"}
    rows = []
    for name, label in labels.items():
        if name not in variants:
            continue
        v = variants[name]
        rows.append([label, fmt(v.get("gmacs_paper_input"), ".3f") if v.get("gmacs_paper_input") else "—",
                     fmt(v["gmacs"], ".3f"), fmt(v["ap"], ".3f"),
                     "" if name == MAIN else f"{100 * (v['ap'] - base['ap']):+.1f}", fmt(v["latency_ms_t1"], ".2f"),
                     fmt(base["latency_ms_t1"] / v["latency_ms_t1"], ".2f")])
    return ["## Ablations and peer", "",
            "Same data, input size, epochs and batch; AP of the first seed's exported fp32 ONNX model (the intervals "
            "over every seed are in the claims and under Seeds); latency at 1 thread.", "",
            md_table(["model", "GMACs at 256 (paper convention)", "GMACs at our input", "AP", "Δ AP vs XS (points)",
                      "ONNX p50 1 thr (ms)", "speed vs XS"], rows), ""]


def recipe_text(recipe: dict | None) -> str:
    """The loss and augmentation a LitePose variant was trained with, as its training stage recorded them."""
    if not recipe:
        return "AE pull/push (recipe not recorded)"
    push = {"exp": "exp(−Δ²)", "max": "hinge max(0, 1 − |Δ|)"}.get(recipe["ae_type"], recipe["ae_type"])
    rotation = f"rotation ±{recipe['max_rotation']:g}°" if recipe["max_rotation"] else "no rotation"
    text = (f"AE pull × {recipe['pull_factor']:g} and push × {recipe['push_factor']:g} with the {push} push "
            f"(LitePose's configs: exp, × 0.001 each); augmentation: {rotation}, scale "
            f"{recipe['min_scale']:g}–{recipe['max_scale']:g}, flip {recipe['flip']:g} (HigherHRNet's: ±30°, "
            f"0.75–1.5, 0.5)")
    return text


def ablation_caveat(derived: dict) -> list[str]:
    """What the ablation gaps rest on, from this run's numbers."""
    from common.evaluate.intervals import as_interval

    parts = []
    for key, what in (("kernel_ap_gain_points", "kernel gap (7×7 − 3×3)"), ("fusion_ap_gain_points",
                                                                             "fusion gap (fusion − none)")):
        if key in derived:
            v, lo, hi = as_interval(derived[key])
            n = derived[key].n_seeds if hasattr(derived[key], "n_seeds") else 1
            parts.append(f"the {what} is {v:+.1f} AP points [{lo:+.1f}, {hi:+.1f}] over {n} seed(s)")
    if not parts:
        return []
    return ["Ablations: every variant is trained with the same seeds; " + "; ".join(parts) + " (95 % intervals: "
            "seed spread and a bootstrap over the validation images; a verdict is drawn only when the interval "
            "lies on one side of 0)."]


def recipe_thresholds(summary: dict) -> str:
    rec = summary["variants"].get(MAIN, {})
    cands = (rec.get("train_ap_by_tag_threshold") or {}).keys()
    return ", ".join(cands) if cands else "its configured value"


def run(data: str | Path = DATA, out_dir: str | Path = "reports") -> dict:
    data, out_dir = Path(data), Path(out_dir)
    summary = read_json(data / "evaluate" / "metrics.json")
    structure = read_json(data / "structure" / "structure.json")
    paper = load_paper("tasks/pose/paper.yaml")
    variants = {}
    for name, rec in summary["variants"].items():
        v = dict(rec)
        v["params_m"] = v["params"] / 1e6
        v["onnx_mb"] = v["onnx_bytes"] / 2**20
        v["train_min"] = (v.get("train_seconds") or 0) / 60 if not v.get("int8") else None
        # the paper's MACs are at its input size: ours from the structural check of the same architecture
        arch = {MAIN: "XS", K3: "XS-k3", NOFUSION: "XS-nofusion"}.get(name.removesuffix("+int8"))
        if arch in structure["models"]:
            v["gmacs_paper_input"] = structure["models"][arch]["gmacs_paper_convention"]
        variants[name] = v
    boot = _boot(data)
    derived = derive(variants, structure, paper, summary, boot)
    notes = [
        f"Training: each variant through the common Lightning module, same recipe and budget (Adam, lr 4e-3, "
        f"linear decay; heatmap MSE at 1/4 and 1/2 + {recipe_text(variants.get(MAIN, {}).get('recipe'))}), "
        f"input {summary['imgsz']} px. "
        f"The peer ({PEER}) is built from ultralytics' YAML (random init) and trained by ultralytics' own trainer "
        "with its defaults for the same epochs, image size and batch — the way its users train it; it is "
        "exported and measured exactly like LitePose (NMS conf 0.001, IoU 0.7, its box score as the person score).",
        "AP: OKS AP of the exported ONNX model on the validation split (pycocotools, CrowdPose OKS constants), "
        "after HigherHRNet-style grouping (heatmaps of both scales averaged, 5×5 peak NMS, Hungarian matching "
        "of tags, quarter-pixel adjustment, refinement of missing joints; person score = mean of its K joint "
        "values); no flip test, no multi-scale test.",
        "Tags: the associative-embedding values at the labelled joints of the validation images with ≥ 2 people "
        "— the spread of the people's mean tags ('between') and the spread inside one person ('within'). Grouping "
        "separates people only when 'between' is well above the tag threshold and ≫ 'within'; tags that "
        "collapse to one value for everybody (both near 0) leave grouping to chance, which caps AP whatever the "
        "heatmaps' quality.",
        "Tag threshold: the largest tag distance at which a joint joins a person when decoding. HigherHRNet "
        "fixes it at 1 (the push margin); here each variant's training stage picks it among "
        f"{recipe_thresholds(summary)} by OKS AP on training images (never on the validation split).",
        "AP, true grouping: each LitePose model's own heatmaps decoded with ground-truth tags instead of its "
        "own (every pixel of joint map k carries the id of the person whose labelled joint k is nearest) — the AP "
        "its heatmaps would reach with perfect grouping. The gap between it and AP is what grouping by the learnt "
        "tags loses; the gap between it and 1 is localisation (heatmap quality).",
        "Where the smoke recipe departs from LitePose's (the values above are those the training stage recorded; "
        "the full profile keeps the paper's): at smoke's 700–1,000 optimiser steps the paper's exp(−Δ²) push × 0.001 leaves "
        "the tags collapsed to one value for everybody (its gradient vanishes at Δ = 0, so once the pull has "
        "drawn a person's tags together nothing pushes people apart), and HigherHRNet's ±30° / 0.75–1.5 "
        "augmentation, meant for 300 epochs, keeps the heatmaps close to an all-zero prediction. The loss is "
        "still LitePose's (heatmap MSE at both scales + AE pull/push); only the push's form (HigherHRNet's own "
        "hinge option), its weights and the augmentation are set for the budget.",
        *ablation_caveat(derived),
        "Decoding follows the authors' evaluation (HigherHRNet's PROJECT2IMAGE): the heatmaps and tags of both "
        "scales are resized to the input size before peaks are found and grouped, so keypoints land on a 1-pixel "
        "grid of the input (not the 2-pixel grid of the 1/2 map).",
        "Latency: batch 1, p50 after warm-up, in a fresh process per model; ONNX Runtime INT8 = static QDQ, "
        "per-channel int8 weights, uint8 activations, MinMax calibration on training images; OpenVINO INT8 = NNCF "
        "post-training quantization on the same images (see Runtimes).",
    ]
    write_curves(out_dir, "pose", training_logs(data / "train"))  # DVC plots: reports/curves/pose/
    return render_task_report(task="pose", paper=paper, profile=project_params()["profile"],
                              hardware=summary["hardware"], variants=variants,
                              derived=derived, columns=COLUMNS,
                              plot={"x": "latency_ms_t1", "y": "ap", "xlabel": "ONNX CPU latency, 1 thread (ms)",
                                    "ylabel": "OKS AP"},
                              out_dir=out_dir, notes=notes,
                              extra_sections=(ablation_section(variants) + seeds_section(summary, boot)
                                              + runtime_section(summary) + structure_section(structure, paper)),
                              row_order=["litepose-xs", "litepose-s", "litepose-m", "litepose-l", "higherhrnet-w24",
                                         *[v for v in variants if v != MAIN]])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.pose.report", description=__doc__)
    ap.add_argument("--out", default=None, help="where to write the report (default: `reports` of params.yaml)")
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    args.out = report_dir(args.out)  # refuses to overwrite the committed reports from another profile
    run(args.data, args.out)


if __name__ == "__main__":
    main()
