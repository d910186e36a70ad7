"""Stage ``evaluate``: every trained LitePose variant (each seed) and the YOLOv8n-pose peer on the validation split,
and the deployable models on the CPU runtimes (``common.runtime``).

* **Seeds:** every seed's model of every LitePose variant (``data/pose/train/<variant>/seeds/<seed>/``) is exported
  to ONNX fp32 and scored: OKS AP / AP50 / AP75 (pycocotools) after bottom-up grouping, and the per-image matches
  that a bootstrap over validation images resamples (``common.evaluate.coco``). The report's intervals combine the
  two (``common.evaluate.intervals``): the ablations (7×7 vs 3×3, fusion vs none) and the peer comparison.
* **Runtimes:** the first seed's model of each variant, and the peer, on ONNX Runtime (fp32, static INT8 QDQ) and
  OpenVINO (the IR at its default inference precision — bf16 on AMX CPUs, recorded —, and NNCF INT8), calibrated on
  the same training images (``common.runtime.deploy``); each artifact scored by its own outputs (AP), timed at 1
  and 2 threads in a fresh process (p50) with its peak memory, and its file size.

The input size is the one the models were trained at (read from their model files). Writes
``data/pose/evaluate/{metrics.json, <variant>.json, <variant>+int8.json}`` and the model files; the peer's ONNX
files carry ultralytics' metadata (``export_metadata``: task, ``kpt_shape``, names, stride, input size, our
variant and precision), so ``YOLO(file, task="pose")`` loads them with their joints.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.stage import Field, StageId, StageParams, load_params, main

PEER = "yolov8n-pose"
TRAIN_DIR = Path("data/pose/train")
PEER_MODEL = Path("data/pose/peer/model.pt")
DATA_DIR = "data/pose/prepare/dataset"


class Params(StageParams):
    opset: int = Field(17, ge=7, description="ONNX opset of the export")
    atol: float = Field(1e-3, gt=0, description="max |ONNX − PyTorch| of an exported model's outputs")
    calibration_images: int = Field(32, ge=1, description="training images the INT8 calibration reads")
    warmup: int = Field(10, ge=0, description="untimed runs before timing")
    runs: int = Field(50, ge=1, description="timed runs per thread count")
    backends: list[Literal["onnxruntime", "openvino"]] = Field(
        ["onnxruntime", "openvino"], min_length=1,
        description="CPU runtimes the deployed models are exported to, scored on and timed (fp32 and INT8 each)")
    threads: list[int] = Field([1, 2], min_length=1, description="onnxruntime intra-op thread counts to time")


def decode_litepose(outputs: list, num_joints: int, tag_threshold: float = 1.0,
                    project2image: bool = True) -> list[tuple]:
    """LitePose's two outputs → per image people in input pixels (:func:`tasks.pose.group.decode`; ``project2image``:
    the authors' decoding at input resolution, False: the former decoding on the 1/2 maps, for comparison)."""
    import torch

    from tasks.pose.group import decode

    quarter, half = outputs
    return decode(torch.from_numpy(quarter), torch.from_numpy(half), num_joints, tag_threshold=tag_threshold,
                  project2image=project2image)


def decode_yolo_pose(outputs: list, num_joints: int, conf: float = 0.001, iou: float = 0.7,
                     max_det: int = 300) -> list[tuple]:
    """ultralytics' NMS with its pose validator's settings → per image (N, K, 3) keypoints and (N,) scores."""
    import torch

    from common.adapters.ultralytics import non_max_suppression

    dets = non_max_suppression(torch.from_numpy(outputs[0]), conf_thres=conf, iou_thres=iou, nc=1, max_det=max_det)
    return [(d[:, 6:].reshape(-1, num_joints, 3).numpy(), d[:, 4].numpy()) for d in dets]


