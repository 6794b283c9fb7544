"""Forecast accuracy metrics, in plain numpy.

Point metrics follow the M4 competition's definitions (sMAPE in percent, MASE scaled
by the in-sample seasonal naive error); probabilistic metrics follow Chronos and fev
(weighted quantile loss, scaled by the sum of absolute targets).

Missing values: an observation whose ``y_true`` is NaN is left out of every metric
(the in-sample series of :func:`seasonal_scale` too); forecasts, quantiles and
interval bounds must be finite where ``y_true`` is observed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.validation import validate_season_length


def seasonal_scale(insample: Any, season_length: int) -> float:
    """Mean absolute seasonal difference of the in-sample series (the MASE denominator).

    ``scale = mean_t |y_t - y_{t-m}|`` over ``t = m..n-1`` with ``m = season_length``;
    pairs where either value is NaN are ignored.

    Parameters
    ----------
    insample
        ``[n]`` history the forecast was made from.
    season_length
        ``m``; 1 gives the naive (random walk) scale.

    Returns
    -------
    float
        The scale; 0.0 for a series that repeats itself exactly at lag ``m``.

    Raises
    ------
    InputError
        When the series is not 1-D, has ``<= m`` observations, or no pair of
        observed values ``m`` steps apart.
    """
    m = validate_season_length(season_length)
    y = _as_float(insample, "insample")
    if y.ndim != 1:
        raise InputError(f"insample must be 1-D, got shape {y.shape}")
    if y.size <= m:
        raise InputError(
            f"insample has {y.size} values but season_length is {m}; the seasonal scale needs "
            f"more than {m} observations (use a shorter season_length or a longer history)"
        )
    diffs = np.abs(y[m:] - y[:-m])
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        raise InputError(f"insample has no two observed values {m} steps apart; the scale is undefined")
    return float(diffs.mean())


def series_scale(context: np.ndarray) -> float:
    """Scale of a context: mean absolute change between consecutive observed values.

    Unlike :func:`seasonal_scale` it never fails: it falls back to the standard deviation,
    then to ``max(|mean|, 1)``, so it is always > 0. Calibration offsets, fallback routing
    and drift monitoring divide by it.

    Parameters
    ----------
    context
        ``[n]`` history; NaN values are skipped.
    """
    observed = context[np.isfinite(context)]
    if observed.size >= 2:
        diff = float(np.mean(np.abs(np.diff(observed))))
        if diff > 0:
            return diff
        if float(np.std(observed)) > 0:
            return float(np.std(observed))
    return max(float(abs(np.mean(observed))) if observed.size else 1.0, 1.0)


def mase(y_true: Any, y_pred: Any, insample: Any, season_length: int) -> float:
    """Mean absolute scaled error, as defined for the M4 competition.

    ``MASE = mean_t |y_t - f_t| / seasonal_scale(insample, m)``.

    Parameters
    ----------
    y_true, y_pred
        ``[h]`` observed values and point forecast.
    insample
        ``[n]`` history the forecast was made from.
    season_length
        ``m``, e.g. 24 for hourly data, 12 for monthly, 1 for yearly.

    Returns
    -------
    float
        The error; ``inf`` when the scale is 0 and the forecast errs, ``nan`` when
        both are 0.
    """
    if np.ndim(y_true) != 1:
        raise InputError(f"y_true must be 1-D (one series) for mase, got shape {np.shape(y_true)}")
    y, f = _paired(y_true, y_pred, "y_pred")
    return _ratio(float(np.mean(np.abs(y - f))), seasonal_scale(insample, season_length))


def smape(y_true: Any, y_pred: Any) -> float:
    """Symmetric mean absolute percentage error, M4 definition, in percent (0..200).

    ``sMAPE = 200 * mean_t |y_t - f_t| / (|y_t| + |f_t|)``; a term where both
    ``y_t`` and ``f_t`` are 0 counts as 0 (a perfect forecast).

    Parameters
    ----------
    y_true, y_pred
        Arrays of the same shape (any number of dimensions); the mean is over all of them.
    """
    y, f = _paired(y_true, y_pred, "y_pred")
    numerator = np.abs(y - f)
    denominator = np.abs(y) + np.abs(f)
    terms = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return float(200.0 * terms.mean())


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error, ``mean (y - f)^2`` over all entries of same-shaped arrays."""
    y, f = _paired(y_true, y_pred, "y_pred")
    return float(np.mean((y - f) ** 2))


def quantile_loss(y_true: Any, quantiles: Any, levels: Any) -> np.ndarray:
    """Per-series quantile loss: mean over levels of twice the summed pinball loss.

    ``QL_i = mean_k 2 * sum_t rho_{tau_k}(y_it - q_itk)`` with the pinball loss
    ``rho_tau(u) = max(tau * u, (tau - 1) * u)``. Summing ``QL_i`` over series and
    dividing by ``sum_it |y_it|`` gives :func:`wql`. Steps where ``y`` is NaN add 0.

    Parameters
    ----------
    y_true
        ``[n_series, horizon]`` observed values.
    quantiles
        ``[n_series, horizon, n_levels]`` forecast quantiles.
    levels
        ``[n_levels]`` quantile levels in (0, 1), matching the last axis of ``quantiles``.

    Returns
    -------
    np.ndarray
        ``[n_series]`` losses, in the units of ``y``.
    """
    y, q, tau = _quantile_inputs(y_true, quantiles, levels)
    q = np.where(np.isnan(y)[:, :, None], 0.0, q)  # a forecast where y is missing may be anything
    return 2.0 * pinball(q, y[:, :, None], tau).sum(axis=1).mean(axis=1)  # [n, h, k] -> [n]


