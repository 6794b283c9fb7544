"""Exact power-of-two rescaling of series whose magnitude a model cannot compute with.

Values near 1e300 pass every float64 check, then overflow where a model computes in
float32 (Chronos, Fracast) or squares them (the baselines' likelihoods), and the forecast
comes back NaN or wrong; values near 1e-30 underflow to a constant. So the contract
(:meth:`tsfm.contract.BaseForecaster.predict_quantiles`) multiplies each series whose
largest absolute value lies outside the model's ``magnitude_range`` by the power of two
``2**k`` that brings that value into ``[1, 2)``, forecasts, and multiplies the quantiles
and the mean by ``2**-k``. Multiplying by a power of two only shifts the binary exponent,
so no digit of the data changes, and every model normalises each series by its own scale
before it reads it: the forecast is the one the model gives for that series, at a
magnitude it can compute with. Series inside the range are passed on untouched.
Numeric covariates are rescaled the same way, each on its own (models standardise every
covariate row), and need no scaling back.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tsfm.covariates import Covariates
from tsfm.errors import InputError

# Largest |value| per series that every bundled backend computes with exactly:
# Chronos squares float32 values (overflow from ~1e18), statsforecast's fits square
# float64 ones (NaN from ~1e100), Chronos underflows to a constant below ~1e-25.
DEFAULT_MAGNITUDE_RANGE: tuple[float, float] = (2.0**-30, 2.0**40)  # about 9.3e-10 .. 1.1e12


def magnitude_exponents(series: list[np.ndarray], magnitude_range: tuple[float, float] | None) -> np.ndarray:
    """Power of two ``k`` per series: 0 inside ``magnitude_range``, else the one that moves max |x| into [1, 2).

    Parameters
    ----------
    series
        Validated float64 series (NaN = missing, at least one finite value each).
    magnitude_range
        ``(smallest, largest)`` acceptable max |value|; ``None`` rescales nothing.

    Returns
    -------
    np.ndarray
        ``[n_series]`` int exponents; an all-zero series gets 0.
    """
    exponents = np.zeros(len(series), dtype=int)
    if magnitude_range is None:
        return exponents
    low, high = magnitude_range
    for i, values in enumerate(series):
        peak = _peak(values)
        if peak > 0 and not low <= peak <= high:
            exponents[i] = 1 - int(np.frexp(peak)[1])  # peak = m * 2**e with m in [0.5, 1)
    return exponents


def scale_series(series: list[np.ndarray], exponents: np.ndarray) -> list[np.ndarray]:
    """``series[i] * 2**exponents[i]``, exact; series with exponent 0 are returned as they are."""
    return [np.ldexp(values, int(k)) if k else values for values, k in zip(series, exponents, strict=True)]


def unscale_forecast(
    quantiles: np.ndarray, mean: np.ndarray, exponents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Undo :func:`scale_series` on ``quantiles [n, horizon, n_q]`` and ``mean [n, horizon]``.

    Raises
    ------
    InputError
        When a scaled-back forecast exceeds the float64 range (a forecast beyond ~1.8e308).
    """
    if not exponents.any():
        return quantiles, mean
    quantiles = np.ldexp(np.asarray(quantiles, dtype=np.float64), -exponents[:, None, None])
    mean = np.ldexp(np.asarray(mean, dtype=np.float64), -exponents[:, None])
    overflow = np.isinf(quantiles).any(axis=(1, 2)) | np.isinf(mean).any(axis=1)
    if overflow.any():
        i = int(np.flatnonzero(overflow)[0])
        raise InputError(
            f"the forecast of context[{i}] exceeds the float64 range (about 1.8e308) once scaled back to the "
            "data's units; divide the series by a constant before forecasting"
        )
    return quantiles, mean


def scale_covariates(covariates: Covariates, magnitude_range: tuple[float, float] | None) -> Covariates:
    """Covariates whose numeric columns each lie in range: past and future scaled by one power of two.

    Each (series, covariate) pair is treated on its own; categorical columns are left alone.
    """
    if magnitude_range is None or not covariates.names:
        return covariates
    low, high = magnitude_range
    past, future, changed = [], [], False
    for i, columns in enumerate(covariates.past):
        known = covariates.future[i] if covariates.future else {}
        new_past, new_future = dict(columns), dict(known)
        for name, values in columns.items():
            if values.dtype == object:
                continue
            peak = max(_peak(values), _peak(known[name]) if name in known else 0.0)
            if peak > 0 and not low <= peak <= high:
                k = 1 - int(np.frexp(peak)[1])
                new_past[name] = np.ldexp(values, k)
                if name in known:
                    new_future[name] = np.ldexp(np.asarray(known[name], dtype=np.float64), k)
                changed = True
        past.append(new_past)
        future.append(new_future)
    if not changed:
        return covariates
    return replace(covariates, past=tuple(past), future=tuple(future) if covariates.future else ())


def _peak(values: np.ndarray) -> float:
    """Largest finite |value|, 0.0 when there is none."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64))
    finite = magnitudes[np.isfinite(magnitudes)]
    return float(finite.max()) if finite.size else 0.0
