"""Worker processes that never outlive the process that started them.

:func:`run_in_workers` maps a function over tasks in a pool of worker processes and returns the
results in order; the classical baselines fit their automatic models this way. Whatever ends the
caller, no worker is left behind:

- an exception while the pool runs (``KeyboardInterrupt``, a time limit of
  :func:`tsfm.time_limits.time_limit`, any error) terminates the workers at once, without waiting
  for their tasks, and is raised again;
- ``SIGTERM`` while the pool runs in the main thread becomes ``SystemExit(143)`` there (where no
  other handler was installed), so the same path terminates the workers before the process exits;
- each worker asks the kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``;
  elsewhere a thread of the worker watches its parent's id), so a caller killed with ``SIGKILL``
  leaves no worker either;
- workers ignore ``SIGINT``: Ctrl-C reaches the whole process group, and the caller ends them.

Workers are forked where the platform allows it (as statsforecast's own pool was), so they start
in milliseconds and need not import anything again.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies (linux/prctl.h)
PARENT_POLL_SECONDS = 0.5  # how often a worker without PR_SET_PDEATHSIG checks that its parent lives
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worker_count(n_jobs: int, n_tasks: int) -> int:
    """Workers for ``n_tasks`` tasks: ``n_jobs`` (``-1`` = :func:`available_cpus`), at most one per task."""
    wanted = available_cpus() if n_jobs == -1 else n_jobs
    return max(1, min(wanted, n_tasks))


def run_in_workers(function: Callable[..., Any], tasks: Sequence[tuple], n_workers: int) -> list[Any]:
    """``[function(*task) for task in tasks]``, computed in ``n_workers`` worker processes.

    ``function`` and the tasks must pickle (a module-level function and plain data). The results
    come back in the order of ``tasks``; an exception raised by a task is raised here. See the
    module docstring for how the workers end with the caller.
    """
    context = _context()
    pool = context.Pool(n_workers, initializer=_start_worker, initargs=(os.getpid(),))
    try:
        with _sigterm_as_exit():
            results = pool.starmap(function, tasks, chunksize=1)
    except BaseException:
        pool.terminate()  # SIGTERM to every worker now, not after their tasks
        raise
    else:
        pool.close()
    finally:
        pool.join()
    return results


def _context() -> Any:
    """Fork where available (the caller's pid is then every worker's parent), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM raises ``SystemExit(143)`` instead of killing
    the process outright, so the caller's ``except`` can end the workers; another handler is kept."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL, None,
    ):
        yield
        return

    def exit_now(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise SystemExit(SIGTERM_EXIT_CODE)

    signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_worker(parent: int) -> None:
    """Pool initializer: die with ``parent``, leave Ctrl-C to it, and die on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _die_with_parent() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
