"""One rolling-origin validation engine: the same windows for every model, scored the same way.

Every place that chooses between models (ensemble weights, fine-tuning verdicts, calibration,
fallback routing, an export gate) cuts its windows here, so all of them rest on the same
geometry. Windows are cut from the end of each series, so series of different lengths are
aligned on their last observation:

    origin(i, k) = len_i - horizon - (windows - 1 - k) * step,   k = 0 (earliest) .. windows - 1

Window ``k`` of series ``i`` exists when ``origin(i, k) >= min_train_length``. Its context is
``series[:origin]`` (only the last ``max_context`` values when that is set) and its target is
``series[origin : origin + horizon]``. The windows depend on the data and the config only,
never on a model, so every model is scored on identical windows.

Nothing leaks: a window's context ends where its target starts, and :func:`holdout` returns,
per series, only the values before its earliest scoring window, for fitting, tuning or early
stopping on data no scoring window overlaps.

:func:`score` forecasts every window with one model in one ``predict_quantiles`` call (every
window of every series together; panels of more than :data:`MAX_BATCH_CONTEXTS` windows in a
few calls of whole window indices), and keeps both the per-window scores and the forecasts
themselves (for ensembles). Batching changes no context (each is still ``series[:origin]``), and
a forecaster of the contract forecasts a series the same alone or in any batch (the conformance
suite checks it), so the forecasts are those of one call per window index: bit for bit for the
classical baselines and fracast-0, and within float32 rounding for the Chronos family (under 1e-6
of the series' scale on the suite's small sets, as much as its own ``batch_size`` moves them).
A call that raises is retried one window index at a time, and a window index that raises series
by series, so one bad series fails alone; the series a model still fails on get NaN scores and
their reasons are recorded.

Classical baselines (``kind == "baseline"``) fit a model to each context; they are fitted on at
most its last ``max_history`` values (:data:`DEFAULT_MAX_HISTORY`, the cap every backtest, ensemble
and export gate shares through :func:`history_cap`), since automatic models fit in time that grows
with the length. Pretrained models read their whole context, cut to their own context length.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsfm import metrics
from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.validation import validate_quantile_levels, validate_season_length

COVERAGE_BAND = (0.1, 0.9)  # the central 80% interval reported as coverage_80
# Values a classical baseline is fitted on at most (its context's last ones): 83 days of hourly
# data, 5 years of daily, 38 of weekly; auto-ets/auto-theta fit in seconds per series there.
DEFAULT_MAX_HISTORY = 2000
# Most contexts of one batched call of :func:`forecast_windows` (whole window indices are never
# split: a window index with more series is one call, as without batching).
MAX_BATCH_CONTEXTS = 4096
SCORE_COLUMNS = (
    "item", "item_id", "window", "origin", "model", "MASE", "WQL", "coverage_80",
    "quantile_loss", "abs_target", "seconds", "error",
)


@dataclass(frozen=True)
class RollingWindows:
    """Where the validation windows of a set of series lie.

    Attributes
    ----------
    horizon
        Steps forecast and scored per window (the horizon you will forecast).
    windows
        Rolling origins per series, cut from the end; 3 by default, because a single window
        ranks models by luck more often than not.
    step
        Steps between consecutive origins; ``None`` = ``horizon`` (targets do not overlap).
    min_train_length
        Fewest values a window's history (everything before its origin) must hold; ``None`` = 1.
        Windows of a series too short for it are skipped and reported, not shortened.
    max_context
        Longest context handed to a model (its last values); ``None`` = the whole history.
        MASE's in-sample scale always uses the whole history.
    """

    horizon: int
    windows: int = 3
    step: int | None = None
    min_train_length: int | None = None
    max_context: int | None = None

    def __post_init__(self) -> None:
        _check_positive_int("horizon", self.horizon)
        _check_positive_int("windows", self.windows)
        for name in ("step", "min_train_length", "max_context"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name), "or None")

    @property
    def stride(self) -> int:
        """Steps between consecutive origins."""
        return self.step if self.step is not None else self.horizon

    @property
    def min_history(self) -> int:
        """Fewest values before an origin: ``min_train_length`` or 1."""
        return self.min_train_length if self.min_train_length is not None else 1

    def needed_length(self, windows: int = 1) -> int:
        """Length a series needs to hold its latest ``windows`` windows."""
        return self.min_history + self.horizon + (windows - 1) * self.stride

    def origins(self, length: int) -> list[int]:
        """Origin of each window ``k = 0 .. windows - 1`` of a series of ``length`` (may be too early)."""
        return [length - self.horizon - (self.windows - 1 - k) * self.stride for k in range(self.windows)]

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict; ``RollingWindows(**d)`` reads it back."""
        return asdict(self)

    def split(self, series: Sequence[np.ndarray], item_ids: Sequence[str] | None = None) -> list[Window]:
        """Cut the windows of every series, ordered by window index then by series.

        Parameters
        ----------
        series
            1-D float arrays, NaN = missing.
        item_ids
            Names used in messages; default the positions.

        Returns
        -------
        list[Window]
            Every window that fits; :meth:`skipped` lists those that do not.

        Raises
        ------
        InputError
            When not one window fits: it names the shortest series, its length and the length needed.
        """
        arrays, ids = _as_arrays(series, item_ids)
        cut = []
        for k in range(self.windows):
            for i, values in enumerate(arrays):
                origin = self.origins(len(values))[k]
                if self._skip_reason(values, origin) is None:
                    cut.append(_make_window(i, k, origin, values, self))
        if not cut:
            raise InputError(self._nothing_fits(arrays, ids))
        return cut

    def skipped(self, series: Sequence[np.ndarray], item_ids: Sequence[str] | None = None) -> list[Skipped]:
        """The (series, window) pairs that :meth:`split` leaves out, and why."""
        arrays, ids = _as_arrays(series, item_ids)
        out = []
        for k in range(self.windows):
            needed = self.needed_length(self.windows - k)
            for i, values in enumerate(arrays):
                reason = self._skip_reason(values, self.origins(len(values))[k])
                if reason is not None:
                    out.append(Skipped(i, ids[i], k, len(values), needed, reason))
        return out

    def _skip_reason(self, values: np.ndarray, origin: int) -> str | None:
        if origin < self.min_history:
            return "too short"
        if not np.isfinite(values[origin : origin + self.horizon]).any():
            return "no observed target value"
        if not np.isfinite(_context_of(values[:origin], self.max_context)).any():
            return "no observed context value"
        return None

    def _nothing_fits(self, arrays: list[np.ndarray], ids: list[str]) -> str:
        shortest = int(np.argmin([len(a) for a in arrays]))
        longest = max(len(a) for a in arrays)
        needed = self.needed_length(1)
        if longest >= needed:
            return (
                f"no window of horizon {self.horizon} has an observed target and context in any of the "
                f"{len(arrays)} series; every candidate window is all NaN"
            )
        return (
            f"no validation window fits: one window needs min_train_length ({self.min_history}) + horizon "
            f"({self.horizon}) = {needed} values, but the shortest series ({ids[shortest]!r}) has "
            f"{len(arrays[shortest])} and the longest {longest}; shorten the horizon or min_train_length, "
            f"or pass longer series"
        )


