"""Pretrain a Chronos-Bolt or Chronos-2 model on synthetic series and, optionally, real ones.

Real series come from the public corpus (``corpus``) and the user's ``extra_data``, both
screened against the evaluation sets (:mod:`tsfm.pretraining.corpus`).

Read :func:`pretrain` top to bottom: it is the whole training loop. The helpers above it cut
generated series into (context, target) windows, compute the quantile loss, build the
learning-rate schedule, and write and read checkpoints.

Design choices that matter for reproducibility:

- The data of step ``s`` on process ``r`` of ``W`` is a pure function of ``(seed, s * W + r)``:
  the generators are called with that index and every random choice of the windowing is drawn
  from a generator seeded with it. A resumed run therefore sees exactly the batches an
  uninterrupted one would.
- The learning rate follows a transformers warm-up schedule (:func:`lr_schedule`) over
  ``config.steps``; its state is saved with the checkpoint, so an interrupted run follows the
  planned curve.
- Checkpoints hold model, optimiser, scheduler and RNG states (``accelerate.save_state``) and are written to
  a temporary folder that is renamed into place, so a kill mid-write leaves the last good one.

One process runs it as a plain call, on CPU or GPU. Several GPUs or nodes:
``accelerate launch -m tsfm.pretraining.cli --config cfg.json``; several CPU processes:
``ACCELERATE_USE_CPU=true torchrun --nproc_per_node N -m tsfm.pretraining.cli --config cfg.json``.
Each process draws its own ``batch_size`` tasks, so the global batch is ``N x batch_size``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsfm.errors import CheckpointError, InputError
from tsfm.metrics import pinball
from tsfm.outputs import replace_folder
from tsfm.pretraining import synthetic
from tsfm.pretraining.config import PretrainConfig, build_model
from tsfm.pretraining.corpus import RealSeries
from tsfm.pretraining.pacing import CheckpointClock, batch_stream

CLEAN_GENERATOR = "clean_seasonal"
_SPLIT_STREAM = 0x5011  # salt of the windowing RNG, so it differs from the generators' own stream
_VALIDATION_STREAM = 0x7A11D  # salt of the validation seed: a seed the training stream never uses
# Fields that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {
    "steps", "checkpoint_every", "validate_every", "validation_series", "bf16", "output_dir",
    "checkpoint_minutes", "data_workers", "evaluation_data",
}

Batch = dict[str, torch.Tensor]


# ---- data: windows cut from generated series ---------------------------------------------------
def make_windows(
    series: np.ndarray, config: PretrainConfig, rng: np.random.Generator, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one (context, target) window from each generated series.

    ``series`` is ``[n, length]``. Returns ``context [n, context_length]`` and
    ``target [n, prediction_length]``, both float32. The window starts at a random offset when the
    series is longer than needed. A ``short_context_share`` of the windows keeps only a random
    shorter history (at least ``min_context_length``; its length uniform or log-uniform, see
    ``short_context_scale``), NaN-padded on the left like the pipelines
    pad short series, so the model learns to forecast from short contexts too.

    ``groups [n]`` (ints in ``0 .. n_groups - 1``): rows of one group (a target and its covariates,
    or related series) get the same offset and truncation, so they stay aligned in time.
    """
    n, length = series.shape
    ctx, horizon = config.context_length, config.prediction_length
    groups = np.arange(n) if groups is None else groups
    n_groups = int(groups.max()) + 1 if n else 0
    offsets = rng.integers(0, length - ctx - horizon + 1, size=n_groups)[groups]
    keep = np.full(n_groups, ctx)
    short = rng.random(n_groups) < config.short_context_share
    low, count = config.min_context_length, int(short.sum())
    if config.short_context_scale == "log":  # as many contexts of 8-32 values as of 128-512
        keep[short] = np.exp(rng.uniform(np.log(low), np.log(ctx + 1), size=count)).astype(int)
    else:
        keep[short] = rng.integers(low, ctx + 1, size=count)
    columns = offsets[:, None] + np.arange(ctx + horizon)[None, :]
    window = np.take_along_axis(series, columns, axis=1).astype(np.float32)  # [n, ctx + horizon]
    context, target = window[:, :ctx].copy(), window[:, ctx:].copy()
    context[np.arange(ctx)[None, :] < (ctx - keep[groups])[:, None]] = np.nan
    return context, target


