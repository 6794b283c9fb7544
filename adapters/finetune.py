"""``finetune``: a pretrained model plus the user's series in, a judged new model out.

Flow, one way: data -> time split (:mod:`tsfm.adapters.windows`) -> a copy of the model per method
(LoRA via :mod:`tsfm.adapters.lora`, or every weight) -> the loop (:mod:`tsfm.adapters.trainer`) -> the
verdict on held-out test windows (:mod:`tsfm.adapters.verdict`) -> the output folder
(:mod:`tsfm.adapters.artifacts`) -> a :class:`~tsfm.adapters.artifacts.FinetunedModel`.

Everything family-specific (the torch module, the loss on windows, the longest horizon, how a
forecaster is rebuilt around trained weights) comes from the model's
:class:`~tsfm.training.TrainingFamily`; this module knows no family. The model passed in is never
modified: each method trains a deep copy of its module.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tsfm.adapters import artifacts
from tsfm.adapters.config import FinetuneConfig, validate_method
from tsfm.adapters.lora import add_lora, fingerprint, make_lora_config, parameter_counts
from tsfm.adapters.trainer import train, validation_wql
from tsfm.adapters.verdict import SERIES_LOSS, Candidate, choose, format_verdict, ranking, score_candidates, tiers
from tsfm.adapters.windows import SplitData, WindowSampler, series_from_data, split_series
from tsfm.errors import InputError
from tsfm.registry import load
from tsfm.training import TrainingFamily, training_family
from tsfm.validation import validate_horizon

DEFAULT_BASELINES = ("seasonal-naive", "auto-ets")


def finetune(
    model: Any, data: Any, horizon: int, method: str | Sequence[str] = "lora", lora_config: Any = None,
    config: FinetuneConfig | None = None, output_dir: str | Path | None = None,
    baselines: Sequence[str] = DEFAULT_BASELINES, season_length: int = 1, force: bool = False,
    resume: bool = True, progress: bool = True, callback: Callable[[str, int], None] | None = None,
) -> artifacts.FinetunedModel:
    """Fine-tune ``model`` on ``data`` and return the better of it and the fine-tuned model.

    Parameters
    ----------
    model
        A forecaster from ``tsfm.load`` of a family with a training interface (Chronos-T5,
        Chronos-Bolt, Chronos-2; see :func:`tsfm.training.training_families`); not modified.
    data
        Long-format frame or file (``item_id,timestamp,target``), a dataset name ``tsfm.data``
        reads, a list of 1-D arrays, or a HF ``datasets.Dataset`` with a ``target`` column
        (read row by row, so a fleet need not fit in memory).
    horizon
        Steps to forecast; at most what one forward pass of the family produces.
    method
        ``"lora"``, ``"full"`` or several (e.g. ``("lora", "full")``): each is trained and judged.
    lora_config
        ``None`` (rank 4 on the attention query/value projections), a dict of
        ``peft.LoraConfig`` fields, or a ``peft.LoraConfig``.
    config
        Loop settings (:class:`~tsfm.adapters.config.FinetuneConfig`); defaults when ``None``.
    output_dir
        Folder for the adapter/weights, ``report.json``, ``verdict.csv`` and checkpoints; a new
        temporary folder when ``None``. The folder is a model name ``tsfm.load`` accepts.
    baselines
        Classical models scored in the verdict beside zero-shot and fine-tuned.
    season_length
        Seasonal period for the baselines and MASE (24 for hourly data with a daily cycle).
    force
        Keep the fine-tuned model even when it does not beat zero-shot on the test windows.
    resume
        Continue an interrupted run from ``output_dir/<method>/checkpoint``.
    progress
        Progress bars.
    callback
        ``callback(method, step)`` after every optimiser step (raising stops the run).

    Returns
    -------
    FinetunedModel
        A forecaster (the kept model) with ``.report`` (figures and the verdict table).

    Raises
    ------
    InputError
        Not a model of a trainable family, horizon too long for the family, no series long enough for the
        windows (``config.windows``; the longest series and the length needed are named), unknown
        method, or a LoRA target module that does not exist (the valid ones are listed).
    """
    plan = _plan(model, horizon, method, lora_config, config, output_dir, season_length)
    process, split, sampler = _read_data(plan, data)
    candidates = [Candidate(f"{model.name} (zero-shot)", "zero-shot", model)]
    runs: dict[str, dict[str, Any]] = {}
    for m in plan.methods:
        tuned, runs[m] = _train_one(plan, m, split, sampler, resume, progress, callback)
        candidates.append(Candidate(f"{model.name} ({m})", m, tuned, runs[m]["best_val_wql"]))
    candidates += [Candidate(name, "baseline", load(name, season_length=season_length)) for name in baselines]
    return _judge_and_save(plan, candidates, runs, split, process, force)


@dataclass(frozen=True)
class _Plan:
    """A checked fine-tuning request: what every step after the checks reads."""

    model: Any
    family: TrainingFamily
    methods: list[str]
    lora: Any  # a peft.LoraConfig when "lora" is among the methods, else None
    config: FinetuneConfig
    horizon: int
    season_length: int
    context_length: int
    output: Path
    base_fingerprint: str


def _plan(
    model: Any, horizon: int, method: str | Sequence[str], lora_config: Any, config: FinetuneConfig | None,
    output_dir: str | Path | None, season_length: int,
) -> _Plan:
    """Check the request before any data is read or written: family, methods, horizon, LoRA targets."""
    family = training_family(model, "fine-tuning")
    methods = [validate_method(m) for m in ([method] if isinstance(method, str) else list(method))]
    if not methods:
        raise InputError("method must name at least one of 'lora', 'full'")
    limit = family.max_horizon(model)
    validate_horizon(horizon)
    if horizon > limit:
        raise InputError(
            f"horizon {horizon} is beyond what this {family.name} model can be fine-tuned for: one forward "
            f"pass forecasts at most {limit} steps (longer forecasts are autoregressive); use horizon <= {limit}"
        )
    config = config or FinetuneConfig()
    lora = make_lora_config(lora_config, family.lora_targets) if "lora" in methods else None
    if lora is not None:  # a bad target module fails now, before any data is written
        from tsfm.adapters.lora import check_targets

        check_targets(family.module(model), lora)
    output = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="tsfm-finetune-"))
    longest = family.context_length(model)
    context_length = min(config.context_length or longest, longest)
    return _Plan(model, family, methods, lora, config, horizon, season_length, context_length, output,
                 fingerprint(family.module(model)))


def _read_data(plan: _Plan, data: Any) -> tuple[Any, SplitData, WindowSampler]:
    """This process's state, the time split of ``data`` and the training-window sampler over it."""
    from accelerate import PartialState

    # Under accelerate launch / torchrun every process runs finetune(); each reads the data into
    # its own folder, all train together, and only the main process writes the results.
    on_cpu = next(plan.family.module(plan.model).parameters()).device.type == "cpu"
    process = PartialState(cpu=on_cpu)
    config = plan.config
    ids, series = series_from_data(data)
    folder = plan.output / "data" / f"rank{process.process_index}"
    split = split_series(ids, series, plan.horizon, config.min_context, folder, config.windows)
    sampler = WindowSampler(
        split, plan.context_length, config.min_context, config.seed, config.augment, config.augment_perturbations
    )
    return process, split, sampler


