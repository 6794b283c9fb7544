"""Pacing of a training run: checkpoints by the clock, and batches generated ahead of the step.

Two small pieces the loop of :func:`tsfm.pretraining.trainer.pretrain` uses:

- :class:`CheckpointClock` says when a checkpoint is due: every ``every_steps`` steps, at the last
  step, and (optionally) when ``every_minutes`` have passed since the last one. On a lent
  accelerator a run is measured in minutes, not steps, and a run that is cut off must lose little.
- :func:`batch_stream` yields the batches of steps ``start .. stop - 1`` in order, made by a pure
  function of the step, either in this process or in ``workers`` processes that run ahead (a
  torch ``DataLoader``). Because every batch is a pure function of its step, both give the same
  batches, and a resumed run sees the batches an uninterrupted one would have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from tsfm.errors import InputError


class CheckpointClock:
    """When to checkpoint: by step count, at the end, and by elapsed minutes.

    Parameters
    ----------
    every_steps
        Checkpoint after every multiple of this many steps.
    last_step
        The run's final step (always checkpointed).
    every_minutes
        Also checkpoint once this many minutes have passed since the last checkpoint (or since
        the clock was made); ``None``: by steps only.
    clock
        Seconds as a float (``time.monotonic`` by default; tests pass a fake one).
    """

    def __init__(self, every_steps: int, last_step: int, every_minutes: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if every_minutes is not None and not every_minutes > 0:
            raise InputError(f"every_minutes must be a positive number or None; got {every_minutes!r}")
        self.every_steps, self.last_step = int(every_steps), int(last_step)
        self.every_s = None if every_minutes is None else 60.0 * float(every_minutes)
        self.clock = clock
        self.last_save = clock()

    def due(self, step: int) -> bool:
        """Whether to checkpoint after ``step`` steps; call :meth:`saved` once it is written."""
        if step % self.every_steps == 0 or step == self.last_step:
            return True
        return self.every_s is not None and self.clock() - self.last_save >= self.every_s

    def saved(self) -> None:
        """Restart the minutes count: a checkpoint was just written."""
        self.last_save = self.clock()


class _Steps:
    """A map-style dataset over steps: item ``i`` is ``make(start + i)`` (picklable for workers)."""

    def __init__(self, make: Callable[[int], Any], start: int, stop: int) -> None:
        self.make, self.start, self.stop = make, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> Any:
        return self.make(self.start + i)


def batch_stream(make: Callable[[int], Any], start: int, stop: int, workers: int = 0) -> Iterator[Any]:
    """The batches ``make(start), ..., make(stop - 1)``, in order.

    ``workers`` > 0 generates them in that many processes of a torch ``DataLoader``, each a few
    batches ahead of the training step; ``make`` must then be picklable (a module-level function
    or a callable object). The order and the batches are the same either way.
    """
    if workers <= 0:
        for step in range(start, stop):
            yield make(step)
        return
    import torch
    from torch.utils.data import DataLoader

    # Its own generator: a DataLoader otherwise draws its workers' seed from torch's global RNG,
    # which shifts the dropout masks of a resumed run away from those of an uninterrupted one.
    loader = DataLoader(_Steps(make, start, stop), batch_size=None, shuffle=False, num_workers=workers,
                        prefetch_factor=4, generator=torch.Generator().manual_seed(0))
    yield from loader
