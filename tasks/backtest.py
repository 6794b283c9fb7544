"""Rolling-origin backtests of any ``Forecaster``.

Windows are cut from the end of each series, so series of different lengths are
aligned on their last observation, as in M4 and fev:

    window k (0 = oldest) of series i ends its context at
    cutoff_i(k) = len_i - horizon - (windows - 1 - k) * step

and is scored on the ``horizon`` values that follow. Every model sees the same
windows; each window is one batched ``predict_quantiles`` call per model.

With whole-history :class:`~tsfm.covariates.Covariates`, each window gets the
covariates' past up to its cut-off and, for known-future covariates, their values
over the window's horizon, taken from the data: they are known in advance.

A backtest does not hang silently: classical baselines are fitted on at most the last
``max_history`` values (:data:`tsfm.rolling.DEFAULT_MAX_HISTORY`, the cap of every validation,
ensemble and export gate, applied through :func:`tsfm.rolling.history_cap`), and a per-model ``time_budget`` stops a
model after the window that exceeds it, with a note in the leaderboard.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tsfm import metrics
from tsfm.contract import Forecaster
from tsfm.covariates import Covariates
from tsfm.errors import InputError
from tsfm.forecast import Forecast
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.rolling import DEFAULT_MAX_HISTORY, RollingWindows, capped_contexts, check_max_history, history_cap
from tsfm.validation import validate_horizon, validate_quantile_levels, validate_season_length

COVERAGE_BAND = (0.1, 0.9)  # the 80% central interval reported as coverage_80


@dataclass(frozen=True)
class BacktestConfig:
    """How to cut and score windows.

    Attributes
    ----------
    horizon
        Steps forecast per window.
    windows
        Number of rolling origins per series.
    step
        Distance between consecutive origins; ``None`` means ``horizon``
        (non-overlapping evaluation windows).
    season_length
        Season of the in-sample scale of MASE (and of the seasonal-naive reference).
    quantile_levels
        Levels requested from every model; 0.1 and 0.9 are always added for coverage.
    """

    horizon: int
    windows: int = 1
    step: int | None = None
    season_length: int = 1
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS

    def __post_init__(self) -> None:
        validate_horizon(self.horizon)
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise InputError(f"windows must be a positive integer, got {self.windows!r}")
        if self.step is not None:
            if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 1:
                raise InputError(f"step must be a positive integer, got {self.step!r}")
        validate_season_length(self.season_length)
        levels = validate_quantile_levels(list(self.quantile_levels) + list(COVERAGE_BAND))
        object.__setattr__(self, "quantile_levels", tuple(float(x) for x in levels))

    @property
    def stride(self) -> int:
        return self.step if self.step is not None else self.horizon


@dataclass(frozen=True)
class Window:
    """One rolling origin across the series long enough to have it."""

    index: int
    positions: np.ndarray  # [n] indices into the original series list
    contexts: list[np.ndarray]  # n arrays of unequal length
    targets: np.ndarray  # [n, horizon]


@dataclass
class BacktestResult:
    """Scores of every (model, series, window), and what a report needs."""

    config: BacktestConfig
    scores: pd.DataFrame  # one row per model, item_id, window
    seconds: dict[str, float]
    last_window: Window
    last_forecasts: dict[str, Forecast] = field(default_factory=dict)
    skipped: int = 0  # (series, window) pairs too short to score
    notes: dict[str, str] = field(default_factory=dict)  # per model, e.g. why it stopped early


def make_windows(
    series: Sequence[np.ndarray], config: BacktestConfig, item_ids: Sequence[str] | None = None
) -> tuple[list[Window], int]:
    """Cut rolling-origin windows; returns them and the number of skipped (series, window) pairs.

    The windows are :meth:`tsfm.rolling.RollingWindows.split`'s, the engine every model choice
    uses, grouped by window index. A series takes part in a window when its context keeps more
    than ``season_length`` observations (MASE needs an in-sample seasonal difference) and its
    target at least one. ``item_ids`` only name the longest series when no series is long enough.
    """
    h, need = config.horizon, config.season_length + 1
    engine = RollingWindows(h, config.windows, config.step, min_train_length=need)
    try:
        cut = engine.split(series, item_ids)
    except InputError:
        cut = []  # nothing fits: the message below says what to reduce
    windows, scored = [], 0
    for k in range(config.windows):
        mine = [w for w in cut if w.window == k and np.isfinite(w.context).sum() >= need]
        scored += len(mine)
        if not mine:
            back = (config.windows - 1 - k) * config.stride
            longest = int(np.argmax([len(v) for v in series]))
            name = repr(str(item_ids[longest])) if item_ids is not None else f"#{longest}"
            raise InputError(
                f"no series is long enough for window {k}: the longest series, {name}, has "
                f"{len(series[longest])} values; each needs at least {h + back + need}: horizon ({h}) + "
                f"{back} steps of later windows + {need} context observations (season length {config.season_length}"
                " + 1, for the MASE scale); reduce windows, step or horizon, or pass a smaller --season-length"
            )
        positions = np.asarray([w.item for w in mine])
        windows.append(Window(k, positions, [w.context for w in mine], np.vstack([w.target for w in mine])))
    return windows, config.windows * len(series) - scored


def run_backtest(
    models: Sequence[Forecaster],
    series: Sequence[np.ndarray],
    config: BacktestConfig,
    item_ids: Sequence[str] | None = None,
    progress: bool = True,
    covariates: Covariates | None = None,
    max_history: int | None = DEFAULT_MAX_HISTORY,
    time_budget: float | None = None,
) -> BacktestResult:
    """Forecast every window with every model and score each series.

    Parameters
    ----------
    models
        Forecasters to compare; names must be unique.
    series
        Full histories (context + evaluation part), 1-D float arrays.
    config
        Window and scoring settings.
    item_ids
        Names of the series, default their positions.
    progress
        Show a progress bar over (model, window).
    covariates
        Whole-history covariates aligned with ``series`` (no future values), e.g. from
        :func:`tsfm.covariate_frames.covariates_from_frames` with ``horizon=None``.
    max_history
        Most values a classical baseline (``kind == "baseline"``) is fitted on: the last ones of
        each context; ``None`` fits the whole history. Automatic models fit in time that grows
        with the length (auto-theta did not finish one window of seven 17,420-step series in 33
        minutes); the default, :data:`tsfm.rolling.DEFAULT_MAX_HISTORY`, is many seasons of any
        common frequency. MASE's scale still uses the whole history. Windows with covariates are
        not capped (the covariates' past must match the context). An ensemble caps its own
        baseline members (it was fitted with the same cap, see :func:`tsfm.ensemble.fit_ensemble`).
    time_budget
        Seconds of forecasting per model; ``None`` = no limit. Checked after each window: a model
        past it scores no further window and ``notes`` says so (the leaderboard's ``note``).
    """
    names = [m.name for m in models]
    if not models:
        raise InputError("models is empty: pass at least one model to evaluate")
    if len(set(names)) != len(names):
        raise InputError(f"model names must be unique, got {names}")
    _check_limits(max_history, time_budget)
    series = [np.asarray(s, dtype=np.float64) for s in series]
    ids = [str(x) for x in item_ids] if item_ids is not None else [str(i) for i in range(len(series))]
    if len(ids) != len(series):
        raise InputError(f"item_ids has {len(ids)} entries for {len(series)} series")
    windows, skipped = make_windows(series, config, ids)
    extras = [_window_covariates(covariates, window, config.horizon) for window in windows]
    rows, seconds, last, notes = [], {}, {}, {}
    bar = tqdm(total=len(models) * len(windows), desc="backtest", disable=not progress, unit="window")
    for model in models:
        seconds[model.name] = 0.0
        cap = history_cap(model, max_history)  # baselines only, as every validation caps them
        with warnings.catch_warnings(record=True) as caught:  # a model warns once, not once per window
            warnings.simplefilter("always")
            for window, extra in zip(windows, extras, strict=True):
                bar.set_postfix_str(f"{model.name} window {window.index}")
                contexts = capped_contexts(window.contexts, cap) if not extra else window.contexts
                start = time.perf_counter()
                forecast = model.predict_quantiles(contexts, config.horizon, config.quantile_levels, **extra)
                seconds[model.name] += time.perf_counter() - start
                rows.append(score_window(forecast, window, config, ids))
                last[model.name] = forecast
                bar.update(1)
                if time_budget is not None and seconds[model.name] > time_budget and window is not windows[-1]:
                    notes[model.name] = (
                        f"over budget after {seconds[model.name]:.0f} s: scored {window.index + 1} of "
                        f"{len(windows)} windows (--time-budget {time_budget:g})"
                    )
                    bar.update(len(windows) - 1 - window.index)
                    break
        for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
            warnings.warn(message, category, stacklevel=2)
    bar.close()
    last = {name: forecast for name, forecast in last.items() if name not in notes}  # the plot draws the last window
    scores = pd.concat(rows, ignore_index=True)
    return BacktestResult(config, scores, seconds, windows[-1], last, skipped, notes)


def _check_limits(max_history: int | None, time_budget: float | None) -> None:
    check_max_history(max_history)
    if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                    or not time_budget > 0):
        raise InputError(f"time_budget must be a positive number of seconds or None, got {time_budget!r}")


def _window_covariates(covariates: Covariates | None, window: Window, horizon: int) -> dict[str, Covariates]:
    """Keyword arguments for ``predict_quantiles``: the window's covariates, if any."""
    if covariates is None:
        return {}
    cutoffs = [len(context) for context in window.contexts]
    return {"covariates": covariates.window(window.positions, cutoffs, horizon)}


def score_window(
    forecast: Forecast, window: Window, config: BacktestConfig, item_ids: Sequence[str]
) -> pd.DataFrame:
    """Per-series metrics of one model on one window."""
    levels = np.asarray(forecast.quantile_levels)
    lower, upper = forecast.quantile(COVERAGE_BAND[0]), forecast.quantile(COVERAGE_BAND[1])
    point = forecast.median  # [n, horizon]; MASE/sMAPE score the median, as Chronos reports
    y = window.targets  # [n, horizon]
    ql = metrics.quantile_loss(y, forecast.quantiles, levels)  # [n]
    records = []
    for j, pos in enumerate(window.positions):
        records.append(
            {
                "model": forecast.model_name,
                "item_id": item_ids[pos],
                "window": window.index,
                "MASE": _defined(metrics.mase(y[j], point[j], window.contexts[j], config.season_length)),
                "sMAPE": metrics.smape(y[j], point[j]),
                "MSE": metrics.mse(y[j], point[j]),
                "quantile_loss": ql[j],
                "abs_target": float(np.abs(y[j]).sum()),
                "covered_80": float(np.mean((y[j] >= lower[j]) & (y[j] <= upper[j]))),
            }
        )
    return pd.DataFrame.from_records(records)


def _defined(value: float) -> float:
    """A scale-free figure, NaN where its scale is zero (``mase`` gives inf or NaN there)."""
    return value if np.isfinite(value) else float("nan")
