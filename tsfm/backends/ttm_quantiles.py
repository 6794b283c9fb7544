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


def fallback_scales(series: list[np.ndarray]) -> np.ndarray:
    """A positive scale of one-step changes per series, ``[n]``.

    The standard deviation of the first differences of the observed values; where that is 0 (or
    there is one value) the standard deviation of the values, then their mean absolute value, then 1.
    Series without missing values of one length are computed together.
    """
    scales = np.ones(len(series))
    for length in {len(one) for one in series}:
        rows = [i for i, one in enumerate(series) if len(one) == length]
        block = np.stack([series[i] for i in rows])  # [k, length]
        clean = np.isfinite(block).all(axis=1)
        if clean.any():
            scales[np.array(rows)[clean]] = _first_positive(block[clean])
        for i in np.array(rows)[~clean]:
            values = series[i][np.isfinite(series[i])]
            scales[i] = _first_positive(values[None, :])[0]
    return scales


def _first_positive(block: np.ndarray) -> np.ndarray:
    """Row-wise: std of first differences, else std of values, else mean |value|, else 1."""
    steps = np.diff(block, axis=1)
    candidates = [steps.std(axis=1) if steps.shape[1] > 1 else np.zeros(len(block)), block.std(axis=1),
                  np.abs(block).mean(axis=1), np.ones(len(block))]
    out = candidates[-1].copy()
    for candidate in reversed(candidates[:-1]):
        out = np.where(np.isfinite(candidate) & (candidate > 0), candidate, out)
    return out


def normal_shape(levels: np.ndarray) -> np.ndarray:
    """Standard normal quantiles at ``levels``: the fallback's shape, ``[n_q]``."""
    return np.array([NormalDist().inv_cdf(float(q)) for q in levels])


def random_walk_quantiles(point: np.ndarray, scales: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The fallback for series without backtests: ``point [n, h] + scale * sqrt(step) * z`` -> ``[n, h, n_q]``."""
    steps = np.sqrt(np.arange(1, point.shape[1] + 1, dtype=np.float64))
    return point[..., None] + scales[:, None, None] * steps[None, :, None] * normal_shape(levels)[None, None, :]


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
        :func:`fallback_scales` of the series: the fallback's one-step spread, and a floor (a
        millionth of it) for the spread of residuals that are all zero.
    levels
        Quantile levels in (0, 1), ascending.
    bias_correction
        False: the shape is that of the absolute errors taken with both signs, so the quantiles are
        symmetric around the point forecast and the 0.5 quantile is the forecast itself. True: the
        errors as they are, so their median shifts every quantile (the 0.5 quantile is the point
        forecast corrected by the series' typical backtest error) and their skew is kept.
    """
    squared = residuals**2  # [n_windows, horizon]
    counts = np.cumsum(np.isfinite(squared).sum(axis=0))
    if len(residuals) == 0 or counts[-1] == 0:
        return random_walk_quantiles(point[None, :], np.array([scale]), levels)[0]
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
        return normal_shape(levels) * max(np.abs(values).max(), 1e-12)
    low, high = 1.0 / len(values), 1.0 - 1.0 / len(values)
    grid = np.unique(np.concatenate([levels[(levels >= low) & (levels <= high)], [low, 0.5, high]]))
    native = np.quantile(values, grid)[None, None, :]  # [1, 1, n_grid]
    return interpolate_quantiles(native, grid, levels)[0, 0]


def _fill_forward(values: np.ndarray) -> np.ndarray:
    """Replace NaN by the last finite value before it (the first finite value for leading NaN)."""
    finite = np.flatnonzero(np.isfinite(values))
    index = np.searchsorted(finite, np.arange(len(values)), side="right") - 1
    return values[finite[np.maximum(index, 0)]]
