"""Stage ``evaluate``: E-ARMOR's protocol on the validation images for every engine of
:mod:`tasks.ocr.engines` — word-level precision / recall / F1 (primary), CER, semantic consistency,
per-language and per-edge-case breakdowns, CPU latency per image, peak memory and cost per 1,000 images
(CPU-seconds × ``usd_per_cpu_hour``).

Each engine runs in its own spawned process (one thread; ``common.evaluate.measure``), so its peak resident
memory is its own and no engine warms another's caches; one warm-up image is not timed. The detector runs at the
input size it was exported at (``data/ocr/export/export.json``). Writes ``data/ocr/evaluate/results.json``
and ``predictions.jsonl`` (every engine's reading of every image).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageParams, main

DATA_DIR = "data/ocr/prepare/dataset"
EXPORT_DIR = "data/ocr/export"
Engine = Literal["ours-int8", "ours-fp32", "big-model", "tesseract", "rapidocr"]  # tasks.ocr.engines.ENGINES


class Params(StageParams):
    threads: int = Field(1, ge=1, description="CPU threads of every engine (1: latencies compare like for like)")
    max_images: int | None = Field(None, ge=1, description="first N validation images (null: all)")
    usd_per_cpu_hour: float = Field(0.0464, gt=0, description="price of one CPU-hour, for the cost per 1,000 images")
    engines: list[Engine] = Field(min_length=1, description="the engines to run, in this order")


def read_engine(name: str, cfg: dict) -> dict:
    """One engine over the validation images, in its own measuring process (``common.evaluate.measure``): its
    readings, wall and CPU seconds per image (children included: Tesseract is a subprocess), load time."""
    import resource
    import time

    import numpy as np

    from tasks.ocr import engines
    from tasks.ocr.data import load_split, read_rgb
    from tasks.ocr.text import Charset

    root = Path(cfg["data_dir"])
    rows = load_split(root, "val")[: cfg["max_images"]]
    t0 = time.perf_counter()
    eng = engines.build(name, export_dir=cfg["export_dir"], charset=Charset.load(root / "charset.json"),
                        det_imgsz=cfg["det_imgsz"], threads=cfg["threads"])
    load_s = time.perf_counter() - t0
    eng(read_rgb(root / "images" / rows[0]["file"]), rows[0]["language"])  # warm-up, not timed
    preds, wall, cpu = [], [], []
    for r in rows:
        img = read_rgb(root / "images" / r["file"])
        s0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = eng(img, r["language"])
        wall.append(time.perf_counter() - t)
        s1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime)
                   + (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime))
        preds.append([[np.asarray(qd, float).reshape(-1).round(1).tolist(), text] for qd, text in out])
    return {"preds": preds, "wall": wall, "cpu": cpu, "load_s": load_s, "version": getattr(eng, "version", None)}


def run_engine(name: str, cfg: dict) -> dict:
    """:func:`read_engine` in a fresh process (so its peak resident memory is its own and no engine warms
    another's caches), with that process's peak memory and its children's (Tesseract's)."""
    from common.evaluate.measure import run_measured

    try:
        m = run_measured(read_engine, name, cfg)
    except Exception as e:  # noqa: BLE001 - the engine named
        raise RuntimeError(f"engine {name} failed: {type(e).__name__}: {e}") from e
    return {**m.result, "peak_rss_mb": m.peak_rss_mb, "peak_child_rss_mb": m.peak_child_rss_mb}


def group_prf(rows: list[dict], gt: list[str], pred: list[str], key: str) -> dict[str, dict]:
    from collections import defaultdict

    from tasks.ocr.metrics import word_prf

    groups = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r[key]].append(i)
    return {g: {**word_prf([gt[i] for i in idx], [pred[i] for i in idx]), "images": len(idx)}
            for g, idx in sorted(groups.items())}


def summarise(rows: list[dict], res: dict, usd_per_cpu_hour: float) -> tuple[dict, list[str], list[str]]:
    import numpy as np

    from tasks.ocr.metrics import cer, reading_order, word_prf

    gt = [reading_order([w["quad"] for w in r["words"] if not w.get("ignore")],
                        [w["text"] for w in r["words"] if not w.get("ignore")]) for r in rows]
    pred = [reading_order([q for q, _ in p], [t for _, t in p]) for p in res["preds"]]
    overall = word_prf(gt, pred)
    wall = np.asarray(res["wall"])
    cpu_s = float(np.mean(res["cpu"]))
    out = {"overall": overall, "cer": cer(gt, pred),
           "latency_ms_mean": float(wall.mean() * 1e3), "latency_ms_p50": float(np.median(wall) * 1e3),
           "latency_ms_p95": float(np.percentile(wall, 95) * 1e3), "cpu_s_per_image": cpu_s,
           "peak_rss_mb": res["peak_rss_mb"], "peak_child_rss_mb": res.get("peak_child_rss_mb"), "load_s": res["load_s"],
           "usd_per_1000_images": cpu_s * 1000 * usd_per_cpu_hour / 3600,
           "f1_per_second": overall["f1"] / max(float(wall.mean()), 1e-9),
           "per_language": group_prf(rows, gt, pred, "language"),
           "per_edge_case": group_prf(rows, gt, pred, "edge_case"),
           "version": res.get("version")}
    return out, gt, pred


def run(params: Params, out_dir: Path, data_dir: str = DATA_DIR, export_dir: str = EXPORT_DIR) -> dict:
    import json

    import numpy as np

    from common.evaluate.profile import hardware
    from common.io import atomic_dir, atomic_write_json, read_json
    from tasks.ocr.data import load_split
    from tasks.ocr.metrics import SemanticScorer

    rows = load_split(data_dir, "val")[: params.max_images]
    # the detector runs at the size it was exported at (its ONNX input is fixed)
    det_imgsz = int(read_json(Path(export_dir) / "export.json")["det_imgsz"])
    cfg = {"data_dir": data_dir, "export_dir": export_dir, "det_imgsz": det_imgsz, "threads": params.threads,
           "max_images": params.max_images}
    scorer = SemanticScorer()
    results, lines = {}, []
    for name in params.engines:
        print(f"evaluate {name} on {len(rows)} images …", flush=True)
        res = run_engine(name, cfg)
        summary, gt, pred = summarise(rows, res, params.usd_per_cpu_hour)
        sims = scorer(gt, pred)
        summary["semantic_consistency"] = float(np.mean(sims)) if sims else 0.0
        results[name] = summary
        o = summary["overall"]
        print(f"  P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} CER {summary['cer']:.3f} "
              f"{summary['latency_ms_mean']:.0f} ms/img", flush=True)
        lines += [json.dumps({"engine": name, "file": r["file"], "language": r["language"],
                              "edge_case": r["edge_case"], "gt": g, "pred": p, "sim": s}, ensure_ascii=False)
                  for r, g, p, s in zip(rows, gt, pred, sims)]
    doc = {"images": len(rows), "words": sum(len(r["words"]) for r in rows), "threads": params.threads,
           "usd_per_cpu_hour": params.usd_per_cpu_hour, "hardware": hardware(), "engines": results}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "results.json", doc)
        (tmp / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