@dataclass(frozen=True)
class Window:
    """One rolling origin of one series.

    Attributes
    ----------
    item
        Position of the series in the list given to :meth:`RollingWindows.split`.
    window
        Window index, 0 = earliest.
    origin
        Index of the first target value in the series.
    context
        Read-only view of ``series[:origin]``, its last ``max_context`` values when that is set.
    target
        Read-only view of ``series[origin : origin + horizon]``.
    history
        Read-only view of the whole ``series[:origin]`` (MASE's in-sample scale).
    """

    item: int
    window: int
    origin: int
    context: np.ndarray = field(repr=False)
    target: np.ndarray = field(repr=False)
    history: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Skipped:
    """A (series, window) pair that does not fit: ``needed`` is the length that window asks for."""

    item: int
    item_id: str
    window: int
    length: int
    needed: int
    reason: str


def holdout(series: Sequence[np.ndarray], config: RollingWindows) -> list[np.ndarray]:
    """Per series, the values before its earliest scoring window: data no scoring window overlaps.

    Fit, tune, calibrate or early-stop on these, then score on ``config.split(series)``.
    A series with no window that fits is never scored and is returned whole.

    Returns
    -------
    list[np.ndarray]
        Read-only views, one per series, in order.
    """
    arrays, _ = _as_arrays(series, None)
    parts = []
    for values in arrays:
        fitting = [o for o in config.origins(len(values)) if o >= config.min_history]
        part = values[: fitting[0]] if fitting else values[:]
        part.flags.writeable = False
        parts.append(part)
    return parts