def pinball(prediction: Any, target: Any, levels: Any) -> Any:
    """Element-wise pinball loss ``rho_tau(u) = max(tau * u, (tau - 1) * u)``, ``u = target - prediction``.

    The one definition behind :func:`quantile_loss`, the pretraining and fine-tuning loss and
    the distillation loss: it takes numpy arrays or torch tensors (only operators and the
    tensor's own ``where`` are used, so this module does not import torch) and keeps autograd.
    A NaN target gives 0, and for a tensor no gradient either.

    Parameters
    ----------
    prediction
        Quantiles, e.g. ``[batch, horizon, n_q]``.
    target
        Broadcastable to ``prediction``: one target per level, or ``[batch, horizon, 1]``.
    levels
        Quantile levels broadcastable to ``prediction``, e.g. ``[n_q]`` for a last level axis.

    Returns
    -------
    array or tensor
        The broadcast shape of the three, ``>= 0``.
    """
    missing = target != target  # NaN is the one value unequal to itself, in numpy and torch alike
    error = target - prediction
    if isinstance(error, np.ndarray | np.generic | float):
        error = np.where(missing, 0.0, error)
    else:  # a torch tensor
        error = error.where(~missing, 0.0)
    # u * (tau - 1[u < 0]) equals max(tau * u, (tau - 1) * u) bit for bit, with operators only
    return error * (levels - (error < 0) * 1.0)


def wql(y_true: Any, quantiles: Any, levels: Any) -> float:
    """Weighted quantile loss over a set of series, as Chronos and fev report it.

    ``WQL = sum_i QL_i / sum_it |y_it|`` with ``QL_i`` from :func:`quantile_loss`,
    which equals the mean over levels of ``2 * sum rho_tau / sum |y|``.

    Parameters
    ----------
    y_true
        ``[n_series, horizon]`` observed values.
    quantiles
        ``[n_series, horizon, n_levels]`` forecast quantiles.
    levels
        ``[n_levels]`` quantile levels in (0, 1).

    Returns
    -------
    float
        The loss; ``inf`` when every ``y`` is 0 and the quantiles are not, ``nan`` when both are.
    """
    losses = quantile_loss(y_true, quantiles, levels)
    scale = float(np.nansum(np.abs(_as_float(y_true, "y_true"))))
    return _ratio(float(losses.sum()), scale)


def interval_coverage(y_true: Any, lower: Any, upper: Any) -> float:
    """Share of observed values inside their interval, ``lower <= y <= upper``.

    Parameters
    ----------
    y_true, lower, upper
        Arrays of the same shape, e.g. ``[n_series, horizon]``; ``lower <= upper``.

    Returns
    -------
    float
        A share in [0, 1], to compare with the interval's nominal coverage.
    """
    y, lo = _paired(y_true, lower, "lower")
    _, hi = _paired(y_true, upper, "upper")
    if (lo > hi).any():
        raise InputError("lower is above upper for some entries; pass lower <= upper")
    return float(((lo <= y) & (y <= hi)).mean())


def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric, got {type(values).__name__}") from None


def _paired(y_true: Any, other: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Flat y_true and a same-shaped array at the entries where y_true is observed."""
    y, f = _as_float(y_true, "y_true"), _as_float(other, name)
    if y.shape != f.shape:
        raise InputError(f"y_true has shape {y.shape} but {name} has shape {f.shape}; they must match")
    if y.size == 0:
        raise InputError("y_true is empty; pass at least one value")
    if np.isinf(y).any():
        raise InputError("y_true contains inf; use NaN for missing values")
    observed = ~np.isnan(y)
    if not observed.any():
        raise InputError(f"y_true has no observed values (all {y.size} are NaN)")
    if not np.isfinite(f[observed]).all():
        raise InputError(f"{name} has NaN or inf where y_true is observed; forecasts must be finite")
    return y[observed], f[observed]


def _quantile_inputs(y_true: Any, quantiles: Any, levels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, q, tau = _as_float(y_true, "y_true"), _as_float(quantiles, "quantiles"), _as_float(levels, "levels")
    if y.ndim != 2:
        raise InputError(f"y_true must be [n_series, horizon], got shape {y.shape}")
    if tau.ndim != 1 or q.shape != (*y.shape, tau.size):
        raise InputError(
            f"quantiles must be [n_series, horizon, n_levels] = {(*y.shape, tau.size)} for y_true of "
            f"shape {y.shape} and levels of shape {tau.shape}, got {q.shape}"
        )
    if not ((tau > 0) & (tau < 1)).all():
        raise InputError(f"levels must lie strictly between 0 and 1, got {tau.tolist()}")
    if np.isinf(y).any():
        raise InputError("y_true contains inf; use NaN for missing values")
    if not np.isfinite(q[~np.isnan(y)]).all():
        raise InputError("quantiles have NaN or inf where y_true is observed; forecasts must be finite")
    return y, q, tau


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return float("inf") if numerator > 0 else float("nan")
