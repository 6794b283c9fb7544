"""Benchmark of in-context forecasting: the gain of covariates and of cross-learning.

Two data sets, each backtested over rolling windows with one Chronos-2-architecture
model under several conditionings, scored against seasonal naive::

    tsfm bench covariates --model FOLDER [--ett ../shared/data/ett]

- **ETTh1** (target ``OT``, oil temperature of a transformer; the six load columns
  HUFL, HULL, MUFL, MULL, LUFL, LULL as covariates): OT alone; with the loads as
  past-only covariates; with the loads as known-future covariates (an upper bound:
  real future loads are not known); and the seven columns as seven series forecast
  independently or as one cross-learning group (scored on all seven).
- **Synthetic plant**: three plants of four pumps. A pump's flow follows its plant's
  production schedule (shift blocks on/off, known in advance) with a pump-specific
  gain, a daily cycle and AR(1) noise. Without / with the schedule as a known-future
  covariate, each without / with cross-learning across the pumps of a plant.

Figures are printed side by side with the ratio to the unconditioned run.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.contract import Forecaster
from tsfm.covariates import Covariates
from tsfm.errors import CovariatesIgnoredWarning, InputError
from tsfm.tasks.backtest import BacktestConfig, run_backtest
from tsfm.tasks.leaderboard import leaderboard

ETT_LOADS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")
REFERENCE = "seasonal-naive"


def synthetic_plant(
    n_plants: int = 3, pumps_per_plant: int = 4, length: int = 720, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Pump flows driven by their plant's known production schedule.

    Returns
    -------
    tuple
        ``(flows, schedules, plant_ids)``: one ``[length]`` flow, the ``[length]`` 0/1
        schedule it follows, and its plant id, per pump.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    flows, schedules, plants = [], [], []
    for plant in range(n_plants):
        blocks = rng.integers(4, 13, size=length)  # shift lengths in hours
        schedule = np.repeat(rng.random(len(blocks)) < 0.55, blocks)[:length].astype(np.float64)
        for _ in range(pumps_per_plant):
            gain = rng.uniform(5.0, 15.0)
            daily = rng.uniform(0.5, 2.0) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 2 * np.pi))
            noise = np.zeros(length)
            for k in range(1, length):
                noise[k] = 0.7 * noise[k - 1] + rng.normal(0, 0.5)
            flows.append(rng.uniform(20, 40) + gain * schedule + daily + noise)
            schedules.append(schedule)
            plants.append(f"plant{plant}")
    return flows, schedules, plants


def backtest_scores(
    model: Forecaster,
    reference: Forecaster,
    series: Sequence[np.ndarray],
    config: BacktestConfig,
    covariates: Covariates | None,
    score_items: Sequence[int] | None = None,
) -> dict[str, float]:
    """MASE, WQL and their geometric-mean ratios to seasonal naive, for one conditioning."""
    with warnings.catch_warnings():  # seasonal naive ignores covariates by design
        warnings.simplefilter("ignore", CovariatesIgnoredWarning)
        result = run_backtest([model, reference], series, config, progress=False, covariates=covariates)
    scores = result.scores
    if score_items is not None:
        scores = scores[scores["item_id"].isin([str(i) for i in score_items])]
    board = leaderboard(scores, result.seconds, REFERENCE).set_index("model")
    row = board.loc[model.name]
    return {"MASE": row["MASE"], "WQL": row["WQL"], "rel_MASE": row["rel_MASE"], "rel_WQL": row["rel_WQL"]}


def ett_runs(model: Forecaster, reference: Forecaster, ett_folder: Path, horizon: int, windows: int) -> pd.DataFrame:
    """ETTh1 under five conditionings (see the module docstring)."""
    from tsfm.datasets import load_ett

    table = load_ett(ett_folder)
    columns = [*ETT_LOADS, "OT"]
    values = {c: table[c].to_numpy(dtype=np.float64) for c in columns}
    config = BacktestConfig(horizon, windows=windows, step=horizon * 7, season_length=24)
    loads = {c: values[c] for c in ETT_LOADS}
    seven = [values[c] for c in columns]
    runs = {
        "OT alone": ([values["OT"]], None, None),
        "OT + loads, past-only": ([values["OT"]], Covariates(past=[loads]), None),
        "OT + loads, known future": ([values["OT"]], Covariates(past=[loads], known_future=ETT_LOADS), None),
        "7 columns, independent": (seven, None, None),
        "7 columns, one group": (seven, Covariates(group_ids=["ett"] * 7), None),
    }
    return _run_all(model, reference, runs, config)


def plant_runs(model: Forecaster, reference: Forecaster, horizon: int, windows: int) -> pd.DataFrame:
    """The synthetic plant with / without the schedule and cross-learning."""
    flows, schedules, plants = synthetic_plant()
    config = BacktestConfig(horizon, windows=windows, step=horizon, season_length=24)
    known = [{"schedule": s} for s in schedules]
    runs = {
        "flow alone": (flows, None, None),
        "flow, grouped by plant": (flows, Covariates(group_ids=plants), None),
        "flow + schedule (known future)": (flows, Covariates(past=known, known_future=("schedule",)), None),
        "flow + schedule, grouped by plant": (
            flows, Covariates(past=known, known_future=("schedule",), group_ids=plants), None,
        ),
    }
    return _run_all(model, reference, runs, config)


def regression_runs(
    model: Forecaster,
    reference: Forecaster,
    ett_folder: Path | None,
    horizon: int,
    ett_windows: int,
    plant_windows: int,
) -> pd.DataFrame:
    """A model without covariate support, alone and with the residual regression on known covariates."""
    from tsfm.adapters.covariate_regression import with_covariate_regression

    wrapped = with_covariate_regression(model)
    rows = []
    if ett_folder is not None:
        from tsfm.datasets import load_ett

        table = load_ett(ett_folder)
        ot = table["OT"].to_numpy(dtype=np.float64)
        loads = Covariates(past=[{c: table[c].to_numpy(dtype=np.float64) for c in ETT_LOADS}], known_future=ETT_LOADS)
        config = BacktestConfig(horizon, windows=ett_windows, step=horizon * 7, season_length=24)
        rows += [
            {"data": "ETTh1 OT", "conditioning": "alone", **backtest_scores(model, reference, [ot], config, None)},
            {"data": "ETTh1 OT", "conditioning": "+ loads known future, regression",
             **backtest_scores(wrapped, reference, [ot], config, loads)},
        ]
    flows, schedules, _ = synthetic_plant()
    known = Covariates(past=[{"schedule": s} for s in schedules], known_future=("schedule",))
    config = BacktestConfig(horizon, windows=plant_windows, step=horizon, season_length=24)
    rows += [
        {"data": "plant", "conditioning": "alone", **backtest_scores(model, reference, flows, config, None)},
        {"data": "plant", "conditioning": "+ schedule known future, regression",
         **backtest_scores(wrapped, reference, flows, config, known)},
    ]
    return pd.DataFrame(rows)


HELD_OUT_SEED = 20_261_130  # pretraining draws from seed 0 (and its validation stream): never this one
HELD_OUT_BATCH = 8  # tasks per generated batch: which covariates are known is drawn once per batch
BOOTSTRAP_DRAWS = 2000  # resamples of the tasks behind each ratio's 90% interval


def ratio_interval(alone: np.ndarray, with_: np.ndarray, level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(with_) / mean(alone)`` over paired tasks.

    Tasks are resampled with replacement, each keeping its own pair of scores, so the interval
    says how far the ratio of means could move on another sample of the same task distribution.
    """
    alone, with_ = np.asarray(alone, dtype=np.float64), np.asarray(with_, dtype=np.float64)
    if alone.shape != with_.shape or alone.ndim != 1 or len(alone) == 0:
        raise InputError(
            f"alone and with_ must be equal-length, non-empty 1-D arrays; got shapes {alone.shape} and {with_.shape}"
        )
    picks = np.random.default_rng(seed).integers(0, len(alone), size=(BOOTSTRAP_DRAWS, len(alone)))
    ratios = with_[picks].mean(axis=1) / alone[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def held_out_covariate_runs(
    model: Forecaster, horizon: int, batches: int = 32, batch_size: int = HELD_OUT_BATCH, seed: int = HELD_OUT_SEED,
    synthetic: Any = None,
) -> pd.DataFrame:
    """Synthetic covariate-driven tasks from a seed pretraining never used, with / without covariates.

    The tasks come from :func:`tsfm.pretraining.synthetic.generate_covariate_batch` (the
    generator the Chronos-2 recipe trains on, with lagged linear, threshold and multiplicative
    responses to past-only and known-future covariates), so this measures whether a model learnt to read
    covariates at all; the plant and ETTh1 measure whether it transfers. Each task is one
    forecast of its last ``horizon`` steps; MASE uses a season of 1. ``synthetic`` is the
    :class:`~tsfm.pretraining.synthetic.SyntheticConfig` to draw from (default: the default one,
    whose covariates come from the original eight sources).

    Which covariates are known over the horizon is drawn once per generated batch, hence many small
    batches. Rows of the table: ``all`` tasks, tasks with at least one ``known-future`` covariate,
    tasks with ``past-only`` covariates (whose effects lag by at most ``MAX_LAG`` steps, so they
    inform only the start of a long horizon), each response kind, and, when ``synthetic`` has a
    ``weak_covariate_share``, the ``weak effect`` tasks (where a good model's ratio stays near 1:
    it gains little from the covariates and should not lose either). ``ratio 5%`` and
    ``ratio 95%`` bound ``MASE with / alone`` by a paired bootstrap over the row's tasks
    (:func:`ratio_interval`): a ratio near a target line is only as sure as that interval.
    """
    from tsfm import metrics
    from tsfm.pretraining.synthetic import SyntheticConfig, generate_covariate_batch

    config = synthetic if synthetic is not None else SyntheticConfig()
    rows = []
    for index in range(batches):
        batch = generate_covariate_batch(config, seed, index, batch_size)
        target = batch["target"].astype(np.float64)
        cut = target.shape[1] - horizon
        contexts, truth = list(target[:, :cut]), target[:, cut:]
        past = [{f"p{j}": row[j, :cut] for j in range(row.shape[0])} for row in batch["past_covariates"]]
        known = [{f"f{j}": row[j] for j in range(row.shape[0])} for row in batch["future_covariates"]]
        covariates = Covariates(
            past=[{**p, **{k: v[:cut] for k, v in f.items()}} for p, f in zip(past, known)],
            future=[{k: v[cut:] for k, v in f.items()} for f in known] if known[0] else (),
        )
        for label, extra in (("target alone", None), ("with covariates", covariates)):
            forecast = model.predict_quantiles(contexts, horizon, covariates=extra)
            for k in range(len(contexts)):
                rows.append({"conditioning": label, "task": index * batch_size + k, "response": batch["response"][k],
                             "covariates": "known-future" if known[0] else "past-only",
                             "weak": bool(batch["effect_scale"][k] < 1.0),
                             "MASE": metrics.mase(truth[k], forecast.median[k], contexts[k], 1),
                             "WQL": metrics.wql(truth[k : k + 1], forecast.quantiles[k : k + 1],
                                                forecast.quantile_levels)})
    frame = pd.DataFrame(rows)
    stacked = pd.concat(
        [frame.assign(tasks=label) for label in ("all", frame["covariates"], frame["response"])]
        + [frame[frame["weak"]].assign(tasks="weak effect")]
    )
    table = stacked.pivot_table(index="tasks", columns="conditioning", values=["MASE", "WQL"],
                                aggfunc="mean", sort=False)
    table.columns = [f"{metric} {label}" for metric, label in table.columns]
    table["MASE with / alone"] = table["MASE with covariates"] / table["MASE target alone"]
    table["count"] = stacked[stacked["conditioning"] == "target alone"].groupby("tasks", sort=False).size()
    paired = stacked.pivot_table(index=["tasks", "task"], columns="conditioning", values="MASE", sort=False)
    bounds = {name: ratio_interval(group["target alone"], group["with covariates"])
              for name, group in paired.groupby(level="tasks", sort=False)}
    table["ratio 5%"] = [bounds[name][0] for name in table.index]
    table["ratio 95%"] = [bounds[name][1] for name in table.index]
    return table


def _run_all(model: Forecaster, reference: Forecaster, runs: dict, config: BacktestConfig) -> pd.DataFrame:
    rows = []
    for label, (series, covariates, score_items) in runs.items():
        start = time.perf_counter()
        scores = backtest_scores(model, reference, series, config, covariates, score_items)
        rows.append({"conditioning": label, **scores, "seconds": time.perf_counter() - start})
    frame = pd.DataFrame(rows)
    frame["WQL_vs_first"] = frame["WQL"] / frame["WQL"].iloc[0]
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    """In-context forecasting: the gain of covariates and of cross-learning (ETTh1, a synthetic plant)."""
    parser = argparse.ArgumentParser(prog="tsfm bench covariates", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Chronos-2 model name or folder")
    parser.add_argument("--ett", default=None, help="folder with ETTh1.csv (skipped when absent)")
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--ett-windows", type=int, default=20, help="ETTh1 windows, one week apart")
    parser.add_argument("--plant-windows", type=int, default=8)
    parser.add_argument("--synthetic-tasks", type=int, default=768, help="held-out synthetic covariate tasks")
    parser.add_argument(
        "--synthetic-config", default=None,
        help="pretraining config (name or JSON) whose synthetic settings draw the held-out tasks (default: defaults)",
    )
    parser.add_argument(
        "--regression-model", default=None,
        help="a model without covariate support (e.g. tsfm-bolt-mini) to measure the residual regression with",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    args = parser.parse_args(argv)

    import torch

    import tsfm

    torch.set_num_threads(args.threads)
    model = tsfm.load(args.model, device="cpu")
    reference = tsfm.load(REFERENCE, season_length=24)
    pd.set_option("display.width", 160)
    print(f"model {model.name}, horizon {args.horizon}; MASE/WQL means, rel_* = geometric mean ratio to {REFERENCE}")
    if args.ett and Path(args.ett).exists():
        print(f"\nETTh1, target OT, {args.ett_windows} windows one week apart")
        table = ett_runs(model, reference, Path(args.ett), args.horizon, args.ett_windows)
        print(table.round(4).to_string(index=False))
    batches = max(1, args.synthetic_tasks // HELD_OUT_BATCH)
    print(f"\nHeld-out synthetic covariate tasks (seed {HELD_OUT_SEED}), {batches * HELD_OUT_BATCH} tasks, horizon 64")
    synthetic = None
    if args.synthetic_config:
        from tsfm.pretraining.cli import load_config

        synthetic = load_config(args.synthetic_config).synthetic
    print(held_out_covariate_runs(model, 64, batches=batches, synthetic=synthetic).round(4).to_string())
    print(f"\nSynthetic plant, 3 plants x 4 pumps, {args.plant_windows} windows")
    print(plant_runs(model, reference, args.horizon, args.plant_windows).round(4).to_string(index=False))
    if args.regression_model:
        other = tsfm.load(args.regression_model, device="cpu")
        ett = Path(args.ett) if args.ett and Path(args.ett).exists() else None
        print(f"\n{other.name} without covariate support: alone, and with the residual regression on covariates")
        table = regression_runs(other, reference, ett, args.horizon, args.ett_windows, args.plant_windows)
        print(table.round(4).to_string(index=False))
    return 0