@dataclass
class ValidationResult:
    """One model on the validation windows.

    Attributes
    ----------
    model
        The model's name.
    config, quantile_levels, season_length
        How the windows were cut and scored.
    windows
        The scored windows, in the order of the rows of ``forecasts`` and ``point``.
    forecasts
        ``[n_windows_total, horizon, n_q]`` quantiles; NaN rows where the model failed.
    point
        ``[n_windows_total, horizon]`` point forecasts (the median; the mean when 0.5 was not asked).
    scores
        One row per window: ``item, item_id, window, origin, model, MASE, WQL, coverage_80,
        quantile_loss, abs_target, seconds, error`` (``error`` is empty where it succeeded).
    skipped
        The (series, window) pairs that did not fit.
    item_ids
        Names of the series, indexed by ``Window.item``.
    """

    model: str
    config: RollingWindows
    quantile_levels: tuple[float, ...]
    season_length: int
    windows: list[Window]
    forecasts: np.ndarray
    point: np.ndarray
    scores: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)

    @property
    def targets(self) -> np.ndarray:
        """``[n_windows_total, horizon]`` observed values."""
        return np.vstack([w.target for w in self.windows])

    @property
    def failed(self) -> np.ndarray:
        """``[n_windows_total]`` True where the model gave no usable forecast."""
        return ~np.isfinite(self.forecasts).all(axis=(1, 2))

    @property
    def failures(self) -> pd.DataFrame:
        """The failing windows: ``item, item_id, window, error``."""
        return self.scores.loc[self.failed, ["item", "item_id", "window", "error"]].reset_index(drop=True)

    def pooled(self) -> dict[str, float]:
        """Metrics over every successful window (see :func:`pooled_metrics`)."""
        return pooled_metrics(self.scores)

    def per_series(self) -> pd.DataFrame:
        """Mean MASE and coverage, and pooled WQL, of each series over its windows."""
        return _grouped(self.scores, "item_id")

    def per_window(self) -> pd.DataFrame:
        """Mean MASE and coverage, and pooled WQL, of each window index over the series."""
        return _grouped(self.scores, "window")


def pooled_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """Means over the successful rows of a score table, and the pooled WQL.

    Returns ``WQL`` (pooled, as the leaderboard reports it: the sum of the quantile losses over the
    sum of ``|y|``, all windows together), ``MASE``, ``mean_WQL`` and ``coverage_80`` (means over
    rows), ``windows`` (rows scored),
    ``failed`` (rows without a forecast) and ``seconds`` (forecasting time).
    """
    ok = scores["error"] == ""
    good = scores[ok]
    abs_sum = float(good["abs_target"].sum())
    return {
        "MASE": _nanmean(good["MASE"]),
        "WQL": float(good["quantile_loss"].sum()) / abs_sum if abs_sum > 0 else float("nan"),
        "mean_WQL": _nanmean(good["WQL"]),
        "coverage_80": _nanmean(good["coverage_80"]),
        "windows": int(ok.sum()),
        "failed": int((~ok).sum()),
        "seconds": float(scores["seconds"].sum()),
    }


def history_cap(model: Forecaster, max_history: int | None = DEFAULT_MAX_HISTORY) -> int | None:
    """Most values of a context ``model`` is given: ``max_history`` for a classical baseline, else None.

    Classical baselines (``kind == "baseline"``) fit a model to each context, in time that grows
    with its length (auto-theta did not finish one window of seven 17,420-step series in 33
    minutes), and gain little from values more than many seasons old. Pretrained models, ensembles
    (which cap their own baseline members) and anything else read the whole context, cut to their
    own context length. Every backtest, validation, ensemble and export gate caps through this one
    function, so a baseline is fitted on the same values wherever it is scored.
    """
    check_max_history(max_history)
    return max_history if getattr(model, "kind", None) == "baseline" else None


