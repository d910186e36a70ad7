"""Stage ``evaluate``: for every trained LitePose variant and the YOLOv8n-pose peer, export ONNX fp32 (``common.export``) and static
INT8 (``common.compress.quantize``, QDQ, calibration on training images), then measure each the same way:
OKS AP / AP50 / AP75 (pycocotools) of the ONNX model's outputs on the validation split after bottom-up
grouping, params, GMACs at the pipeline's input size, and onnxruntime CPU latency at 1 and 2 threads.

The variants are those of section ``<profile>.train``; the input size is the one the models were trained at
(read from their model files). Writes ``data/pose/evaluate/{<variant>.json, <variant>+int8.json, metrics.json}``
and the ONNX files; the peer's two ONNX files carry ultralytics' metadata (``export_metadata``: task, ``kpt_shape``,
names, stride, input size, our variant and precision), so ``YOLO(file, task="pose")`` loads them with their joints.
"""
from __future__ import annotations

from pathlib import Path

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
    threads: list[int] = Field([1, 2], min_length=1, description="onnxruntime intra-op thread counts to time")


def decode_litepose(outputs: list, num_joints: int, tag_threshold: float = 1.0) -> list[tuple]:
    import torch

    from tasks.pose.group import decode

    quarter, half = outputs
    return decode(torch.from_numpy(quarter), torch.from_numpy(half), num_joints, tag_threshold=tag_threshold)


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


def onnx_ap(onnx_path: Path, dataset, num_joints: int, decode_fn, batch_size: int = 8) -> dict:
    """OKS AP of an ONNX model on ``dataset`` (validation items): ``decode_fn(outputs, K)`` gives per image
    people (N, K, 3) in input pixels and their (N,) scores."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from tasks.pose.data import oks_sigmas
    from tasks.pose.group import batch_coco_results, oracle_tags
    from tasks.pose.metrics import oks_ap

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    results, oracle, separation = [], [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        outputs = sess.run(None, {name: batch["img"].numpy()})
        ids, matrices = batch["image_id"].tolist(), batch["matrix"].numpy()
        if getattr(decode_fn, "func", decode_fn) is decode_litepose:
            joints = batch["joints"].numpy()
            separation += tag_separation(outputs[0], joints, num_joints)
            quarter = outputs[0].copy()
            quarter[:, num_joints:] = oracle_tags(joints, num_joints, quarter.shape[-1])
            oracle += batch_coco_results(decode_fn([quarter, outputs[1]], num_joints), ids, matrices)
        results += batch_coco_results(decode_fn(outputs, num_joints), ids, matrices)
    sigmas = oks_sigmas(dataset.kset.joint_names)
    stats = oks_ap(dataset.kset.raw, results, sigmas)
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


def run(params: Params, out_dir: Path, variants: dict[str, Path] | None = None, data_dir: str = DATA_DIR) -> dict:
    import torch

    from common.compress.quantize import quantize_static_int8
    from common.evaluate.profile import hardware, profile_variant
    from common.export.onnx import export_onnx
    from common.io import atomic_dir, atomic_write_json, read_json
    from tasks.pose.data import PoseDataset, load_keypoints_json

    variants = {v: Path(path) for v, path in (variants or models()).items()}
    imgsz = trained_imgsz(variants)
    root = Path(data_dir)
    val = PoseDataset(load_keypoints_json(root / "val.json", root / "images"), imgsz, train=False)
    calib_set = PoseDataset(load_keypoints_json(root / "train.json", root / "images"), imgsz, train=False)
    n_cal = min(params.calibration_images, len(calib_set))
    calibration = [calib_set[i]["img"][None].numpy() for i in range(n_cal)]
    shape = [1, 3, imgsz, imgsz]
    summary = {"hardware": hardware(), "imgsz": imgsz, "variants": {}}
    with atomic_dir(out_dir) as tmp:
        # one model at a time, in this order: building a network draws from torch's generator, and so does the
        # export's sample input
        for variant, model_path in variants.items():
            model, k, decode_fn, facts = load_variant(variant, model_path)
            fp32 = tmp / f"{variant}.onnx"
            int8 = tmp / f"{variant}+int8.onnx"
            if variant == PEER:
                # both ONNX files carry ultralytics' metadata (task, kpt_shape, names, stride, imgsz): YOLO(file,
                # task="pose") loads them with their joints
                from common.adapters.ultralytics import export_metadata, head_decode_nodes
                from common.export.onnx import set_onnx_metadata
                from tasks.pose.peer import export_peer_onnx

                export = export_peer_onnx(model.model, imgsz, fp32, opset=params.opset, atol=params.atol,
                                          sample=torch.rand(*shape), variant=variant, precision="fp32")
                keep_fp32 = head_decode_nodes(fp32, facts.pop("head"))  # the box/keypoint decoding stays fp32
                quantize_static_int8(fp32, int8, calibration, exclude_nodes=keep_fp32)
                set_onnx_metadata(int8, export_metadata(model.model, imgsz, variant=f"{variant}+int8", precision="int8"))
            else:
                export = export_onnx(model, torch.rand(*shape), fp32, opset=params.opset, atol=params.atol)
                quantize_static_int8(fp32, int8, calibration)
            train_metrics = read_json(Path(model_path).parent / "metrics.json")
            for name, path in ((variant, fp32), (f"{variant}+int8", int8)):
                rec = profile_variant(model, path, shape, threads=tuple(params.threads), warmup=params.warmup,
                                      runs=params.runs)
                rec.update(onnx_ap(path, val, k, decode_fn))
                rec.update({**facts, "gmacs": rec["gflops"] / 2, "int8": name.endswith("+int8"),
                            "max_abs_diff_export": export.get("max_abs_diff"),
                            "train_seconds": train_metrics.get("train_seconds"),
                            "val_ap_pytorch": train_metrics.get("val/ap"), "recipe": train_metrics.get("recipe"),
                            "train_ap_by_tag_threshold": train_metrics.get("train_ap_by_tag_threshold")})
                for t, lat in rec["latency_ms"].items():
                    rec[f"latency_ms_t{t}"] = lat["p50"]
                atomic_write_json(tmp / f"{name}.json", rec)
                summary["variants"][name] = rec
                print(f"{name}: AP {rec['ap']:.3f} AP50 {rec['ap50']:.3f} | "
                      + " ".join(f"{t} thr {v['p50']:.2f} ms" for t, v in rec["latency_ms"].items()))
        atomic_write_json(tmp / "metrics.json", summary)
    return summary


if __name__ == "__main__":
    main(__spec__.name, Params, run)
