"""The fine-tuning loop: one readable function, on ``accelerate``, with early stopping and resume.

Top to bottom, :func:`train` does:

1. wrap the loss module and AdamW in ``accelerate`` (one process, several GPUs or nodes: the
   same code; launch with ``accelerate launch`` or ``torchrun``);
2. score the validation windows before any step, so "no improvement" means "no better than the
   model we started from";
3. per optimiser step: set the learning rate (warm-up, then linear decay), run ``grad_accum``
   micro-batches of windows (drawn by :class:`tsfm.adapters.windows.WindowSampler`, the same on any
   number of processes), step;
4. every ``eval_every`` steps: validation WQL; keep the best weights; stop after ``patience``
   validations without improvement;
5. every ``checkpoint_every`` steps: save everything needed to continue (weights, optimiser,
   RNG, the best weights so far, the history) to ``output_dir/checkpoint``, written beside it
   first and swapped in, so that a run killed while saving resumes from the checkpoint before.

At the end the best weights are loaded back, so the model returned is the one that scored best.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsfm.adapters.config import FinetuneConfig
from tsfm.adapters.windows import HeldOut, WindowSampler
from tsfm.errors import CheckpointError, InputError
from tsfm.metrics import wql
from tsfm.outputs import replace_folder

VALIDATION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
FINAL_LR_RATIO = 0.1  # the lr decays linearly to this share of the peak at the last step


@dataclass
class TrainResult:
    """What happened in :func:`train`.

    ``history`` holds one record per validation: ``{"step", "val_wql", "train_loss", "lr", "elapsed_s"}``.
    """

    steps: int
    best_step: int
    best_val_wql: float
    zero_shot_val_wql: float
    stopped_early: bool
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class _State:
    """Everything besides weights and optimiser that a resumed run must get back."""

    step: int = 0
    best_val: float = float("inf")
    best_step: int = 0
    zero_shot_val: float = float("nan")
    bad_evals: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def validation_wql(forecaster: Any, held_out: HeldOut, context_length: int) -> float:
    """WQL of ``forecaster`` on the held-out windows (contexts cut to ``context_length``)."""
    context = [c[-context_length:] for c in held_out.context]
    forecast = forecaster.predict_quantiles(context, held_out.target.shape[1], VALIDATION_LEVELS)
    return float(wql(held_out.target, forecast.quantiles, forecast.quantile_levels))


def train(
    objective: nn.Module,
    score: Callable[[], float],
    sampler: WindowSampler,
    config: FinetuneConfig,
    lr: float,
    output_dir: Path,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train the trainable parameters of ``objective`` and keep the best by ``score``.

    Parameters
    ----------
    objective
        ``forward(context [B, T], target [B, H]) -> loss``; its parameters with
        ``requires_grad`` are trained (the LoRA matrices, or every weight for full fine-tuning).
    score
        Validation WQL of the current weights (lower is better); called on every process.
    sampler
        Training windows.
    config
        Steps, batch, accumulation, schedule, early stopping, checkpoints.
    lr
        Peak learning rate.
    output_dir
        Where ``checkpoint/`` and ``train_log.jsonl`` go.
    resume
        Continue from ``output_dir/checkpoint`` if one exists.
    progress
        tqdm bar with the running loss.
    callback
        Called as ``callback(step)`` after each optimiser step; raising from it stops the run
        (the last checkpoint stays), which is how tests interrupt one.
    """
    from tqdm.auto import tqdm

    accelerator, module, optimizer, scheduler = _prepare(objective, config, lr)
    trainable = [p for p in objective.parameters() if p.requires_grad]
    started = time.perf_counter()
    state, best = _start_or_resume(accelerator, output_dir, trainable, config, score, resume)
    bar = tqdm(total=config.steps, initial=state.step, disable=not (progress and accelerator.is_main_process),
               desc="fine-tuning")
    losses: list[float] = []
    while state.step < config.steps and state.bad_evals < config.patience:
        losses += _accumulate_gradients(module, accelerator, sampler, state.step, config)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)

        if state.step % config.eval_every == 0 or state.step == config.steps:
            record = {"step": state.step, "val_wql": score(), "train_loss": float(np.mean(losses)),
                      "lr": scheduler.get_last_lr()[0],  # of the next step
                      "elapsed_s": round(state.seconds + time.perf_counter() - started, 2)}
            if _record_validation(accelerator, output_dir, state, record):
                best = [p.detach().clone() for p in trainable]
            losses = []
        if config.checkpoint_every and state.step % config.checkpoint_every == 0:
            _save(accelerator, output_dir, state, best, started)
        if callback is not None:
            callback(state.step)
    bar.close()

    with torch.no_grad():
        for p, b in zip(trainable, best):
            p.copy_(b)
    accelerator.wait_for_everyone()
    seconds = state.seconds + time.perf_counter() - started
    return TrainResult(state.step, state.best_step, state.best_val, state.zero_shot_val,
                       state.step < config.steps, round(seconds, 2), state.history)


