"""Classical baselines from statsforecast behind the tsfm contract.

Five names, one class (:class:`StatsForecastBaseline`) parametrised by a
:class:`BaselineSpec`:

==================  ==========================================  ==================
name                statsforecast model                         fewest observations
==================  ==========================================  ==================
``naive``           ``Naive()``                                 1
``seasonal-naive``  ``SeasonalNaive(season_length)``            ``season_length``
``auto-ets``        ``AutoETS(season_length=...)``              7
``auto-theta``      ``AutoTheta(season_length=...)``            4
``auto-arima``      ``AutoARIMA(season_length=...)``            3
==================  ==========================================  ==================

The season length comes from ``tsfm.load(..., season_length=24)``.

Quantiles come from statsforecast's prediction intervals: the level ``q`` is the
lower bound (``q < 0.5``) or upper bound (``q > 0.5``) of the central interval with
confidence ``100 * (1 - 2 * min(q, 1 - q))`` percent, and ``q = 0.5`` is the point
forecast, which is also ``Forecast.mean``. Every confidence level a request needs is
asked for in one call per series (or per batch).

Missing values: statsforecast does not accept NaN, so each series is cut to start at
its first finite value, gaps inside are filled by linear interpolation between the
neighbouring observations, and NaNs at the end hold the last observation (see
:func:`fill_missing`). The lengths in the table above count from the first finite
value.

Short series:

- ``seasonal-naive`` raises :class:`~tsfm.errors.InputError` naming the series, its
  length and the season length when a series is shorter than one season;
- ``auto-ets``, ``auto-theta`` and ``auto-arima`` fit a non-seasonal model
  (``season_length=1``) to any series shorter than two seasons, since a seasonal
  pattern cannot be estimated from less than two cycles, and forecast the others
  with the requested season length.

Speed (414 series of 700-1000 points, horizon 48, 2 shared CPU cores): the naive
models run per series in this process, ``model.forecast(y=..., h=..., level=...)``,
which beat ``StatsForecast`` over a long frame (0.5-0.6 s against 0.6-0.8 s for the
bare statsforecast calls; 0.3-0.4 s through this class; most of it is scipy building
the interval distribution, the point forecasts alone take 10 ms). The automatic
models spend 0.7-1.4 s per series with ``season_length=24`` (``auto-ets``: 392 s for
the 414), so batches of 8 or more series are fitted in worker processes
(:func:`tsfm.workers.run_in_workers`, the same ``model.forecast`` per series, in chunks);
that pays only where cores are free (on the busy 2-core test machine 2 workers were no
faster than 1 for M4 Hourly; 20 airline-like series took 7.4-7.9 s with 2 workers against
9.8-12.3 s in this process; starting the pool costs about 0.25 s). Results do not depend on
the path or the number of workers (bit for bit: each series is the same ``model.forecast``
call). The workers never outlive the process: an interrupt, a time limit, ``SIGTERM`` or
the death of the process ends them (statsforecast's own pool, used before, left its
workers alive for over a minute after ``tsfm export`` was sent ``SIGTERM``).

statsforecast is imported only when a forecast is made.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.registry import LoadOptions, register_model
from tsfm.validation import validate_season_length
from tsfm.workers import run_in_workers, worker_count

__all__ = [
    "BASELINES",
    "BaselineSpec",
    "StatsForecastBaseline",
    "confidence_level",
    "fill_missing",
    "load_baseline",
]

# Fewer series than this are fitted in this process: starting workers costs more
# than it saves (5 short seasonal series: 1.1 s with 2 workers, 0.8 s without).
MIN_SERIES_FOR_WORKERS = 8
CHUNKS_PER_WORKER = 4  # tasks per worker: series differ in fitting time, so no worker waits long on another


@dataclass(frozen=True)
class BaselineSpec:
    """How one baseline name maps onto a statsforecast model.

    Attributes
    ----------
    name
        Registered name, e.g. ``"auto-ets"``.
    model_class
        Class name in :mod:`statsforecast.models`, e.g. ``"AutoETS"``.
    description
        One line for ``tsfm models``.
    seasonal
        Whether the model takes ``season_length``.
    min_observations
        Fewest observations (from the first finite value) the model fits.
    slow
        Whether one fit costs enough (~1 s) to be worth worker processes.
    needs_full_season
        Raise for a series shorter than one season (``seasonal-naive``, which has
        nothing to repeat) instead of fitting series shorter than two seasons with
        ``season_length=1``.
    """

    name: str
    model_class: str
    description: str
    seasonal: bool = True
    min_observations: int = 1
    slow: bool = True
    needs_full_season: bool = False


BASELINES: dict[str, BaselineSpec] = {
    spec.name: spec
    for spec in (
        BaselineSpec("naive", "Naive", "Repeats the last observation", seasonal=False, slow=False),
        BaselineSpec(
            "seasonal-naive",
            "SeasonalNaive",
            "Repeats the last season (season_length)",
            slow=False,
            needs_full_season=True,
        ),
        # AutoETS refuses n <= n_parameters + 4 (ets.py: 'tiny datasets'), 7 for the simplest model;
        # AutoTheta refuses n <= 3 (theta.py). AutoARIMA fits from 1 value; 3 leave it something to fit.
        BaselineSpec("auto-ets", "AutoETS", "Exponential smoothing, chosen by AICc", min_observations=7),
        BaselineSpec("auto-theta", "AutoTheta", "Theta method, variant chosen by MSE", min_observations=4),
        BaselineSpec("auto-arima", "AutoARIMA", "ARIMA, orders chosen stepwise by AICc", min_observations=3),
    )
}


class StatsForecastBaseline(BaseForecaster):
    """A statsforecast model answering ``predict_quantiles`` for a batch of series.

    Parameters
    ----------
    spec
        Which model, see :data:`BASELINES`.
    season_length
        Seasonal period; ignored by ``naive``.
    n_jobs
        Worker processes for the slow automatic models (``-1`` = every core,
        ``1`` = this process only). The naive models always run in this process.
    """

    kind = "baseline"
    has_embeddings = False

    def __init__(self, spec: BaselineSpec, season_length: int = 1, n_jobs: int = -1) -> None:
        super().__init__(spec.name)
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise InputError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
        self.spec = spec
        self.season_length = validate_season_length(season_length) if spec.seasonal else 1
        self.n_jobs = n_jobs
        self.min_observations = spec.min_observations

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, season_length={self.season_length})"

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        series = [fill_missing(values) for values in context]
        seasons = self._seasons(series)
        confidences = sorted({c for c in map(confidence_level, levels) if c is not None})
        mean = np.empty((len(series), horizon))  # [n_series, horizon]
        bounds = {key: np.empty_like(mean) for c in confidences for key in (f"lo-{c}", f"hi-{c}")}
        for season in sorted(set(seasons)):
            rows = [i for i, s in enumerate(seasons) if s == season]
            out = self._forecast_group([series[i] for i in rows], season, horizon, confidences)
            mean[rows] = out["mean"]
            for key in bounds:
                bounds[key][rows] = out[key]
        quantiles = np.empty((len(series), horizon, len(levels)))  # [n_series, horizon, n_q]
        for j, level in enumerate(levels):
            confidence = confidence_level(level)
            if confidence is None:
                quantiles[:, :, j] = mean
            else:
                quantiles[:, :, j] = bounds[f"{'lo' if level < 0.5 else 'hi'}-{confidence}"]
        return quantiles, mean

    def _seasons(self, series: list[np.ndarray]) -> list[int]:
        """Season length used for each series; raises where seasonal-naive cannot run."""
        season = self.season_length
        if self.spec.needs_full_season:
            for i, values in enumerate(series):
                if len(values) < season:
                    raise InputError(
                        f"context[{i}] has {len(values)} observations, shorter than "
                        f"season_length={season} that {self.name} needs; pass a longer "
                        f"series or a smaller season_length"
                    )
            return [season] * len(series)
        return [season if len(values) >= 2 * season else 1 for values in series]

    def _new_model(self, season: int) -> Any:
        import statsforecast.models

        model_class = getattr(statsforecast.models, self.spec.model_class)
        return model_class(season_length=season) if self.spec.seasonal else model_class()

    def _forecast_group(
        self, series: list[np.ndarray], season: int, horizon: int, confidences: list[float]
    ) -> dict[str, np.ndarray]:
        """Forecast series sharing one season length: ``{"mean", "lo-80", ...: [n, horizon]}``."""
        model = self._new_model(season)
        level = confidences or None
        workers = worker_count(self.n_jobs, len(series)) if self.spec.slow else 1
        if workers > 1 and len(series) >= MIN_SERIES_FOR_WORKERS:
            size = -(-len(series) // (CHUNKS_PER_WORKER * workers))  # ceil: a few chunks per worker balance the load
            tasks = [(model, series[i : i + size], horizon, level) for i in range(0, len(series), size)]
            outs = [out for part in run_in_workers(forecast_series, tasks, workers) for out in part]
        else:
            outs = forecast_series(model, series, horizon, level)
        return {key: np.stack([out[key] for out in outs]) for key in outs[0]}


def forecast_series(
    model: Any, series: list[np.ndarray], horizon: int, level: list[float] | None
) -> list[dict[str, np.ndarray]]:
    """``model.forecast`` of each series (statsforecast's ``{"mean", "lo-80", ...}``), here or in a worker."""
    # Near-constant series make statsforecast's internals divide by zero; the fits
    # it settles on are still valid, so its numpy warnings are not passed on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [model.forecast(y=values, h=horizon, level=level) for values in series]


def fill_missing(values: np.ndarray) -> np.ndarray:
    """Make a series NaN-free for statsforecast.

    Leading NaNs are dropped, interior NaNs are linearly interpolated between the
    observations on either side, and trailing NaNs hold the last observation.

    Parameters
    ----------
    values
        1-D float array with at least one finite value.

    Returns
    -------
    np.ndarray
        1-D float64 array from the first finite value on, without NaN.
    """
    finite = np.isfinite(values)
    start = int(np.argmax(finite))
    values, finite = values[start:], finite[start:]
    if finite.all():
        return values
    positions = np.arange(len(values))
    return np.interp(positions, positions[finite], values[finite])  # clamps past the last value


def confidence_level(level: float) -> float | None:
    """Confidence (percent) of the central interval one of whose bounds is the ``level`` quantile.

    ``0.1`` and ``0.9`` -> ``80.0``; ``0.25`` -> ``50.0``; ``0.5`` -> ``None`` (the point
    forecast). Rounded to 10 decimals so ``q`` and ``1 - q`` share one interval, and
    kept strictly inside (0, 100) as statsforecast requires.
    """
    if level == 0.5:
        return None
    confidence = round(100.0 * (1.0 - 2.0 * min(level, 1.0 - level)), 10)
    return float(min(max(confidence, 1e-8), 100.0 - 1e-8))


def load_baseline(name: str, options: LoadOptions) -> StatsForecastBaseline:
    """Registry factory: the baseline ``name`` with ``options.season_length``."""
    return StatsForecastBaseline(BASELINES[name], season_length=options.season_length)


for _spec in BASELINES.values():
    register_model(_spec.name, kind="baseline", description=_spec.description)(load_baseline)