def check_max_history(max_history: object) -> None:
    """Refuse a history cap that is not a positive integer or None, naming the value."""
    if max_history is not None and (isinstance(max_history, bool) or not isinstance(max_history, numbers.Integral)
                                    or max_history < 1):
        raise InputError(f"max_history must be a positive integer or None, got {max_history!r}")


def capped_contexts(contexts: Sequence[np.ndarray], cap: int | None) -> list[np.ndarray]:
    """The last ``cap`` values of each context (views; all of them when ``cap`` is None)."""
    return list(contexts) if cap is None else [c[-cap:] for c in contexts]


def score(
    model: Forecaster,
    series: Sequence[np.ndarray],
    config: RollingWindows,
    quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
    season_length: int = 1,
    item_ids: Sequence[str] | None = None,
    max_history: int | None = DEFAULT_MAX_HISTORY,
) -> ValidationResult:
    """Forecast and score every validation window of ``series`` with ``model``.

    Parameters
    ----------
    model
        Any forecaster of the contract.
    series
        Full histories, 1-D float arrays; the windows are cut from their ends.
    config
        Where the windows lie.
    quantile_levels
        Levels asked for and scored by WQL; ``coverage_80`` needs 0.1 and 0.9 among them (NaN otherwise).
    season_length
        Season of MASE's in-sample scale.
    item_ids
        Names of the series, default their positions.
    max_history
        Most values (the last ones) of each context a classical baseline is fitted on
        (:func:`history_cap`); ``None``: all. Other models are not affected. MASE's scale
        always uses the whole history.

    Returns
    -------
    ValidationResult
        Scores per window, the forecasts, and the skipped windows.
    """
    levels = validate_quantile_levels(quantile_levels)
    season = validate_season_length(season_length)
    cap = history_cap(model, max_history)
    arrays, ids = _as_arrays(series, item_ids)
    windows = config.split(arrays, ids)
    quantiles, point, seconds, errors = forecast_windows(model, windows, config.horizon, levels, cap)
    scores = score_forecasts(windows, quantiles, point, levels, season, model.name, ids, seconds, errors)
    return ValidationResult(
        model.name, config, tuple(float(x) for x in levels), season, windows, quantiles, point, scores,
        config.skipped(arrays, ids), ids,
    )


