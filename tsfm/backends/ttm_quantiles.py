"""Quantiles for point forecasters: empirical residual quantiles from backtests on each series' own past.

TinyTimeMixer (and any model that returns one value per step) gives no distribution. Its quantiles
are made from how wrong the same model was on the end of the same series:

1. **Backtests.** For a forecast of ``horizon`` steps from a series of length ``T``, the model also
   forecasts from the origins ``T - horizon``, ``T - 2 horizon``, ... (up to ``n_windows`` of them
   whose context and target hold data). ``residuals[j, t]`` is the observed value minus the backtest
   forecast at step ``t + 1`` of window ``j``.
2. **Spread per step.** ``spread[t]`` is the root mean square of the residuals of steps ``1..t+1``
   over every window: errors may grow with the step, and pooling the earlier steps keeps the estimate
   steady when there are few windows.
3. **Shape.** The residuals divided by the spread of their step are pooled (``n_windows * horizon``
   values of the one series) and their empirical quantiles taken; levels beyond what that many values
   resolve get a fitted Laplace tail (:func:`tsfm.quantiles.interpolate_quantiles`).
4. ``quantile[t, level] = point[t] + spread[t] * shape[level]``, where ``shape`` is taken from the
   absolute normalised errors with both signs (split-conformal style): the interval between levels
   ``l`` and ``1 - l`` is the forecast plus or minus the ``1 - 2l`` quantile of the absolute errors,
   and the 0.5 quantile is the model's own forecast. Each series is scaled by its own errors only,
   so the result does not depend on the other series of a call. With ``bias_correction`` the signed
   errors are used: their median shifts the forecast and their skew is kept.

A series too short for any backtest falls back to a random-walk spread: the standard deviation of its
first differences times ``sqrt(t + 1)``, with normal quantiles.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from tsfm.quantiles import interpolate_quantiles


def backtest_origins(series: np.ndarray, horizon: int, n_windows: int, min_context: int) -> list[int]:
    """Cut points ``T - j * horizon`` (``j = 1..n_windows``) whose context and target both hold data.

    A context needs at least ``min_context`` finite values and the ``horizon`` values after the cut
    at least one.
    """
    origins = []
    finite = np.isfinite(series)
    for j in range(1, n_windows + 1):
        cut = len(series) - j * horizon
        if cut < 1:
            break
        if finite[:cut].sum() >= min_context and finite[cut : cut + horizon].any():
            origins.append(cut)
    return origins


def fallback_scale(series: np.ndarray) -> float:
    """A positive scale of one-step changes: std of the first differences (or of the level) of ``series``."""
    values = series[np.isfinite(series)]
    steps = np.diff(values)
    for candidate in (np.std(steps) if len(steps) > 1 else 0.0, np.std(values), np.mean(np.abs(values))):
        if np.isfinite(candidate) and candidate > 0:
            return float(candidate)
    return 1.0


def residual_quantiles(
    point: np.ndarray, residuals: np.ndarray, scale: float, levels: np.ndarray, bias_correction: bool = False
) -> np.ndarray:
    """Quantiles ``[horizon, n_q]`` of one series from its point forecast and backtest residuals.

    Parameters
    ----------
    point
        The point forecast, ``[horizon]``.
    residuals
        Observed minus forecast on the backtest windows, ``[n_windows, horizon]`` (NaN where the
        target was missing); zero windows selects the random-walk fallback.
    scale
        :func:`fallback_scale` of the series: the fallback's one-step spread, and a floor (a
        millionth of it) for the spread of residuals that are all zero.
    levels
        Quantile levels in (0, 1), ascending.
    bias_correction
        False: the shape is that of the absolute errors taken with both signs, so the quantiles are
        symmetric around the point forecast and the 0.5 quantile is the forecast itself. True: the
        errors as they are, so their median shifts every quantile (the 0.5 quantile is the point
        forecast corrected by the series' typical backtest error) and their skew is kept.
    """
    horizon = len(point)
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    squared = residuals**2  # [n_windows, horizon]
    counts = np.cumsum(np.isfinite(squared).sum(axis=0))
    if len(residuals) == 0 or counts[-1] == 0:
        shape = np.array([NormalDist().inv_cdf(float(q)) for q in levels])
        return point[:, None] + scale * np.sqrt(steps)[:, None] * shape[None, :]
    sums = np.cumsum(np.nansum(squared, axis=0))
    spread = np.sqrt(sums / np.maximum(counts, 1))  # [horizon]
    spread = np.maximum(np.where(counts > 0, spread, np.nan), 1e-6 * scale)
    spread = _fill_forward(spread)
    normalised = (residuals / spread[None, :]).ravel()
    normalised = normalised[np.isfinite(normalised)]
    if not bias_correction:  # symmetric around the forecast: |errors| with both signs (split-conformal style)
        normalised = np.concatenate([np.abs(normalised), -np.abs(normalised)])
    shape = _pooled_quantiles(normalised, levels)  # [n_q]
    return point[:, None] + spread[:, None] * shape[None, :]


def _pooled_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Empirical quantiles of ``values`` at ``levels``; outside ``[1/n, 1 - 1/n]`` a Laplace tail."""
    if len(values) < 3:  # too few to resolve anything but a spread: symmetric normal shape
        return np.array([NormalDist().inv_cdf(float(q)) for q in levels]) * max(np.abs(values).max(), 1e-12)
    low, high = 1.0 / len(values), 1.0 - 1.0 / len(values)
    grid = np.unique(np.concatenate([levels[(levels >= low) & (levels <= high)], [low, 0.5, high]]))
    native = np.quantile(values, grid)[None, None, :]  # [1, 1, n_grid]
    return interpolate_quantiles(native, grid, levels)[0, 0]


def _fill_forward(values: np.ndarray) -> np.ndarray:
    """Replace NaN by the last finite value before it (the first finite value for leading NaN)."""
    finite = np.flatnonzero(np.isfinite(values))
    index = np.searchsorted(finite, np.arange(len(values)), side="right") - 1
    return values[finite[np.maximum(index, 0)]]
