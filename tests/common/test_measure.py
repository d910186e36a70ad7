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


def test_the_worker_does_not_rerun_the_callers_main_module(tmp_path):
    """A stage run as ``python -m tasks.<t>.evaluate`` must not be imported again in every measuring process
    (torch and the task's models: about a second per measurement, and memory that is not the call's)."""
    import subprocess
    import sys

    mark = tmp_path / "imported"
    script = tmp_path / "main.py"
    script.write_text(f"import pathlib\npathlib.Path({str(mark)!r}).open('a').write('x')\n"
                      "if __name__ == '__main__':\n"
                      "    import os\n"
                      "    from common.evaluate.measure import run_measured\n"
                      "    assert run_measured(os.getpid).result != os.getpid()\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, str(script)], check=True, env={**os.environ, "PYTHONPATH": root})
    assert mark.read_text() == "x"  # the caller's module ran once: in the caller