def forecast_windows(
    model: Forecaster, windows: Sequence[Window], horizon: int, levels: np.ndarray, max_history: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Forecast ``windows`` in as few calls as :data:`MAX_BATCH_CONTEXTS` allows.

    Consecutive window indices are grouped into one ``predict_quantiles`` call of at most
    :data:`MAX_BATCH_CONTEXTS` contexts (a window index holding more is one call of its own), in
    the order of ``windows``. A call that raises or returns a non-finite forecast is done again
    one window index at a time, each through :func:`predict_robustly` (series by series where a
    window index fails), so the forecasts and failures are those of one call per window index.
    ``max_history`` cuts every context to its last values (see :func:`history_cap`).

    Returns
    -------
    tuple
        ``quantiles [n, horizon, n_q]`` and ``point [n, horizon]`` (NaN rows where the model
        failed), ``seconds [n]`` (each call's time shared among its windows) and one error
        message per window (``""`` where it succeeded).
    """
    n = len(windows)
    quantiles = np.full((n, horizon, len(levels)), np.nan)
    point = np.full((n, horizon), np.nan)
    seconds = np.zeros(n)
    errors = [""] * n
    for batch in _window_batches(windows):
        rows = [r for index in batch for r in index]
        if len(batch) > 1:
            contexts = capped_contexts([windows[r].context for r in rows], max_history)
            start = time.perf_counter()
            try:
                quantiles[rows], point[rows] = _checked_forecast(model, contexts, horizon, levels, "median", {})
                seconds[rows] = (time.perf_counter() - start) / len(rows)
                continue
            except Exception:  # a model's failure: found again window index by window index below
                seconds[rows] = (time.perf_counter() - start) / len(rows)
        for index in batch:
            contexts = capped_contexts([windows[r].context for r in index], max_history)
            q, p, s, e = predict_robustly(model, contexts, horizon, levels)
            quantiles[index], point[index], seconds[index] = q, p, seconds[index] + s
            for r, message in zip(index, e):
                errors[r] = message
    return quantiles, point, seconds, errors


def rows_by_window(windows: Sequence[Window]) -> list[tuple[int, list[int]]]:
    """``(window index, positions in windows)`` for each window index, oldest first."""
    by_index: dict[int, list[int]] = {}
    for r, w in enumerate(windows):
        by_index.setdefault(w.window, []).append(r)
    return sorted(by_index.items())


def _window_batches(windows: Sequence[Window]) -> list[list[list[int]]]:
    """Rows of ``windows`` per window index, those indices grouped into batches of at most
    :data:`MAX_BATCH_CONTEXTS` rows (an index with more rows is a batch alone), in order."""
    batches: list[list[list[int]]] = []
    size = 0
    for _, rows in rows_by_window(windows):
        if batches and size + len(rows) <= MAX_BATCH_CONTEXTS:
            batches[-1].append(rows)
            size += len(rows)
        else:
            batches.append([rows])
            size = len(rows)
    return batches


def predict_robustly(
    model: Forecaster, contexts: list[np.ndarray], horizon: int, levels: np.ndarray,
    point: str = "median", **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One batched call; if it raises, one call per series, so one bad series fails alone.

    A forecast that is not finite or not of the expected shape counts as a failure.
    Returns ``quantiles [n, horizon, n_q]``, ``point [n, horizon]`` (the forecast's ``"median"``
    or ``"mean"``), ``seconds [n]`` and the errors, as :func:`forecast_windows`. ``kwargs`` (e.g.
    covariates) go to ``predict_quantiles``; they describe the whole batch, so a batch given them
    is not retried series by series.
    """
    n = len(contexts)
    quantiles, points = np.full((n, horizon, len(levels)), np.nan), np.full((n, horizon), np.nan)
    start = time.perf_counter()
    try:
        quantiles[:], points[:] = _checked_forecast(model, contexts, horizon, levels, point, kwargs)
        return quantiles, points, np.full(n, (time.perf_counter() - start) / n), [""] * n
    except Exception as exc:  # any failure of a model is reported, never fatal to the others
        if n == 1 or kwargs:
            return quantiles, points, np.full(n, (time.perf_counter() - start) / n), [_reason(exc)] * n
    seconds, errors = np.zeros(n), [""] * n
    for j, context in enumerate(contexts):
        start = time.perf_counter()
        try:
            q, p = _checked_forecast(model, [context], horizon, levels, point, {})
            quantiles[j], points[j] = q[0], p[0]
        except Exception as exc:  # recorded per series
            errors[j] = _reason(exc)
        seconds[j] = time.perf_counter() - start
    return quantiles, points, seconds, errors


def score_forecasts(
    windows: Sequence[Window],
    quantiles: np.ndarray,
    point: np.ndarray,
    levels: np.ndarray,
    season_length: int,
    model_name: str,
    item_ids: Sequence[str],
    seconds: np.ndarray | None = None,
    errors: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score precomputed forecasts of ``windows``: one row per window (columns :data:`SCORE_COLUMNS`).

    Rows without a finite forecast get NaN metrics and keep their error (``"no forecast"`` if none given).
    """
    levels = np.asarray(levels, dtype=np.float64)
    band = [int(np.flatnonzero(np.isclose(levels, b))[0]) for b in COVERAGE_BAND if np.isclose(levels, b).any()]
    seconds = np.zeros(len(windows)) if seconds is None else seconds
    records = []
    for r, w in enumerate(windows):
        error = errors[r] if errors is not None else ""
        row = {"item": w.item, "item_id": item_ids[w.item], "window": w.window, "origin": w.origin,
               "model": model_name, "seconds": float(seconds[r])}
        if not (np.isfinite(quantiles[r]).all() and np.isfinite(point[r]).all()):
            records.append({**row, **_empty_metrics(), "error": error or "no forecast"})
            continue
        y = np.asarray(w.target, dtype=np.float64)
        loss = float(metrics.quantile_loss(y[None], quantiles[r][None], levels)[0])
        abs_target = float(np.nansum(np.abs(y)))
        observed = np.isfinite(y)
        coverage = float("nan")
        if len(band) == 2:
            inside = (y >= quantiles[r][:, band[0]]) & (y <= quantiles[r][:, band[1]])
            coverage = float(inside[observed].mean())
        records.append({
            **row, "MASE": _safe_mase(y, point[r], w.history, season_length),
            "WQL": loss / abs_target if abs_target > 0 else float("nan"), "coverage_80": coverage,
            "quantile_loss": loss, "abs_target": abs_target, "error": "",
        })
    return pd.DataFrame.from_records(records, columns=list(SCORE_COLUMNS))


def _checked_forecast(
    model: Forecaster, contexts: list[np.ndarray], horizon: int, levels: np.ndarray, point: str, kwargs: dict
) -> tuple[np.ndarray, np.ndarray]:
    forecast = model.predict_quantiles(contexts, horizon, levels, **kwargs)
    q = np.asarray(forecast.quantiles, dtype=np.float64)  # [n, horizon, n_q]
    p = np.asarray(forecast.median if point == "median" else forecast.mean, dtype=np.float64)  # [n, horizon]
    if q.shape != (len(contexts), horizon, len(levels)):
        raise InputError(f"model {model.name!r} returned quantiles of shape {q.shape}, expected "
                         f"{(len(contexts), horizon, len(levels))}")
    if not (np.isfinite(q).all() and np.isfinite(p).all()):
        raise InputError(f"model {model.name!r} returned NaN or inf forecasts")
    return q, p


def _safe_mase(y: np.ndarray, point: np.ndarray, history: np.ndarray, season_length: int) -> float:
    """MASE, or NaN where the history has no seasonal difference to scale by."""
    try:
        return metrics.mase(y, point, history, season_length)
    except InputError:
        return float("nan")


def _empty_metrics() -> dict[str, float]:
    nan = float("nan")
    return {"MASE": nan, "WQL": nan, "coverage_80": nan, "quantile_loss": nan, "abs_target": nan}


def _grouped(scores: pd.DataFrame, by: str) -> pd.DataFrame:
    good = scores[scores["error"] == ""]
    grouped = good.groupby(by, sort=False)
    table = grouped[["MASE", "coverage_80"]].mean()
    table["WQL"] = grouped["quantile_loss"].sum() / grouped["abs_target"].sum()
    table["windows"] = grouped.size()
    return table.reset_index()


def _nanmean(values: pd.Series) -> float:
    finite = values[np.isfinite(values.to_numpy(dtype=np.float64))]
    return float(finite.mean()) if len(finite) else float("nan")


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _context_of(history: np.ndarray, max_context: int | None) -> np.ndarray:
    return history[-max_context:] if max_context is not None and len(history) > max_context else history


def _make_window(item: int, k: int, origin: int, values: np.ndarray, config: RollingWindows) -> Window:
    history = values[:origin]
    context = _context_of(history, config.max_context)
    target = values[origin : origin + config.horizon]
    for view in (history, context, target):
        view.flags.writeable = False
    return Window(item, k, origin, context, target, history)


def _as_arrays(series: Sequence[np.ndarray], item_ids: Sequence[str] | None) -> tuple[list[np.ndarray], list[str]]:
    if isinstance(series, np.ndarray) and series.ndim == 1:
        raise InputError("series is one 1-D array; pass a list of series: [series]")
    arrays = []
    for i, s in enumerate(series):
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 1:
            raise InputError(f"series[{i}] has shape {a.shape}; each series must be 1-D")
        arrays.append(a)
    if not arrays:
        raise InputError("series is empty: pass at least one series")
    ids = [str(x) for x in item_ids] if item_ids is not None else [str(i) for i in range(len(arrays))]
    if len(ids) != len(arrays):
        raise InputError(f"item_ids has {len(ids)} entries for {len(arrays)} series")
    return arrays, ids


def _check_positive_int(name: str, value: object, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        allowed = f"a positive integer {extra}".strip()
        raise InputError(f"RollingWindows.{name} must be {allowed}, got {value!r}")