def tag_separation(quarter, joints, num_joints: int) -> list[tuple[float, float]]:
    """Per image with ≥ 2 people: (std of the people's mean tags, mean std of tags within a person), read
    from the 1/4 tag maps at the labelled joints. Grouping needs the first ≫ the second."""
    import numpy as np

    out = []
    for q, jts in zip(quarter, joints):
        flat = q[num_joints:].reshape(-1)
        people = [flat[p[p[:, 1] > 0, 0]] for p in jts if (p[:, 1] > 0).any()]
        if len(people) >= 2:
            out.append((float(np.std([t.mean() for t in people])), float(np.mean([t.std() for t in people]))))
    return out


def session_ap(sess, dataset, num_joints: int, decode_fn, batch_size: int = 8, table: dict | None = None) -> dict:
    """OKS AP of a runtime session (``common.runtime.open_session``: every output, ``run_all``) on ``dataset``
    (validation items): ``decode_fn(outputs, K)`` gives per image people (N, K, 3) in input pixels and their (N,)
    scores. ``table``: receives ``"table"``, the per-image matches for a bootstrap over images."""
    import numpy as np
    import torch

    from tasks.pose.data import oks_sigmas
    from tasks.pose.group import batch_coco_results, oracle_tags
    from tasks.pose.metrics import oks_ap

    results, oracle, separation = [], [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        outputs = sess.run_all(batch["img"].numpy())
        ids, matrices = batch["image_id"].tolist(), batch["matrix"].numpy()
        if getattr(decode_fn, "func", decode_fn) is decode_litepose:
            joints = batch["joints"].numpy()
            separation += tag_separation(outputs[0], joints, num_joints)
            quarter = outputs[0].copy()
            quarter[:, num_joints:] = oracle_tags(joints, num_joints, quarter.shape[-1])
            oracle += batch_coco_results(decode_fn([quarter, outputs[1]], num_joints), ids, matrices)
        results += batch_coco_results(decode_fn(outputs, num_joints), ids, matrices)
    sigmas = oks_sigmas(dataset.kset.joint_names)
    stats = oks_ap(dataset.kset.raw, results, sigmas, table=table)
    if separation:
        between, within = np.mean(separation, axis=0)
        stats.update({"tag_between_std": float(between), "tag_within_std": float(within),
                      "ap_oracle_grouping": oks_ap(dataset.kset.raw, oracle, sigmas)["ap"]})
    return stats


def load_variant(name: str, path: Path):
    """(model to export and profile, number of joints, decode function, facts) of a LitePose variant or the
    YOLOv8-pose peer."""
    if name == PEER:
        from common.adapters.ultralytics import InferenceWrapper, load_model

        model = load_model(path).float().eval()
        model.fuse(verbose=False)
        k = int(model.yaml["kpt_shape"][0])
        return InferenceWrapper(model), k, decode_yolo_pose, {"config": "yolov8n-pose", "head": len(model.model) - 1}
    from functools import partial

    from tasks.pose.model import load_pose_meta, load_pose_model

    model = load_pose_model(path).eval()
    threshold = float(load_pose_meta(path).get("tag_threshold", 1.0))
    return model, model.num_joints, partial(decode_litepose, tag_threshold=threshold), {
        "config": model.config, "kernel": model.kernel, "fusion": model.fusion, "tag_threshold": threshold}


def trained_imgsz(variants: dict[str, Path]) -> int:
    """The input size every model was trained at (stored in its model file), the same for all."""
    from common.adapters.ultralytics import model_meta
    from tasks.pose.model import load_pose_meta

    sizes = {v: int((model_meta if v == PEER else load_pose_meta)(path)["imgsz"]) for v, path in variants.items()}
    if len(set(sizes.values())) != 1:  # one validation set at one input size: the rows must be comparable
        raise ValueError(f"the models were trained at different input sizes {sizes}: rerun their training stages")
    return next(iter(sizes.values()))


def models() -> dict[str, Path]:
    """The model files to evaluate: every LitePose variant of section ``<profile>.train``, then the peer."""
    from tasks.pose.train import Params as TrainParams

    train = load_params(TrainParams, StageId("pose", "train"))
    return {**{v: TRAIN_DIR / v / "model.pt" for v in train.variants}, PEER: PEER_MODEL}


def seed_models(variant: str) -> dict[int, Path]:
    """{seed: model file} of a LitePose variant's training stage (``seeds.json``); a stage trained before seeds
    existed has its one model."""
    from common.io import read_json

    root = TRAIN_DIR / variant
    if (root / "seeds.json").is_file():
        return {int(s): root / "seeds" / str(s) / "model.pt" for s in read_json(root / "seeds.json")["seeds"]}
    return {0: root / "model.pt"}


def run(params: Params, out_dir: Path, variants: dict[str, Path] | None = None, data_dir: str = DATA_DIR) -> dict:
    import torch

    from common.evaluate.coco import bootstrap_ap
    from common.evaluate.intervals import RESAMPLES, resample
    from common.evaluate.profile import count_gflops, count_params, hardware
    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_json, read_json
    from common.runtime import measure_shape, open_session, version
    from common.runtime.deploy import at, export_runtimes
    from tasks.pose.data import PoseDataset, load_keypoints_json

    variants = {v: Path(path) for v, path in (variants or models()).items()}
    imgsz = trained_imgsz(variants)
    root = Path(data_dir)
    val = PoseDataset(load_keypoints_json(root / "val.json", root / "images"), imgsz, train=False)
    calib_set = PoseDataset(load_keypoints_json(root / "train.json", root / "images"), imgsz, train=False)
    n_cal = min(params.calibration_images, len(calib_set))
    calibration = [calib_set[i]["img"][None].numpy() for i in range(n_cal)]
    shape = [1, 3, imgsz, imgsz]
    draws = resample(len(val), RESAMPLES, seed=0)[0]  # the same image resamples for every model and seed
    summary = {"hardware": hardware(), "imgsz": imgsz, "variants": {}, "seeds": {}, "runtimes": [],
               "unavailable": [], "val_images": len(val), "resamples": RESAMPLES,
               "runtime_versions": {b: version(b) for b in ("onnxruntime", "openvino")}}
    boot: dict[str, dict[int, list]] = {}
    with atomic_dir(out_dir) as tmp:
        # one model at a time, in this order: building a network draws from torch's generator, and so does the
        # export's sample input
        for variant, model_path in variants.items():
            seeds = {0: model_path} if variant == PEER else seed_models(variant)
            first_seed = next(iter(seeds))
            per_seed, boot[variant] = {}, {}
            for seed, path in seeds.items():
                model, k, decode_fn, facts = load_variant(variant, path)
                name = variant if seed == first_seed else f"{variant}@s{seed}"
                fp32 = tmp / f"{name}.onnx"
                if variant == PEER:
                    # ultralytics' metadata (task, kpt_shape, names, stride, imgsz): YOLO(file, task="pose") loads it
                    from tasks.pose.peer import export_peer_onnx

                    export = export_peer_onnx(model.model, imgsz, fp32, opset=params.opset, atol=params.atol,
                                              sample=torch.rand(*shape), variant=variant, precision="fp32")
                else:
                    export = export_onnx(model, torch.rand(*shape), fp32, opset=params.opset, atol=params.atol)
                table: dict = {}
                stats = session_ap(open_session(_ort(fp32), imgsz, threads=2), val, k, decode_fn, table=table)
                per_seed[seed] = {key: stats[key] for key in ("ap", "ap50", "ap75")}
                boot[variant][seed] = bootstrap_ap(table["table"], draws).tolist()
                print(f"{name}: AP {stats['ap']:.3f} AP50 {stats['ap50']:.3f} (seed {seed})")
                if seed != first_seed:
                    fp32.unlink()  # scored; only the deployed (first-seed) model's files are kept
                    continue
                # ---- the deployed model: every CPU runtime, fp32 and INT8, each scored and timed
                train_metrics = read_json(Path(path).parent / "metrics.json")
                keep_fp32: list[str] = []
                if variant == PEER:
                    from common.adapters.ultralytics import head_decode_nodes

                    keep_fp32 = head_decode_nodes(fp32, facts.pop("head"))  # box/keypoint decoding stays fp32
                arts, missing, q_facts = export_runtimes(fp32, calibration, name=variant, backends=params.backends,
                                                         files_dir=out_dir, ort_exclude_nodes=keep_fp32 or None)
                summary["unavailable"] += missing
                if variant == PEER and (tmp / f"{variant}+int8.onnx").is_file():
                    from common.adapters.ultralytics import export_metadata
                    from common.export.onnx import set_onnx_metadata

                    set_onnx_metadata(tmp / f"{variant}+int8.onnx",
                                      export_metadata(model.model, imgsz, variant=f"{variant}+int8", precision="int8"))
                gmacs = count_gflops(model, torch.zeros(shape)) / 2
                for art in arts:
                    local = at(art, tmp)
                    sess = open_session(local, imgsz, threads=2)
                    if (art.backend, art.precision) == ("onnxruntime", "fp32"):
                        acc, b = stats, boot[variant][seed]
                    else:
                        t2: dict = {}
                        acc = session_ap(sess, val, k, decode_fn, table=t2)
                        b = bootstrap_ap(t2["table"], draws).tolist()
                    boot[f"{variant}/{art.backend}/{art.precision}"] = {seed: b}
                    del sess
                    m = measure_shape(local, shape, threads=tuple(params.threads), warmup=params.warmup,
                                      runs=params.runs)
                    rec = {"variant": variant, "backend": art.backend, "precision": art.precision,
                           "precision_used": m["precision_used"], "file": art.files["any"],
                           "file_bytes": local.bytes(), "peak_mem_mb": m["peak_mem_mb"],
                           "latency_ms": {t: {k2: v for k2, v in lat.items() if k2 != "times"}
                                          for t, lat in m["latency_ms"].items()},
                           **{key: acc[key] for key in ("ap", "ap50", "ap75")}}
                    summary["runtimes"].append(rec)
                    print(f"{variant} {art.backend} {art.precision} ({m['precision_used']}): AP {acc['ap']:.3f} | "
                          + " ".join(f"{t} thr {v['p50']:.2f} ms" for t, v in m["latency_ms"].items())
                          + f" | peak {m['peak_mem_mb']:.0f} MB")
                    if art.backend == "onnxruntime":  # the report's variant rows: ONNX Runtime fp32 / INT8
                        row = {**acc, **facts, "params": count_params(model), "gmacs": gmacs,
                               "gflops": 2 * gmacs, "input_shape": shape, "onnx_bytes": local.bytes(),
                               "int8": art.precision == "int8", "precision_used": m["precision_used"],
                               "peak_mem_mb": m["peak_mem_mb"], "latency_ms": rec["latency_ms"],
                               "max_abs_diff_export": export.get("max_abs_diff"),
                               "train_seconds": train_metrics.get("train_seconds"),
                               "val_ap_pytorch": train_metrics.get("val/ap"), "recipe": train_metrics.get("recipe"),
                               "train_ap_by_tag_threshold": train_metrics.get("train_ap_by_tag_threshold"),
                               "quantization": q_facts.get("onnxruntime/int8") if art.precision == "int8" else None}
                        for t, lat in m["latency_ms"].items():
                            row[f"latency_ms_t{t}"] = lat["p50"]
                        key = variant if art.precision == "fp32" else f"{variant}+int8"
                        atomic_write_json(tmp / f"{key}.json", row)
                        summary["variants"][key] = row
            summary["seeds"][variant] = {"seeds": list(per_seed), "per_seed": {str(s): v for s, v in per_seed.items()}}
        atomic_write_json(tmp / "metrics.json", summary)
        import numpy as np

        # per model (variant; variant/backend/precision) and seed: its AP on each image resample (the same
        # resamples for all), from which the report draws the paired intervals
        np.savez_compressed(tmp / "bootstrap.npz", **{f"{v}@{s}": np.asarray(b, np.float64)
                                                      for v, d in boot.items() for s, b in d.items()})
    return summary


def _ort(path: Path):
    from common.runtime import Artifact

    return Artifact(path.stem, "onnxruntime", "fp32", {"any": str(path)})


if __name__ == "__main__":
    main(__spec__.name, Params, run)
