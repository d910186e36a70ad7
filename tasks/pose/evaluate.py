"""Stage ``evaluate``: for every trained LitePose variant, export ONNX fp32 (``common.export``) and static
INT8 (``common.compress.quantize``, QDQ, calibration on training images), then measure each the same way:
OKS AP / AP50 / AP75 (pycocotools) of the ONNX model's outputs on the validation split after bottom-up
grouping, params, GMACs at the pipeline's input size, and onnxruntime CPU latency at 1 and 2 threads.

Writes ``data/pose/evaluate/{<variant>.json, <variant>+int8.json, metrics.json}`` and the ONNX files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_dir, atomic_write_json, read_json, stage_params


def onnx_ap(onnx_path: Path, dataset, num_joints: int, batch_size: int = 8) -> dict:
    """OKS AP of an ONNX LitePose on ``dataset`` (validation items), decoded like the Lightning validation."""
    import onnxruntime as ort

    from tasks.pose.data import oks_sigmas
    from tasks.pose.group import decode, to_coco_results
    from tasks.pose.metrics import oks_ap

    so = ort.SessionOptions()
    so.intra_op_num_threads = 0
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    results = []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        quarter, half = sess.run(None, {name: batch["img"].numpy()})
        people = decode(torch.from_numpy(quarter), torch.from_numpy(half), num_joints)
        for p, image_id, m in zip(people, batch["image_id"].tolist(), batch["matrix"].numpy()):
            results += to_coco_results(p, image_id, m)
    return oks_ap(dataset.kset.raw, results, oks_sigmas(num_joints))


def run(params: dict, out_dir: str | Path, variants: list[str], data_dir: str = "data/pose/prepare/dataset",
        train_dir: str = "data/pose/train") -> dict:
    from common.compress.quantize import quantize_static_int8
    from common.evaluate.profile import hardware, profile_variant
    from common.export.onnx import export_onnx
    from tasks.pose.data import PoseDataset, load_keypoints_json
    from tasks.pose.model import count_gmacs
    from tasks.pose.module import load_pose_model

    imgsz = params["imgsz"]
    root = Path(data_dir)
    val = PoseDataset(load_keypoints_json(root / "val.json", root / "images"), imgsz, train=False)
    calib_set = PoseDataset(load_keypoints_json(root / "train.json", root / "images"), imgsz, train=False)
    n_cal = min(params.get("calibration_images", 32), len(calib_set))
    calibration = [calib_set[i]["img"][None].numpy() for i in range(n_cal)]
    shape = [1, 3, imgsz, imgsz]
    summary = {"hardware": hardware(), "imgsz": imgsz, "variants": {}}
    with atomic_dir(out_dir) as tmp:
        for variant in variants:
            model = load_pose_model(Path(train_dir) / variant / "model.pt").eval()
            k = model.num_joints
            fp32 = tmp / f"{variant}.onnx"
            export = export_onnx(model, torch.rand(*shape), fp32, opset=params.get("opset", 17),
                                 output_names=["quarter", "half"])
            int8 = tmp / f"{variant}+int8.onnx"
            quantize_static_int8(fp32, int8, calibration)
            train_metrics = read_json(Path(train_dir) / variant / "metrics.json")
            for name, path in ((variant, fp32), (f"{variant}+int8", int8)):
                rec = profile_variant(model, path, shape, threads=tuple(params["threads"]), warmup=params["warmup"],
                                      runs=params["runs"])
                rec.update(onnx_ap(path, val, k))
                rec.update({"gmacs": count_gmacs(model, imgsz), "config": model.config, "kernel": model.kernel,
                            "fusion": model.fusion, "int8": name.endswith("+int8"),
                            "max_abs_diff_export": export.get("max_abs_diff"),
                            "train_seconds": train_metrics.get("train_seconds"),
                            "val_ap_pytorch": train_metrics.get("val/ap")})
                for t, lat in rec["latency_ms"].items():
                    rec[f"latency_ms_t{t}"] = lat["p50"]
                atomic_write_json(tmp / f"{name}.json", rec)
                summary["variants"][name] = rec
                print(f"{name}: AP {rec['ap']:.3f} AP50 {rec['ap50']:.3f} | "
                      + " ".join(f"{t} thr {v['p50']:.2f} ms" for t, v in rec["latency_ms"].items()))
        atomic_write_json(tmp / "metrics.json", summary)
    return summary


def main(argv=None) -> None:
    from tasks.pose.train import variants

    ap = argparse.ArgumentParser(prog="python -m tasks.pose.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/pose/evaluate")
    args = ap.parse_args(argv)
    run(stage_params("pose", "evaluate"), args.out, list(variants()))


if __name__ == "__main__":
    main()
