"""common.training.parallel: runs side by side, results in order, thread plan, failures raised; and the
channels-last recipe option (same computation, model files saved contiguous)."""
from __future__ import annotations

import os

import pytest
import torch

from common.training.parallel import run_all, thread_plan


def _job(x: int, fail: bool = False) -> dict:
    if fail:
        raise ValueError(f"run {x} failed")
    return {"x": x, "pid": os.getpid(), "threads_seen": torch.get_num_threads(),
            "label": os.environ.get("EDGEREPRO_RUN_LABEL")}


def test_thread_plan_uses_every_core_in_each_round():
    assert thread_plan(3, 2, n_cores=2) == [1, 1, 2]  # the lone last run gets both cores
    assert thread_plan(4, 2, n_cores=2) == [1, 1, 1, 1]
    assert thread_plan(2, 1, n_cores=4) == [4, 4]
    assert thread_plan(5, 4, n_cores=2) == [1, 1, 1, 1, 2]  # never below one thread
    with pytest.raises(ValueError):
        thread_plan(2, 0)


def test_sequential_runs_in_process():
    out = run_all(_job, [{"x": 1}, {"x": 2}], ["a", "b"], parallel=1)
    assert [o["x"] for o in out] == [1, 2]
    assert {o["pid"] for o in out} == {os.getpid()}


def test_parallel_runs_in_workers_in_order_with_planned_threads():
    out = run_all(_job, [{"x": k} for k in range(3)], ["r0", "r1", "r2"], parallel=2)
    assert [o["x"] for o in out] == [0, 1, 2]
    assert os.getpid() not in {o["pid"] for o in out}
    plan = thread_plan(3, 2)
    assert [o["threads_seen"] for o in out] == plan == [o["threads"] for o in out]
    assert [o["label"] for o in out] == ["r0", "r1", "r2"]


def test_a_failing_run_is_raised():
    with pytest.raises(ValueError, match="run 1 failed"):
        run_all(_job, [{"x": 0}, {"x": 1, "fail": True}], ["a", "b"], parallel=2)
    with pytest.raises(ValueError, match="labels"):
        run_all(_job, [{"x": 0}], ["a", "b"], parallel=2)


def test_channels_last_same_loss_and_contiguous_after_fit():
    from torch import nn

    from common.training.module import TaskModule

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.SiLU(), nn.Conv2d(8, 4, 1))
    x = torch.rand(2, 3, 16, 16)
    ref = net(x).sum()
    m = TaskModule(channels_last=True)
    m.model = net
    m.use_memory_format(m.model)
    assert m.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not m.model[0].weight.is_contiguous()
    out = m.model(x.contiguous(memory_format=torch.channels_last)).sum()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    m.on_fit_end()
    assert all(p.is_contiguous() for p in m.model.parameters())
    off = TaskModule()
    off.model = nn.Conv2d(3, 8, 3)
    off.use_memory_format(off.model)
    assert off.model.weight.is_contiguous()
