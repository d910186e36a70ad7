"""Stage ``structure``: the paper-scale MAC check (cheap, every profile). Builds LitePose-XS at 256 and
LitePose-S at 448 (and M, L) and counts multiply-accumulates with ptflops — the counter of the LitePose
repo (``lib/utils/utils.py``, ``arch_search/eff_pred.py``) — in two conventions:

* ``ptflops``: ptflops as released now (transposed convs counted per *input* position: the true MACs);
* ``paper``: ptflops with transposed convs counted per *output* position, as the ptflops releases of the
  paper's time did (4× the true MACs of a stride-2 deconv). This is the convention the paper's
  1.2 / 5.0 / 7.8 / 13.7 GMACs follow; both are reported.

Also the 7×7 vs 3×3 depthwise-kernel MAC ratio (paper: about +25 %) and the fusion head's cost.
Writes ``data/pose/structure/structure.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import torch
from torch import nn

from common.io import atomic_dir, atomic_write_json, stage_params


def ptflops_gmacs(model: nn.Module, imgsz: int, deconv_per_output: bool) -> float:
    from ptflops import get_model_complexity_info
    from ptflops.pytorch_ops import conv_flops_counter_hook

    hooks = {nn.ConvTranspose2d: lambda m, i, o: conv_flops_counter_hook(m, i, o, transpose=False)} \
        if deconv_per_output else {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, _ = get_model_complexity_info(model.eval(), (3, imgsz, imgsz), as_strings=False,
                                            print_per_layer_stat=False, verbose=False, custom_modules_hooks=hooks)
    return float(macs) / 1e9


def run(params: dict, out_dir: str | Path) -> dict:
    from tasks.pose.model import LitePose, count_gmacs

    torch.manual_seed(0)
    rows = {}
    for name, spec in params["models"].items():
        m = LitePose(spec["config"], params.get("num_joints", 14), spec.get("kernel"), spec.get("fusion", True))
        rows[name] = {**spec, "params": int(sum(p.numel() for p in m.parameters())),
                      "gmacs_paper_convention": ptflops_gmacs(m, spec["imgsz"], True),
                      "gmacs_ptflops": ptflops_gmacs(m, spec["imgsz"], False),
                      "gmacs_torch": count_gmacs(m, spec["imgsz"])}
        print(f"{name}: {rows[name]['gmacs_paper_convention']:.3f} GMACs (paper convention), "
              f"{rows[name]['gmacs_ptflops']:.3f} (ptflops now), {rows[name]['gmacs_torch']:.3f} (torch), "
              f"{rows[name]['params'] / 1e6:.2f}M params")
    doc = {"models": rows, "counter": "ptflops", "num_joints": params.get("num_joints", 14)}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "structure.json", doc)
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.pose.structure", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/pose/structure")
    args = ap.parse_args(argv)
    run(stage_params("pose", "structure"), args.out)


if __name__ == "__main__":
    main()
