"""Worker processes that never outlive their caller, and time limits that end them."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tsfm.time_limits import TimeLimitReached, time_limit
from tsfm.workers import run_in_workers, worker_count

LINUX = sys.platform.startswith("linux")


def square_after(value: int, seconds: float) -> int:
    time.sleep(seconds)
    return value * value


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three is not allowed")
    return value


def write_pid_then_sleep(folder: str, seconds: float) -> int:
    Path(folder, str(os.getpid())).touch()
    time.sleep(seconds)
    return os.getpid()


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_when_tasks_run_in_workers_then_the_results_come_back_in_order():
    tasks = [(v, 0.05 * (5 - v)) for v in range(6)]  # the first tasks finish last
    assert run_in_workers(square_after, tasks, 2) == [0, 1, 4, 9, 16, 25]


def test_when_a_task_raises_then_the_caller_gets_the_error():
    with pytest.raises(ValueError, match="three is not allowed"):
        run_in_workers(fail_on_three, [(v,) for v in range(5)], 2)


def test_when_workers_are_counted_then_there_is_at_most_one_per_task():
    assert worker_count(4, 2) == 2 and worker_count(1, 10) == 1 and worker_count(-1, 1) == 1
    assert 1 <= worker_count(-1, 1000) <= (os.cpu_count() or 1)


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_when_a_time_limit_interrupts_the_workers_then_they_are_ended_at_once(tmp_path):
    start = time.monotonic()
    with pytest.raises(TimeLimitReached), time_limit(1.0):
        run_in_workers(write_pid_then_sleep, [(str(tmp_path), 60.0)] * 4, 2)
    assert time.monotonic() - start < 10, "the caller did not wait for the 60 s tasks"
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 2, "both workers had started a task"
    assert not [pid for pid in pids if is_running(pid)], "no worker outlives the interrupted call"


def test_when_the_block_ends_in_time_then_the_limit_changes_nothing():
    with time_limit(5.0):
        value = sum(range(1000))
    with time_limit(None):
        time.sleep(0.01)
    assert value == 499500
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0, "no alarm is left behind"


def test_when_the_block_runs_past_its_limit_then_it_is_interrupted_inside():
    start = time.monotonic()
    with pytest.raises(TimeLimitReached, match="time limit of 0.2 s reached"), time_limit(0.2):
        while True:
            time.sleep(0.01)
    assert time.monotonic() - start < 2


def test_when_the_time_is_up_then_except_exception_cannot_swallow_it():
    with pytest.raises(TimeLimitReached), time_limit(0.2):
        for _ in range(500):
            try:
                time.sleep(0.01)
            except Exception:  # what code that records a model's failures and goes on does
                pass


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), "5", True])
def test_when_the_limit_is_not_a_positive_number_then_it_is_refused(seconds):
    with pytest.raises(ValueError, match="seconds must be a positive number or None"), time_limit(seconds):
        pass
