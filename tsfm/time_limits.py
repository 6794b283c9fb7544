"""A time limit on a block of code, for work that must not run on silently (the export gate).

:func:`time_limit` raises :class:`TimeLimitReached` in the block once its seconds have passed:
through ``SIGALRM`` in the main thread of a POSIX process (so a long model call or a wait on
worker processes is interrupted, and :func:`tsfm.workers.run_in_workers` ends its workers), and
elsewhere, or where another ``SIGALRM`` timer is already running, when the block ends.

:class:`TimeLimitReached` derives from ``BaseException``, not ``Exception``: code that records a
model's failures and goes on (``except Exception`` in :func:`tsfm.rolling.predict_robustly`)
must not take the end of the time for one more failure. The caller catches it and turns it into
its own message.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any


class TimeLimitReached(BaseException):  # noqa: N818 (not an error of the code: the time is up)
    """The block of :func:`time_limit` ran past its seconds."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"time limit of {seconds:g} s reached")
        self.seconds = seconds


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitReached` in the block once ``seconds`` have passed; ``None``: no limit.

    Raises
    ------
    ValueError
        When ``seconds`` is not a positive finite number or None.
    """
    if seconds is None:
        yield
        return
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        raise ValueError(f"seconds must be a positive number or None, got {seconds!r}")
    if not _can_alarm():
        start = time.monotonic()
        yield
        if time.monotonic() - start > seconds:
            raise TimeLimitReached(seconds)
        return
    armed = [True]

    def ring(signum: int, frame: Any) -> None:
        if armed[0]:
            raise TimeLimitReached(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def _can_alarm() -> bool:
    """SIGALRM exists, this is the main thread, and no other ITIMER_REAL timer is running."""
    return (
        hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