def _covariate_tasks(
    config: PretrainConfig, seed: int, index: int, n_tasks: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Rows of ``n_tasks`` covariate tasks (Chronos-2): one group per task, the target row first.

    Known-future covariates carry their horizon in ``future_covariates`` and are left out of the
    loss: they are inputs. Past-only covariates have no known future, so the model forecasts them
    along with the target, which teaches it the multivariate structure too.
    """
    raw = synthetic.generate_covariate_batch(config.synthetic, seed, index, n_tasks)
    variates = np.concatenate(  # [n_tasks, 1 + Cp + Cf, length]
        [raw["target"][:, None], raw["past_covariates"], raw["future_covariates"]], axis=1
    )
    n_variates = variates.shape[1]
    known = np.arange(n_variates) >= n_variates - raw["future_covariates"].shape[1]
    groups = np.repeat(np.arange(n_tasks), n_variates)
    context, target = make_windows(variates.reshape(n_tasks * n_variates, -1), config, rng, groups)
    future = np.where(np.tile(known, n_tasks)[:, None], target, np.nan)
    return {"context": context, "target": target, "future_covariates": future, "group_ids": groups}


def _group_tasks(
    config: PretrainConfig, seed: int, index: int, n_groups: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Rows of ``n_groups`` groups of related series (Chronos-2), all forecast jointly."""
    raw = synthetic.generate_group_batch(config.synthetic, seed, index, n_groups)
    context, target = make_windows(raw["target"], config, rng, raw["group_ids"])
    return {"context": context, "target": target, "future_covariates": np.full_like(target, np.nan),
            "group_ids": raw["group_ids"]}


def make_batch(
    config: PretrainConfig, seed: int, index: int, clean: bool, extra: RealSeries | None = None
) -> Batch:
    """The batch with data index ``index`` of the stream ``seed``: a pure function of its arguments.

    ``clean`` restricts the batch to univariate series of the clean-seasonal generator (the
    curriculum warm-up). Otherwise shares of the ``batch_size`` tasks are real series from ``extra``
    (some TSMixup-combined with this batch's synthetic windows) and, for Chronos-2, covariate
    tasks and groups of related series; those add one row per variate or member. Chronos-2
    batches carry ``group_ids`` and ``future_covariates`` (NaN except for known-future covariates).
    """
    rng = np.random.default_rng([seed, index, _SPLIT_STREAM])
    shares = (config.covariate_share, config.group_share, config.extra_data_share if extra else 0.0)
    n_cov, n_group, n_extra = (0 if clean else round(share * config.batch_size) for share in shares)
    mix = dataclasses.replace(config.synthetic, weights={CLEAN_GENERATOR: 1.0}) if clean else config.synthetic
    series = synthetic.generate_batch(mix, seed, index, config.batch_size - n_cov - n_group - n_extra)
    context, target = make_windows(series, config, rng)
    if n_extra:
        extra_context, extra_target = extra.sample(n_extra, rng, synthetic=(context, target))
        context, target = np.concatenate([context, extra_context]), np.concatenate([target, extra_target])
    parts = [{"context": context, "target": target, "group_ids": np.arange(len(context)),
              "future_covariates": np.full_like(target, np.nan)}]
    if n_cov:
        parts.append(_covariate_tasks(config, seed, index, n_cov, rng))
    if n_group:
        parts.append(_group_tasks(config, seed, index, n_group, rng))
    offset = 0
    for part in parts:  # group ids unique across parts
        part["group_ids"] = part["group_ids"] + offset
        if len(part["group_ids"]):
            offset = int(part["group_ids"].max()) + 1
    batch = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    if config.family == "chronos-bolt":
        batch = {"context": batch["context"], "target": batch["target"]}
    elif not (n_cov or n_group):
        del batch["future_covariates"]  # all NaN: let the model skip them
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


class StepBatches:
    """The training batch of each step: ``make_batch`` with the step's data index and curriculum.

    A callable object rather than a closure, so ``data_workers`` processes can receive it.
    Clean seasonal series come first (``clean_warmup_steps``): from scratch the model otherwise
    learns a flat forecast and stays there; a few hundred steps of clear periodic structure break
    that plateau.
    """

    def __init__(self, config: PretrainConfig, world: int = 1, rank: int = 0,
                 extra: RealSeries | None = None) -> None:
        self.config, self.world, self.rank, self.extra = config, world, rank, extra

    def __call__(self, step: int) -> Batch:
        clean = step < self.config.clean_warmup_steps
        return make_batch(self.config, self.config.seed, step * self.world + self.rank, clean, self.extra)


def validation_seed(config: PretrainConfig) -> int:
    """Seed of the held-out validation set: derived from ``config.seed``, never drawn in training."""
    return int(np.random.SeedSequence([config.seed, _VALIDATION_STREAM]).generate_state(1)[0])


def validation_batches(config: PretrainConfig) -> list[Batch]:
    """The fixed validation set: ``validation_series`` windows of the full synthetic mix."""
    val = config.replace(batch_size=min(config.batch_size, config.validation_series))
    n_batches = math.ceil(config.validation_series / val.batch_size)
    return [make_batch(val, validation_seed(config), i, clean=False) for i in range(n_batches)]


# ---- loss ---------------------------------------------------------------------------------------
def quantile_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, levels: torch.Tensor
) -> torch.Tensor:
    """Pinball loss, summed over quantile levels and averaged over observed target points.

    ``pred [B, Q, H]``, ``target [B, H]`` (no NaN), ``mask [B, H]`` (1 = counts), ``levels [Q]``.
    The factor 2 matches upstream Chronos, so the numbers compare with its reported losses.
    Averaging over observed points (not over all ``H``) keeps series with missing or masked
    targets from diluting the loss.
    """
    loss = 2 * pinball(pred, target[:, None, :], levels.view(1, -1, 1)).sum(dim=1)  # [B, Q, H] -> [B, H]
    return (loss * mask).sum() / mask.sum().clamp(min=1)


