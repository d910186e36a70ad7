"""Stage ``cwd_sweep``: the CWD loss weight and temperature as ablations. Re-runs the ``distill`` stage's recipe
(section ``distill``: same pruned model, teacher, kept channels and epochs, its first seed) with each weight in
``weights`` (at distill's T) and each temperature in ``taus`` (at distill's weight), and keeps the Lightning
validation metrics (PyTorch, EMA weights) and logs — the same measure ``finetune`` and ``distill`` record in their
``metrics.json`` — so the report can show how the CWD-vs-fine-tune verdict depends on the two settings the paper
does not publish. Models are not kept (they are not exported).

Writes ``data/detection/cwd_sweep/{sweep.json, <run>/{metrics.json, logs/}}`` with runs ``w<weight>`` and
``t<tau>``; ``sweep.json`` also records ``distill``'s own weight and T, the pipeline's row.
"""
from __future__ import annotations

from pathlib import Path

from common.stage import Field, StageId, StageParams, load_params, main
from common.training.parallel import parallel_field


class Params(StageParams):
    weights: list[float] = Field(min_length=1, description="CWD weights to train distill's recipe with (each > 0), "
                                                           "at distill's temperature")
    taus: list[float] = Field([], description="CWD temperatures to train distill's recipe with (each > 0), at "
                                              "distill's weight")
    parallel: int = parallel_field()

    def model_post_init(self, _) -> None:
        if any(w <= 0 for w in self.weights):
            raise ValueError(f"every CWD weight must be > 0, got {self.weights}")
        if any(t <= 0 for t in self.taus):
            raise ValueError(f"every CWD temperature must be > 0, got {self.taus}")


def sweep_run(params, name: str, dest: Path) -> dict:
    """One run of distill's recipe with other CWD settings (``params``): its logs into ``dest``, the model dropped."""
    import shutil
    import tempfile

    from tasks.detection.train import train

    scratch = Path(tempfile.mkdtemp(prefix="edgerepro-cwd-sweep-"))
    try:
        metrics = train("distill", params, scratch / name, label=f"cwd_sweep.{name}", clear=False)
        shutil.copytree(scratch / name / "logs", dest / "logs")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return metrics


def run(params: Params, out_dir: Path) -> dict:
    from common.io import atomic_dir, atomic_write_json
    from common.training.parallel import run_all
    from common.training.stage import clear_scratch
    from tasks.detection.train import SeededParams

    distill = load_params(SeededParams, StageId("detection", "distill"))
    model_args = distill.config.model.get("init_args", {})
    runs = [(f"w{w:g}", {"cwd_weight": float(w)}) for w in params.weights]
    runs += [(f"t{t:g}", {"cwd_tau": float(t)}) for t in params.taus]
    sweep = {}
    with atomic_dir(out_dir) as tmp:
        jobs = [{"params": distill.model_copy(update={"config": distill.config.merged(
                    {"model": {"init_args": setting}})}), "name": name, "dest": tmp / name} for name, setting in runs]
        results = run_all(sweep_run, jobs, [name for name, _ in runs], params.parallel)
        for (name, setting), metrics in zip(runs, results):
            metrics["cwd_weight"] = float(setting.get("cwd_weight", model_args.get("cwd_weight")))
            metrics["cwd_tau"] = float(setting.get("cwd_tau", model_args.get("cwd_tau", 1.0)))
            atomic_write_json(tmp / name / "metrics.json", metrics)
            sweep[name] = {k: metrics.get(k) for k in ("cwd_weight", "cwd_tau", "val/map50", "val/map50_95",
                                                       "train_seconds", "threads")}
        doc = {"distill_cwd_weight": model_args.get("cwd_weight"), "cwd_tau": model_args.get("cwd_tau"),
               "seed": distill.seed, "runs": sweep}
        atomic_write_json(tmp / "sweep.json", doc)
    clear_scratch(StageId("detection", "cwd_sweep"))
    print(doc)
    return doc


if __name__ == "__main__":
    main(__spec__.name, Params, run)
