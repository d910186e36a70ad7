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

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from common.stage import Field, StageParams, main


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    config: Literal["XS", "S", "M", "L"] = Field(description="LitePose configuration")
    imgsz: int = Field(ge=32, description="input size of the count (the paper's for this configuration)")
    kernel: int | None = Field(None, ge=1, description="depthwise kernel (null: the configuration's 7)")
    fusion: bool = Field(True, description="fusion deconv head")


class Params(StageParams):
    num_joints: int = Field(14, ge=1, description="joints per person (CrowdPose: 14)")
    models: dict[str, ModelSpec] = Field(min_length=1, description="row name → architecture and input size")


def ptflops_gmacs(model, imgsz: int, deconv_per_output: bool) -> float:
    import contextlib
    import io

    from ptflops import get_model_complexity_info
    from ptflops.pytorch_ops import conv_flops_counter_hook
    from torch import nn

    hooks = {nn.ConvTranspose2d: lambda m, i, o: conv_flops_counter_hook(m, i, o, transpose=False)} \
        if deconv_per_output else {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, _ = get_model_complexity_info(model.eval(), (3, imgsz, imgsz), as_strings=False,
                                            print_per_layer_stat=False, verbose=False, custom_modules_hooks=hooks)
    return float(macs) / 1e9


def run(params: Params, out_dir: Path) -> dict:
    import torch

    from common.io import atomic_dir, atomic_write_json
    from tasks.pose.model import LitePose, count_gmacs

    torch.manual_seed(0)
    rows = {}
    for name, spec in params.models.items():
        m = LitePose(spec.config, params.num_joints, spec.kernel, spec.fusion)
        # the row repeats the spec as written in params.yaml (unset keys stay out)
        rows[name] = {**spec.model_dump(exclude_unset=True), "params": int(sum(p.numel() for p in m.parameters())),
                      "gmacs_paper_convention": ptflops_gmacs(m, spec.imgsz, True),
                      "gmacs_ptflops": ptflops_gmacs(m, spec.imgsz, False),
                      "gmacs_torch": count_gmacs(m, spec.imgsz)}
        print(f"{name}: {rows[name]['gmacs_paper_convention']:.3f} GMACs (paper convention), "
              f"{rows[name]['gmacs_ptflops']:.3f} (ptflops now), {rows[name]['gmacs_torch']:.3f} (torch), "
              f"{rows[name]['params'] / 1e6:.2f}M params")
    doc = {"models": rows, "counter": "ptflops", "num_joints": params.num_joints}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "structure.json", doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