def _prepare(objective: nn.Module, config: FinetuneConfig, lr: float) -> tuple[Any, nn.Module, Any, Any]:
    """The accelerator, the wrapped objective, AdamW over its trainable parameters and the lr schedule."""
    from accelerate import Accelerator

    from tsfm.pretraining.trainer import lr_schedule

    device_is_cpu = next(objective.parameters()).device.type == "cpu"
    accelerator = Accelerator(cpu=device_is_cpu, mixed_precision="no" if device_is_cpu else config.mixed_precision)
    micro = config.batch_size // config.grad_accum
    if micro % accelerator.num_processes:
        raise InputError(
            f"batch_size / grad_accum = {micro} windows per micro-batch must divide by the "
            f"{accelerator.num_processes} processes"
        )
    trainable = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=config.weight_decay)
    # linear warm-up (AdamW's first steps are poorly scaled), then linear decay to 10% of lr
    scheduler = lr_schedule(optimizer, "linear", config.warmup_steps, config.steps, FINAL_LR_RATIO)
    module, optimizer = accelerator.prepare(objective, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # resumed runs continue the curve
    # Dropout off: a fine-tuning run then gives the same weights on any number of processes,
    # and the few hundred steps on a user's data are regularised by early stopping instead.
    module.eval()
    return accelerator, module, optimizer, scheduler


def _start_or_resume(
    accelerator: Any, output_dir: Path, trainable: list[torch.Tensor], config: FinetuneConfig,
    score: Callable[[], float], resume: bool,
) -> tuple[_State, list[torch.Tensor]]:
    """The state and best weights of the checkpoint when resuming; else step 0, scored zero-shot."""
    restored = _restore(accelerator, output_dir, trainable, config) if resume else None
    if restored is not None:
        return restored
    state = _State()
    state.zero_shot_val = state.best_val = score()
    _log(accelerator, output_dir, {"step": 0, "val_wql": state.best_val, "event": "start"})
    return state, [p.detach().clone() for p in trainable]


def _accumulate_gradients(
    module: nn.Module, accelerator: Any, sampler: WindowSampler, step: int, config: FinetuneConfig
) -> list[float]:
    """Backward over the ``grad_accum`` micro-batches of ``step`` (this process's share); their losses."""
    rank, world = accelerator.process_index, accelerator.num_processes
    micro = config.batch_size // config.grad_accum
    losses = []
    for m in range(config.grad_accum):
        batch = sampler.batch(step, m, micro, rank, world)
        batch = {k: torch.from_numpy(v).to(accelerator.device) for k, v in batch.items()}
        with accelerator.autocast():
            loss = module(**batch) / config.grad_accum
        accelerator.backward(loss)
        losses.append(loss.item() * config.grad_accum)
    return losses


def _record_validation(accelerator: Any, output_dir: Path, state: _State, record: dict[str, Any]) -> bool:
    """Log a validation and update early stopping; True when it is the best score so far."""
    state.history.append(record)
    _log(accelerator, output_dir, record)
    if record["val_wql"] < state.best_val:
        state.best_val, state.best_step, state.bad_evals = record["val_wql"], state.step, 0
        return True
    state.bad_evals += 1
    return False


# ---- checkpoints --------------------------------------------------------------------------------
# A checkpoint folder is complete when it holds STATE_FILE, which is written last. The new one
# is written to PARTIAL, then the current one is renamed to PREVIOUS, PARTIAL to CHECKPOINT, and
# PREVIOUS deleted: a kill at any moment leaves CHECKPOINT or PREVIOUS complete, and a PARTIAL
# folder is never read.
CHECKPOINT, PARTIAL, PREVIOUS = "checkpoint", "checkpoint.tmp", "checkpoint.old"
STATE_FILE = "trainer_state.json"


def _save(accelerator: Any, output_dir: Path, state: _State, best: list[torch.Tensor], started: float) -> None:
    """Write ``checkpoint.tmp`` completely (``trainer_state.json`` last), then swap it in."""
    from safetensors.torch import save_file

    tmp = output_dir / PARTIAL
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written folder of a killed save
    accelerator.wait_for_everyone()
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_file({str(i): b.contiguous() for i, b in enumerate(best)}, str(tmp / "best.safetensors"))
        record = {**state.__dict__, "seconds": state.seconds + time.perf_counter() - started}
        (tmp / f"{STATE_FILE}.part").write_text(json.dumps(record, indent=2))
        (tmp / f"{STATE_FILE}.part").rename(tmp / STATE_FILE)  # the folder is complete from here on
        replace_folder(tmp, output_dir / CHECKPOINT, aside=output_dir / PREVIOUS)
    accelerator.wait_for_everyone()


def _find_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint of ``output_dir``: ``checkpoint``, else ``checkpoint.old`` (killed mid-swap)."""
    for name in (CHECKPOINT, PREVIOUS):
        if (output_dir / name / STATE_FILE).is_file():
            return output_dir / name
    return None


def _restore(
    accelerator: Any, output_dir: Path, trainable: list[torch.Tensor], config: FinetuneConfig
) -> tuple[_State, list[torch.Tensor]] | None:
    """The state and best weights of the complete checkpoint in ``output_dir``, loaded; ``None`` if none."""
    from safetensors import SafetensorError

    folder = _find_checkpoint(output_dir)
    if folder is None:
        return None
    try:
        state = _State(**json.loads((folder / STATE_FILE).read_text()))
        accelerator.load_state(str(folder))
        best = _load_best(folder, trainable)
    except (RuntimeError, KeyError, ValueError, TypeError, OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"cannot resume from {folder}: it was written by a different model, method or config, or is "
            f"damaged ({type(exc).__name__}: {exc}); delete it or pass resume=False (--no-resume)"
        ) from exc
    return state, best


def _load_best(folder: Path, trainable: list[torch.Tensor]) -> list[torch.Tensor]:
    from safetensors.torch import load_file

    saved = load_file(str(folder / "best.safetensors"))
    return [saved[str(i)].to(p.device) for i, p in enumerate(trainable)]


def _log(accelerator: Any, output_dir: Path, record: dict[str, Any]) -> None:
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(output_dir / "train_log.jsonl", "a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")
