"""Fit a pretraining run to the machine it runs on: an accelerator recipe with a CPU fallback.

``tsfm pretrain --device auto --minutes 10`` calls :func:`plan_run` before training:

- on a CUDA device: bf16 autocast; the largest batch that fits (:func:`largest_batch`, probed by
  running one forward and backward pass per candidate size, a size counting as too large when it
  raises an out-of-memory error or its peak memory passes ``memory_fraction`` of the device), less
  a margin, then halved while that raises the series trained per second (:func:`fastest_batch`:
  Chronos-2's group attention costs the square of the batch, so its largest batch is its slowest;
  on an H200 it fitted 2,048 but trained 3.4 times the series per second at 512); the learning
  rate scaled by the square root of the batch growth (capped); batches made ahead by
  ``data_workers`` processes; checkpoints every ``checkpoint_minutes`` as well as by steps;
- on the CPU: the config as written (the CPU recipe), float32 unless it says bf16;
- with ``minutes``, on either: the number of steps that fills that much time at the measured
  step time (a fixed share of it is kept for start-up, validation, checkpoints and the final save),
  so the learning-rate schedule completes inside the budget.

A run that resumes (a checkpoint exists in its output folder) keeps the plan it started with
(the checkpoint's config), so an interrupted run continues with the same batch, steps and
schedule. The plan is written beside the run as ``recipe.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tsfm.errors import InputError
from tsfm.pretraining.config import PretrainConfig, build_model
from tsfm.pretraining.trainer import QuantileTrainingModule, find_checkpoint, make_batch

DEVICES = ("auto", "cuda", "cpu")
BUDGET_SHARE = 0.85  # of the minutes: the rest for start-up, validation, checkpoints, the final save
HEADROOM = 0.85  # the batch actually used, as a share of the largest that fitted
MAX_LR_GAIN = 4.0  # the lr grows with sqrt(batch growth), at most this much
GPU_CHECKPOINT_MINUTES = 2.0

Trial = Callable[[int], float]  # batch size -> seconds of one forward + backward; raises on OOM


@dataclass(frozen=True)
class RunPlan:
    """What :func:`plan_run` chose and why (written to ``recipe.json``)."""

    device: str
    batch_size: int
    largest_fitting_batch: int | None
    lr: float
    steps: int
    bf16: bool
    step_seconds: float | None
    data_workers: int
    checkpoint_minutes: float | None
    resumed: bool
    note: str


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator running out of memory (not any other failure)."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(error, oom) or (isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def largest_batch(fits: Callable[[int], bool], start: int, limit: int, multiple: int = 8) -> int:
    """The largest batch size (a multiple of ``multiple``, at most ``limit``) for which ``fits`` holds.

    Doubles from ``start`` until a size fails or passes ``limit``, then bisects between the last
    size that fitted and the first that did not. Assumes ``fits`` is monotone (a larger batch never
    needs less memory). Raises :class:`~tsfm.errors.InputError` when even ``multiple`` does not fit.
    """
    limit = limit // multiple * multiple
    if limit < multiple:
        raise InputError(f"limit must be >= multiple={multiple}; got {limit}")
    size = min(limit, max(multiple, start // multiple * multiple))
    good, bad = (size, None) if fits(size) else (0, size)
    while bad is None:  # doubling
        if good == limit:
            return good
        size = min(limit, good * 2)
        good, bad = (size, None) if fits(size) else (good, size)
    while bad - good > multiple:  # bisection; invariant: good fits (or is 0), bad does not
        middle = (good + bad) // 2 // multiple * multiple
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    if good == 0:
        raise InputError(f"not even a batch of {multiple} fits on this device")
    return good


def fastest_batch(trial: Trial, largest: int, smallest: int, data_seconds_per_row: float = 0.0,
                  tolerance: float = 0.9) -> tuple[int, dict[int, float]]:
    """The batch that trains the most rows per second: ``largest``, halved down to ``smallest``.

    Each candidate is timed by ``trial`` (after one warm-up pass) and its time taken as the larger of
    the model's and the data's (``data_seconds_per_row`` times its size: the data processes' share).
    The largest candidate within ``tolerance`` of the best throughput wins (larger batches need fewer
    optimiser steps and less Python per row). Returns the batch and ``{size: seconds per step}``.
    """
    sizes = [largest]
    while sizes[-1] // 2 // 8 * 8 >= max(8, smallest):
        sizes.append(sizes[-1] // 2 // 8 * 8)
    seconds: dict[int, float] = {}
    for size in sizes:
        trial(size)  # warm-up: kernel selection and allocation
        seconds[size] = max(trial(size), data_seconds_per_row * size)
    rate = {size: size / max(s, 1e-9) for size, s in seconds.items()}
    best = max(rate.values())
    return max(size for size in sizes if rate[size] >= tolerance * best), seconds


def _fits(trial: Trial) -> Callable[[int], bool]:
    def fits(size: int) -> bool:
        try:
            trial(size)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return False
        return True

    return fits


def device_trial(config: PretrainConfig, device: torch.device, memory_fraction: float = 0.9) -> Trial:
    """One forward + backward pass of ``config``'s model at a given batch size, timed, on ``device``.

    On CUDA a pass whose peak memory passes ``memory_fraction`` of the device counts as out of
    memory too (the optimiser's states and the batches made ahead need the rest).
    """
    module = QuantileTrainingModule(build_model(config), config.family, config.prediction_length,
                                    config.target_clamp).to(device)
    cuda = device.type == "cuda"

    def trial(size: int) -> float:
        batch = make_batch(config.replace(batch_size=size), config.seed, 0, clean=False)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            loss = module(**{k: v.to(device) for k, v in batch.items()})
        loss.backward()
        module.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
            total = torch.cuda.get_device_properties(device).total_memory
            if torch.cuda.max_memory_allocated(device) > memory_fraction * total:
                raise torch.OutOfMemoryError(f"peak memory over {memory_fraction:.0%} of the device at batch {size}")
        return time.perf_counter() - started

    return trial


def data_seconds(config: PretrainConfig, size: int, repeats: int = 2) -> float:
    """Seconds to make one training batch of ``size`` tasks in one process (the best of ``repeats``)."""
    best = math.inf
    for i in range(repeats):
        started = time.perf_counter()
        make_batch(config.replace(batch_size=size), config.seed, i, clean=False)
        best = min(best, time.perf_counter() - started)
    return best


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible to torch; use --device auto to fall back to the CPU")
    return device


def plan_run(
    config: PretrainConfig, device: str = "auto", minutes: float | None = None, resume: bool = True,
    trial: Trial | None = None, batch_limit: int = 4096, workers: int | None = None,
) -> tuple[PretrainConfig, RunPlan]:
    """The config to train on this machine, and the plan that explains it (see the module docstring).

    ``trial`` replaces the real forward/backward probe (tests pass one with a fake memory limit);
    ``workers`` the number of data processes on CUDA (default: the CPU cores less two, at most 12).
    """
    if minutes is not None and not (isinstance(minutes, (int, float)) and minutes > 0):
        raise InputError(f"--minutes must be a positive number; got {minutes!r}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # each process would probe its own batch size
        raise InputError("--device plans a single-process run; under accelerate launch or torchrun, "
                         "write batch_size and bf16 into the config instead")
    kind = resolve_device(device)
    saved = find_checkpoint(Path(config.output_dir)) if resume else None
    if saved is not None:  # keep the plan the run started with
        state = json.loads((saved / "trainer_state.json").read_text())
        kept = PretrainConfig.from_dict(state["config"]).replace(output_dir=config.output_dir)
        return kept, RunPlan(kind, kept.batch_size, None, kept.lr, kept.steps, kept.bf16, None, kept.data_workers,
                             kept.checkpoint_minutes, True, f"resuming {saved}: the plan of its config")
    if kind == "cuda":
        config = config.replace(bf16=True)
    trial = trial or device_trial(config, torch.device(kind))
    largest, note = None, "the config's batch (CPU recipe)"
    batch, data_workers, checkpoint_minutes = config.batch_size, config.data_workers, config.checkpoint_minutes
    if kind == "cuda":
        largest = largest_batch(_fits(trial), config.batch_size, batch_limit)
        data_workers = workers if workers is not None else max(1, min(12, (os.cpu_count() or 4) - 2))
        per_row = data_seconds(config, config.batch_size) / config.batch_size / max(1, data_workers)
        batch, timed = fastest_batch(trial, max(8, int(largest * HEADROOM) // 8 * 8), config.batch_size, per_row)
        checkpoint_minutes = checkpoint_minutes or GPU_CHECKPOINT_MINUTES
        rates = ", ".join(f"{size}: {size / s:,.0f}/s" for size, s in timed.items())
        note = (f"largest batch that fitted {largest}; of {HEADROOM:.0%} of it and its halvings the most rows "
                f"per second at {batch} ({rates})")
    gain = min(MAX_LR_GAIN, math.sqrt(batch / config.batch_size)) if batch > config.batch_size else 1.0
    changes: dict[str, object] = dict(batch_size=batch, lr=config.lr * gain, data_workers=data_workers,
                                      checkpoint_minutes=checkpoint_minutes)
    step_seconds = None
    if minutes is not None:
        trial(batch)  # warm-up: the first pass pays for kernel selection and allocation
        compute = trial(batch)
        making = data_seconds(config, batch) / max(1, data_workers)
        step_seconds = 1.1 * max(compute, making) if data_workers else 1.1 * (compute + making)
        steps = max(1, int(minutes * 60 * BUDGET_SHARE / step_seconds))
        every = max(1, steps // 5)
        changes.update(steps=steps, warmup_steps=min(config.warmup_steps, steps // 10),
                       clean_warmup_steps=min(config.clean_warmup_steps, steps // 5),
                       validate_every=every, checkpoint_every=every)
        note += f"; {steps} steps of {step_seconds:.3f} s fill {BUDGET_SHARE:.0%} of {minutes:g} min"
    planned = config.replace(**changes)
    return planned, RunPlan(kind, batch, largest, planned.lr, planned.steps, planned.bf16, step_seconds,
                            planned.data_workers, planned.checkpoint_minutes, False, note)


def write_plan(plan: RunPlan, output_dir: str | Path) -> Path:
    path = Path(output_dir) / "recipe.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(plan), indent=2) + "\n")
    return path
