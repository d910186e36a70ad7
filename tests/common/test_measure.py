"""``common.evaluate.measure.run_measured``: a call in a fresh process, its result, its memory, its errors."""
import os

import pytest

from common.evaluate.measure import run_measured


def allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):  # touch every page: resident, not only reserved
        block[i] = 1
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def die() -> None:
    os._exit(3)


def test_result_and_peak_memory_of_a_fresh_process():
    m = run_measured(allocate, 64)
    assert m.result != os.getpid()  # another process
    assert m.added_mb >= 60 and m.peak_rss_mb >= m.baseline_rss_mb + 60
    assert m.peak_child_rss_mb is None  # it ran no subprocess


def test_an_error_is_raised_again_with_its_type_and_message():
    with pytest.raises(ValueError, match="the cause") as e:
        run_measured(fail, "the cause")
    assert any("in the measuring process" in n for n in getattr(e.value, "__notes__", []))


def test_a_process_that_dies_is_reported_not_waited_for():
    with pytest.raises(RuntimeError, match="exit code 3"):
        run_measured(die)
