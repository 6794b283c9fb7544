"""Quantile-level helpers shared by every backend.

Models emit quantiles at the levels they were trained on (Chronos-Bolt: 0.1..0.9,
Chronos-2: 21 levels, baselines: any). Users ask for arbitrary levels. One function
maps the first onto the second, so every backend answers the same way.
"""

from __future__ import annotations

import numpy as np

DEFAULT_QUANTILE_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def interpolate_quantiles(
    values: np.ndarray, native_levels: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """Map quantiles at ``native_levels`` onto ``levels`` by linear interpolation.

    Parameters
    ----------
    values
        Quantile values, shape ``[..., n_native]``, along the last axis in the order
        of ``native_levels``.
    native_levels
        Increasing levels in (0, 1) that ``values`` were produced at.
    levels
        Requested increasing levels in (0, 1).

    Returns
    -------
    np.ndarray
        Shape ``[..., len(levels)]``. Levels outside the native range take the
        nearest native quantile (the model cannot say more about the tails).
    """
    native_levels = np.asarray(native_levels, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    values = np.sort(np.asarray(values, dtype=np.float64), axis=-1)  # no crossing
    idx = np.searchsorted(native_levels, levels)
    exact = (idx < len(native_levels)) & (
        native_levels[np.minimum(idx, len(native_levels) - 1)] == levels
    )
    if exact.all():
        return values[..., idx]
    hi = np.clip(idx, 1, len(native_levels) - 1)
    lo = hi - 1
    weight = (levels - native_levels[lo]) / (native_levels[hi] - native_levels[lo])
    weight = np.clip(weight, 0.0, 1.0)  # clamp outside the native range
    return values[..., lo] * (1.0 - weight) + values[..., hi] * weight


def empirical_quantiles(samples: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of ``samples [n_series, n_samples, horizon]`` -> ``[n_series, horizon, n_q]``."""
    q = np.quantile(samples, np.asarray(levels, dtype=np.float64), axis=1)  # [n_q, n_series, h]
    return np.moveaxis(q, 0, -1)
