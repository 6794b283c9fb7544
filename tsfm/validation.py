"""Validation of forecasting inputs, done once at the contract boundary.

Backends receive what these functions return and never re-check it: a list of
float64 copies of the series, a positive integer horizon and sorted unique
quantile levels inside (0, 1).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tsfm.errors import InputError

ContextLike = Sequence[Any] | np.ndarray


def validate_context(context: ContextLike, min_observations: int = 1) -> list[np.ndarray]:
    """Check and copy a batch of series.

    Parameters
    ----------
    context
        A list of 1-D array-likes (unequal lengths allowed, NaN = missing), a 2-D
        array with one series per row, or a single 1-D array (one series).
    min_observations
        Fewest finite values a series may have for the model that will read it.

    Returns
    -------
    list[np.ndarray]
        One float64 1-D array per series, copied so backends may not alter user data.
    """
    series = _as_series_list(context)
    if len(series) == 0:
        raise InputError("context is empty: pass at least one series (a list of 1-D arrays)")
    checked = []
    for i, raw in enumerate(series):
        try:
            values = np.array(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"context[{i}] is not numeric ({exc}); every series must hold numbers, NaN for missing"
            ) from None
        if values.ndim != 1:
            raise InputError(f"context[{i}] has shape {values.shape}; each series must be 1-D")
        if np.isinf(values).any():
            where = int(np.flatnonzero(np.isinf(values))[0])
            raise InputError(
                f"context[{i}] contains inf at position {where}; use NaN for missing values"
            )
        n_finite = int(np.isfinite(values).sum())
        if len(values) == 0:
            raise InputError(
                f"context[{i}] is empty (length 0); this model needs at least {min_observations} observed "
                f"value{'s' if min_observations > 1 else ''} per series"
            )
        if n_finite == 0:
            raise InputError(
                f"context[{i}] has no finite values (length {len(values)}, all NaN); this model needs at least "
                f"{min_observations}"
            )
        if n_finite < min_observations:
            raise InputError(
                f"context[{i}] has {n_finite} observed values (length {len(values)}); this model needs at least "
                f"{min_observations}: pass a longer series or leave this one out"
            )
        checked.append(values)
    return checked


def _as_series_list(context: ContextLike) -> list[Any]:
    if isinstance(context, np.ndarray):
        if context.ndim == 1:
            return [context]
        if context.ndim == 2:
            return list(context)
        raise InputError(
            f"context array has {context.ndim} dimensions; pass a 1-D series, a 2-D "
            "[n_series, time] array or a list of 1-D arrays"
        )
    if isinstance(context, (str, bytes)) or not isinstance(context, Sequence):
        raise InputError(
            f"context must be a list of 1-D arrays, got {type(context).__name__}"
        )
    if len(context) > 0 and all(isinstance(x, numbers.Number) for x in context):
        raise InputError(
            "context is a flat list of numbers; wrap one series in a list: [series]"
        )
    return list(context)


def validate_horizon(horizon: Any, max_horizon: int | None = None) -> int:
    """Return ``horizon`` as an int after checking it is a positive integer."""
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral):
        raise InputError(f"horizon must be a positive integer, got {horizon!r}")
    if horizon <= 0:
        raise InputError(f"horizon must be a positive integer, got {horizon}")
    if max_horizon is not None and horizon > max_horizon:
        raise InputError(f"horizon {horizon} exceeds this model's maximum of {max_horizon}")
    return int(horizon)


def validate_quantile_levels(levels: Any) -> np.ndarray:
    """Return sorted, unique float64 levels, each strictly inside (0, 1)."""
    try:
        array = np.asarray(levels, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"quantile_levels must be numbers in (0, 1), got {levels!r}") from None
    if array.size == 0:
        raise InputError("quantile_levels is empty; pass at least one level in (0, 1)")
    bad = array[~((array > 0.0) & (array < 1.0))]
    if bad.size:
        raise InputError(
            f"quantile_levels must lie strictly between 0 and 1, got {bad.tolist()}"
        )
    return np.unique(array)


def validate_season_length(season_length: Any) -> int:
    """Return the season length as a positive int."""
    if isinstance(season_length, bool) or not isinstance(season_length, numbers.Integral):
        raise InputError(f"season_length must be a positive integer, got {season_length!r}")
    if season_length < 1:
        raise InputError(f"season_length must be a positive integer, got {season_length}")
    return int(season_length)
