"""Stage ``evaluate``: E-ARMOR's protocol on the validation images for every engine of
:mod:`tasks.ocr.engines` — word-level precision / recall / F1 (primary), CER, semantic consistency,
per-language and per-edge-case breakdowns, CPU latency per image, peak memory and cost per 1,000 images
(CPU-seconds × ``usd_per_cpu_hour``).

Each engine runs in its own spawned process (one thread), so its peak resident memory is its own and no
engine warms another's caches; one warm-up image is not timed. Writes ``data/ocr/evaluate/results.json``
and ``predictions.jsonl`` (every engine's reading of every image).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from collections import defaultdict
from pathlib import Path

import numpy as np

from common.io import atomic_dir, atomic_write_json, stage_params


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the portable (upper-bound) figure

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(name: str, cfg: dict, q) -> None:
    import resource
    import time
    import traceback

    try:
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
        # VmHWM: this process's own peak RSS. (ru_maxrss would also count the parent's pages the process had
        # between fork and exec: the evaluating parent holds torch and the sentence model.)
        own_mb = _vm_hwm_mb()
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Tesseract runs as a child
        q.put({"preds": preds, "wall": wall, "cpu": cpu, "peak_rss_mb": own_mb,
               "peak_child_rss_mb": child_mb or None, "load_s": load_s, "version": getattr(eng, "version", None)})
    except Exception:  # noqa: BLE001 - the parent re-raises with the engine named
        q.put({"error": traceback.format_exc()})


def run_engine(name: str, cfg: dict) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(name, cfg, q))
    p.start()
    res = q.get()
    p.join()
    if "error" in res:
        raise RuntimeError(f"engine {name} failed:\n{res['error']}")
    return res


def group_prf(rows: list[dict], gt: list[str], pred: list[str], key: str) -> dict[str, dict]:
    from tasks.ocr.metrics import word_prf

    groups = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r[key]].append(i)
    return {g: {**word_prf([gt[i] for i in idx], [pred[i] for i in idx]), "images": len(idx)}
            for g, idx in sorted(groups.items())}


def summarise(rows: list[dict], res: dict, usd_per_cpu_hour: float) -> tuple[dict, list[str], list[str]]:
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


def run(params: dict, out: str | Path, data_dir: str = "data/ocr/prepare/dataset",
        export_dir: str = "data/ocr/export") -> dict:
    from common.evaluate.profile import hardware
    from tasks.ocr.data import load_split
    from tasks.ocr.metrics import SemanticScorer

    rows = load_split(data_dir, "val")[: params.get("max_images")]
    cfg = {"data_dir": data_dir, "export_dir": export_dir, "det_imgsz": params["det_imgsz"],
           "threads": params["threads"], "max_images": params.get("max_images")}
    scorer = SemanticScorer()
    results, lines = {}, []
    for name in params["engines"]:
        print(f"evaluate {name} on {len(rows)} images …", flush=True)
        res = run_engine(name, cfg)
        summary, gt, pred = summarise(rows, res, params["usd_per_cpu_hour"])
        sims = scorer(gt, pred)
        summary["semantic_consistency"] = float(np.mean(sims)) if sims else 0.0
        results[name] = summary
        o = summary["overall"]
        print(f"  P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} CER {summary['cer']:.3f} "
              f"{summary['latency_ms_mean']:.0f} ms/img", flush=True)
        lines += [json.dumps({"engine": name, "file": r["file"], "language": r["language"],
                              "edge_case": r["edge_case"], "gt": g, "pred": p, "sim": s}, ensure_ascii=False)
                  for r, g, p, s in zip(rows, gt, pred, sims)]
    doc = {"images": len(rows), "words": sum(len(r["words"]) for r in rows), "threads": params["threads"],
           "usd_per_cpu_hour": params["usd_per_cpu_hour"], "hardware": hardware(), "engines": results}
    with atomic_dir(out) as tmp:
        atomic_write_json(tmp / "results.json", doc)
        (tmp / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.ocr.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/ocr/evaluate")
    args = ap.parse_args(argv)
    run(stage_params("ocr", "evaluate"), args.out)


if __name__ == "__main__":
    main()