def _judge_and_save(
    plan: _Plan, candidates: list[Candidate], runs: dict[str, dict[str, Any]], split: SplitData, process: Any,
    force: bool,
) -> artifacts.FinetunedModel:
    """Score every candidate on the test windows, keep the winner, write the run folder (main process)."""
    table = score_candidates(candidates, split.test, plan.context_length, plan.season_length)
    kept, reason = choose(table, force=plan.methods[0] if force else None)
    chosen_role = next(c.role for c in candidates if c.label == kept)
    report = {
        "base_model": _model_reference(plan.model.name), "family": plan.family.name,
        "base_fingerprint": plan.base_fingerprint, "horizon": plan.horizon, "season_length": plan.season_length,
        "context_length": plan.context_length, "windows": split.test.config.windows, "methods": plan.methods,
        "chosen": chosen_role, "reason": reason, "ranking": ranking(table), "ranking_tiers": tiers(table),
        "config": plan.config.to_dict(), "lora_config": _lora_dict(plan.lora),
        "series": {"train": int(len(split.train_lengths)), "test": int(len(split.test.item_ids)),
                   "skipped": len(split.skipped)},
        "runs": runs, "verdict": table.to_dict(orient="records"),
    }
    tuned_by_role = {c.role: c.forecaster for c in candidates if c.role in plan.methods}
    if process.is_main_process:
        artifacts.save_run(plan.output, report, tuned_by_role, plan.family)
        (plan.output / "verdict.txt").write_text(format_verdict(table, kept, reason) + "\n")
        table.drop(columns=SERIES_LOSS).to_csv(plan.output / "verdict.csv", index=False)
    process.wait_for_everyone()
    chosen = plan.model if chosen_role == "zero-shot" else tuned_by_role[chosen_role]
    return artifacts.FinetunedModel(chosen, report, plan.output)


def _train_one(
    plan: _Plan, method: str, split: SplitData, sampler: WindowSampler, resume: bool, progress: bool,
    callback: Callable[[str, int], None] | None,
) -> tuple[Any, dict[str, Any]]:
    """Train one method on a deep copy of the model's module; return the forecaster and its figures."""
    model, family, config, lora = plan.model, plan.family, plan.config, plan.lora
    torch.manual_seed(config.seed)  # LoRA's initial matrices
    inner = copy.deepcopy(family.module(model))
    if method == "lora":
        peft_model = add_lora(inner, copy.deepcopy(lora))
    else:
        peft_model = None
        for p in inner.parameters():
            p.requires_grad_(True)
    trainable, total = parameter_counts(inner)
    tuned = family.rebuild(model, inner, f"{model.name} ({method})")  # forecasts with the weights being trained
    tuned.peft_model = peft_model
    objective = family.objective(tuned, split.horizon, config.target_clamp)
    started = time.perf_counter()
    result = train(
        objective, lambda: validation_wql(tuned, split.validation, plan.context_length), sampler, config,
        config.learning_rate(method), plan.output / method, resume=resume, progress=progress,
        callback=(lambda step: callback(method, step)) if callback else None,
    )
    for p in inner.parameters():
        p.requires_grad_(False)
    inner.eval()
    run = {
        "trainable_parameters": trainable, "total_parameters": total,
        "trainable_share": trainable / total, "lr": config.learning_rate(method),
        "steps": result.steps, "best_step": result.best_step, "stopped_early": result.stopped_early,
        "zero_shot_val_wql": result.zero_shot_val_wql, "best_val_wql": result.best_val_wql,
        "train_seconds": result.seconds, "seconds_per_100_steps": 100 * result.seconds / max(result.steps, 1),
        "wall_seconds": round(time.perf_counter() - started, 2), "history": result.history,
    }
    return tuned, run


def _model_reference(name: str) -> str:
    """The base model as ``tsfm.load`` will find it later: registered names as they are, paths absolute."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _lora_dict(lora: Any) -> dict[str, Any] | None:
    if lora is None:
        return None
    fields = lora.to_dict()
    return json.loads(json.dumps(fields, default=lambda v: sorted(v) if isinstance(v, set) else str(v)))