class QuantileTrainingModule(nn.Module):
    """A Chronos model whose ``forward`` returns the training loss of a batch.

    Why not the upstream ``forward(..., target=...)`` loss: it scales the target by the context's
    mean and standard deviation but does not bound it, so one near-constant context followed by
    a jump gives a scaled target of 1e5 and one such sample dominates a whole batch. We run the
    upstream encoder and heads to get the quantiles *in scaled space*, scale the target the
    same way and clip it to ``+-target_clamp`` before the loss (for Chronos-2, before its arcsinh).
    The loss is computed in float32 even under bf16 autocast.

    Why a module and not a function: under ``accelerate launch`` the model is wrapped in
    DistributedDataParallel, which synchronises gradients only through the wrapper's ``forward``.

    Parameters
    ----------
    model
        A ``ChronosBoltModelForForecasting`` or ``Chronos2Model`` (or a peft wrapper's base model).
    family
        ``"chronos-bolt"`` or ``"chronos-2"``.
    horizon
        Target length ``H``; for Bolt, targets shorter than its native horizon are NaN-padded by the caller.
    target_clamp
        Bound on the scaled target.
    """

    def __init__(self, model: nn.Module, family: str, horizon: int, target_clamp: float = 15.0) -> None:
        super().__init__()
        self.model = model
        self.family = family
        self.clamp = float(target_clamp)
        self.horizon = int(horizon)

    def forward(self, context: torch.Tensor, target: torch.Tensor, group_ids: torch.Tensor | None = None,
                future_covariates: torch.Tensor | None = None) -> torch.Tensor:
        if self.family == "chronos-bolt":
            pred, (loc, scale) = self._bolt_scaled_quantiles(context)
        else:
            pred, (loc, scale) = self._chronos2_scaled_quantiles(context, group_ids, future_covariates)
        scaled = ((target - loc) / scale).clamp(-self.clamp, self.clamp)
        if getattr(self.model.instance_norm, "use_arcsinh", False):
            scaled = torch.arcsinh(scaled)
        mask = ~torch.isnan(target)
        if future_covariates is not None:  # known future values are inputs, not forecasts
            mask &= torch.isnan(future_covariates)
        scaled = torch.where(mask, scaled, 0.0)
        return quantile_loss(pred.float(), scaled.float(), mask.float(), self.model.quantiles.float())

    def _bolt_scaled_quantiles(self, context: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        m = self.model
        hidden, loc_scale, embeds, attention_mask = m.encode(context=context)
        decoded = m.decode(embeds, attention_mask, hidden)  # [B, 1, d_model]
        pred = m.output_patch_embedding(decoded).view(len(context), m.num_quantiles, -1)  # [B, Q, H]
        return pred, loc_scale

    def _chronos2_scaled_quantiles(self, context, group_ids, future_covariates) -> tuple[torch.Tensor, tuple]:
        m = self.model
        patch = m.chronos_config.output_patch_size
        n_out = math.ceil(self.horizon / patch)
        if future_covariates is not None and n_out * patch > self.horizon:
            pad = torch.full((len(context), n_out * patch - self.horizon), torch.nan, device=context.device)
            future_covariates = torch.cat([future_covariates, pad], dim=-1)
        encoded, loc_scale, _, _ = m.encode(
            context=context, group_ids=group_ids, future_covariates=future_covariates,
            num_output_patches=n_out,
        )
        forecast_embeds = encoded.last_hidden_state[:, -n_out:]  # [B, n_out, d_model]
        pred = m.output_patch_embedding(forecast_embeds)  # [B, n_out, Q * patch]
        pred = pred.view(len(context), n_out, m.num_quantiles, patch).transpose(1, 2)
        return pred.reshape(len(context), m.num_quantiles, n_out * patch)[..., : self.horizon], loc_scale


# ---- learning rate and optimiser ----------------------------------------------------------------
def lr_schedule(
    optimizer: torch.optim.Optimizer, schedule: str, warmup_steps: int, steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' warm-up schedule: linear from 0 over ``warmup_steps``, then decay to ``min_lr_ratio``.

    Warm-up because AdamW's second-moment estimates are poor in the first steps and a full-size
    step then can wreck a fresh initialisation. Decay (``"cosine"`` or ``"linear"``) to
    ``min_lr_ratio`` times the optimiser's ``lr`` at ``steps``, because end-of-schedule
    checkpoints forecast markedly better than high-lr ones. Step it once per optimiser step; its
    state (the step count) is saved with the checkpoint, so a resumed run continues the curve.
    Shared by pretraining and fine-tuning.
    """
    import transformers

    if schedule == "cosine":
        return transformers.get_cosine_with_min_lr_schedule_with_warmup(
            optimizer, warmup_steps, steps, min_lr_rate=min_lr_ratio
        )
    if schedule != "linear":
        raise InputError(f"schedule must be 'cosine' or 'linear', got {schedule!r}")
    if min_lr_ratio >= 1.0:
        return transformers.get_constant_schedule_with_warmup(optimizer, warmup_steps)
    peak = optimizer.param_groups[0]["lr"]
    # a polynomial decay of power 1 is the linear one; it divides by steps - warmup, so a warm-up
    # that lasts the whole run gets one more (never reached) step
    return transformers.get_polynomial_decay_schedule_with_warmup(
        optimizer, warmup_steps, max(steps, warmup_steps + 1), lr_end=peak * min_lr_ratio, power=1.0
    )


def make_optimizer(module: nn.Module, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only: decaying norms, biases and the special-token
    embeddings pulls them toward 0, which only hurts."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        (decay if p.dim() >= 2 and "shared" not in name else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


# ---- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(accelerator: Any, output_dir: Path, step: int, config: PretrainConfig) -> Path:
    """Write model, optimiser and RNG states after ``step`` steps to ``output_dir/checkpoint``.

    Written into ``checkpoint.tmp`` first; ``trainer_state.json`` goes last and marks it complete;
    then renames swap it in. A kill at any point leaves a complete ``checkpoint`` or
    ``checkpoint.old`` behind, and :func:`find_checkpoint` takes whichever is complete.
    """
    final, tmp, old = output_dir / "checkpoint", output_dir / "checkpoint.tmp", output_dir / "checkpoint.old"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))  # every process writes its own RNG state
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"step": step, "config": config.to_dict()}
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
        replace_folder(tmp, final, aside=old)  # the last good checkpoint stays until the new one is in place
    accelerator.wait_for_everyone()
    return final


def find_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint in ``output_dir``, or ``None``."""
    for name in ("checkpoint", "checkpoint.old"):  # .old: killed between the two renames
        if (output_dir / name / "trainer_state.json").is_file():
            return output_dir / name
    return None


def load_checkpoint(accelerator: Any, folder: Path, config: PretrainConfig) -> int:
    """Restore the states saved in ``folder`` and return the number of completed steps."""
    state = json.loads((folder / "trainer_state.json").read_text())
    saved = PretrainConfig.from_dict(state["config"]).to_dict()
    changed = sorted(
        k for k, v in config.to_dict().items() if saved.get(k) != v and k not in _RESUMABLE_CHANGES
    )
    if changed:
        raise CheckpointError(
            f"{folder} was written with a different config ({', '.join(changed)} differ); "
            "resume with the same config, or start afresh with --no-resume or another output folder"
        )
    if saved["steps"] != config.steps:
        warnings.warn(
            f"steps changed from {saved['steps']} to {config.steps}: the lr schedule changes", stacklevel=2
        )
    accelerator.load_state(str(folder))
    return int(state["step"])


def save_final_model(model: nn.Module, config: PretrainConfig, output_dir: Path) -> Path:
    """``save_pretrained`` into ``output_dir/model`` (via a temp folder) plus ``pretrain_config.json``."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    final, tmp = output_dir / "model", output_dir / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)  # safetensors + config.json that BaseChronosPipeline.from_pretrained reads
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    config.to_json(output_dir / "pretrain_config.json")
    return final


def export_checkpoint(run_dir: str | Path, destination: str | Path) -> Path:
    """Write the weights of ``run_dir``'s latest checkpoint as a loadable model folder.

    Lets a run be judged (``tsfm evaluate --models DEST``) or shipped before it ends. The folder
    is the same format :func:`save_final_model` writes: ``config.json`` + ``model.safetensors``
    (loads with ``chronos.BaseChronosPipeline.from_pretrained``) and ``pretrain_config.json``,
    whose ``steps`` field is replaced by the checkpoint's step so the folder says what it holds.

    Raises
    ------
    CheckpointError
        ``run_dir`` holds no complete checkpoint.
    """
    from safetensors.torch import load_file

    run_dir, destination = Path(run_dir), Path(destination)
    folder = find_checkpoint(run_dir)
    if folder is None:
        raise CheckpointError(f"no complete checkpoint in {str(run_dir)!r} (expected {run_dir / 'checkpoint'})")
    state = json.loads((folder / "trainer_state.json").read_text())
    config = PretrainConfig.from_dict(state["config"])
    model = build_model(config)
    # The checkpoint holds the training wrapper's state: the upstream model's keys under ``model.``.
    weights = {k.removeprefix("model."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = sorted(set(missing) - {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"})  # tied
    if unexpected or missing:
        raise CheckpointError(
            f"checkpoint {str(folder)!r} does not match its config: {len(missing)} missing weights "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {sorted(unexpected)[:3]})"
        )
    save_final_model(model, config.replace(steps=int(state["step"])), destination)
    model_dir = destination / "model"
    return model_dir


# ---- the loop -----------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(module: nn.Module, batches: list[Batch], device: torch.device, bf16: bool = False) -> float:
    """Mean loss over the validation batches, in eval mode (no dropout)."""
    was_training = module.training
    module.eval()
    losses = []
    for batch in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            losses.append(module(**{k: v.to(device) for k, v in batch.items()}).item())
    module.train(was_training)
    return float(np.mean(losses))


def pretrain(
    config: PretrainConfig,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> Path:
    """Pretrain ``config.family`` from scratch; return the folder of the saved model.

    Parameters
    ----------
    config
        The run; it is written to ``output_dir/pretrain_config.json``.
    resume
        Continue from ``output_dir/checkpoint`` when one exists (same step, same data order).
        ``False`` starts afresh and overwrites that folder's checkpoint.
    progress
        Show a tqdm bar with the running loss and the learning rate.
    callback
        Called as ``callback(step, metrics)`` after every optimiser step (``step`` = steps done);
        raising from it stops training (the last periodic checkpoint stays).

    Returns
    -------
    Path
        ``output_dir/model``, loadable with ``chronos.BaseChronosPipeline.from_pretrained``.
    """
    from tqdm.auto import tqdm

    output_dir = Path(config.output_dir)
    accelerator, module, optimizer, scheduler = _prepare(config)
    rank, world = accelerator.process_index, accelerator.num_processes
    step = _restore_or_start(accelerator, config, resume)
    extra = RealSeries(config) if (config.extra_data or config.corpus) else None
    validation = validation_batches(config) if accelerator.is_main_process else []

    bar = tqdm(total=config.steps, initial=step, disable=not (progress and accelerator.is_main_process))
    losses, started = [], time.perf_counter()
    checkpoints = CheckpointClock(config.checkpoint_every, config.steps, config.checkpoint_minutes)
    # Batches are made ahead by data_workers processes (or here): each is a pure function of its step.
    batches = batch_stream(StepBatches(config, world, rank, extra), step, config.steps, config.data_workers)
    module.train()
    for batch in batches:
        lr = scheduler.get_last_lr()[0]  # the lr of this step, the same in both parameter groups
        with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            loss = module(**{k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()})

        accelerator.backward(loss)
        if config.grad_clip is not None:  # off by default: clipping at 1.0 halved learning speed on CPU
            accelerator.clip_grad_norm_(module.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", lr=f"{lr:.2e}", refresh=False)
        metrics = {"loss": losses[-1], "lr": lr}
        if step % config.validate_every == 0 or step == config.steps:
            record = {"step": step, "lr": lr, "train_loss": float(np.mean(losses)),
                      "elapsed_s": round(time.perf_counter() - started, 2)}
            metrics.update(_validate(accelerator, module, validation, config, record))
            losses = []
        # by steps, and by the clock (checkpoint_minutes): a run cut off loses at most that much
        if checkpoints.due(step):
            save_checkpoint(accelerator, output_dir, step, config)
            checkpoints.saved()
        if callback is not None:
            callback(step, metrics)
    bar.close()

    if accelerator.is_main_process:
        save_final_model(accelerator.unwrap_model(module).model, config, output_dir)
    accelerator.wait_for_everyone()
    return output_dir / "model"


def _prepare(config: PretrainConfig) -> tuple[Any, nn.Module, Any, torch.optim.lr_scheduler.LambdaLR]:
    """The accelerator, the loss module of a fresh model, AdamW and its lr schedule, ready to train."""
    from accelerate import Accelerator

    # Precision is ours (torch.autocast in the loop), not accelerate's: accelerate fixes it once
    # per process, and a notebook may well call pretrain() twice with different settings.
    accelerator = Accelerator(mixed_precision="no")
    _warn_if_slow_bf16(config, accelerator.device)
    module = QuantileTrainingModule(
        build_model(config), config.family, config.prediction_length, config.target_clamp
    )  # same seed: identical on all ranks
    optimizer = make_optimizer(module, config)
    scheduler = lr_schedule(optimizer, config.schedule, config.warmup_steps, config.steps, config.min_lr_ratio)
    module, optimizer = accelerator.prepare(module, optimizer)
    # not prepared: accelerate would step it once per process; registered, so checkpoints hold its step
    accelerator.register_for_checkpointing(scheduler)
    return accelerator, module, optimizer, scheduler


def _restore_or_start(accelerator, config: PretrainConfig, resume: bool) -> int:
    """Load the last checkpoint when resuming; write the config and a start line; return the step."""
    output_dir = Path(config.output_dir)
    # accelerate warns on every save that tied embeddings are stored once; reloading re-ties them.
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)
    step = 0
    checkpoint = find_checkpoint(output_dir) if resume else None
    if checkpoint is not None:
        step = load_checkpoint(accelerator, checkpoint, config)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        config.to_json(output_dir / "pretrain_config.json")
        _log(output_dir, {"event": "resume" if step else "start", "step": step,
                          "processes": accelerator.num_processes})
    return step


def _validate(
    accelerator: Any, module: nn.Module, batches: list[Batch], config: PretrainConfig, record: dict[str, Any]
) -> dict[str, float]:
    """Validation loss on the main process, appended to log.jsonl with ``record`` (step, lr, ...)."""
    out: dict[str, float] = {}
    if accelerator.is_main_process:
        # The unwrapped module: DDP's forward would wait for the other processes.
        out["val_loss"] = evaluate(accelerator.unwrap_model(module), batches, accelerator.device, config.bf16)
        _log(Path(config.output_dir), {**record, **out})
    accelerator.wait_for_everyone()
    return out


def _log(output_dir: Path, record: dict[str, Any]) -> None:
    with open(output_dir / "log.jsonl", "a") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")


def _warn_if_slow_bf16(config: PretrainConfig, device: torch.device) -> None:
    if config.bf16 and device.type == "cpu":
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        if not native:
            warnings.warn(
                "bf16=True on a CPU without AVX512-BF16/AMX: autocast is likely slower than float32",
                stacklevel=3,
            )
