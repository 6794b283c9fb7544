"""Covariates from long-format frames: the data frame's extra columns plus a ``future_df``.

The data frame is the usual long format (``item_id, timestamp, target``, see
:func:`tsfm.data.load_frame`) with more columns:

- **known-future covariates** (``covariates=``): observed in the data and known
  for the forecast horizon; their future values come in ``future_df`` (columns
  ``item_id, timestamp`` and those covariates, exactly ``horizon`` rows per item,
  continuing each item's timestamps). In a backtest (``horizon=None``) the values
  after each cut-off come from the data itself, since they are known in advance.
- **past-only covariates** (``past_covariates=``): observed up to the forecast start.
- **static attributes** (``static=``) and the **group column** (``group_by=``):
  one value per item (constant over its rows).
- **several target columns** (``targets=``): one multivariate target per item. Each
  target column becomes its own series ``"<item>/<column>"`` (variates of one item
  are adjacent), tied together by ``Covariates.variate_of``.

Numeric columns become float64 (booleans 0/1); text or categorical columns become
categories. Every problem raises :class:`~tsfm.errors.InputError` naming the argument,
what was received and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsfm import data as tsdata
from tsfm.covariates import Covariates
from tsfm.data import ID, TARGET, TIMESTAMP
from tsfm.errors import InputError
from tsfm.validation import validate_horizon

_DUMMY_TARGET = "__tsfm_future_target__"


def covariates_from_frames(
    data: tsdata.Source,
    future_df: tsdata.Source | None = None,
    *,
    horizon: int | None = None,
    covariates: Sequence[str] | None = None,
    past_covariates: Sequence[str] = (),
    static: Sequence[str] = (),
    group_by: str | Mapping[str, str] | None = None,
    targets: Sequence[str] | None = None,
    allow_missing_future: bool = False,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    target_column: str | None = None,
) -> tuple[pd.DataFrame, Covariates]:
    """Validate a frame's covariate columns (and ``future_df``) into :class:`Covariates`.

    Parameters
    ----------
    data
        Long-format frame or source for :func:`tsfm.data.load_frame`, with the extra columns.
    future_df
        Known-future values for a forecast: columns id, timestamp and the known covariates,
        ``horizon`` rows per item. Not used in backtests (``horizon=None``).
    horizon
        Steps to forecast; ``None`` describes whole histories for a backtest.
    covariates
        Known-future covariate columns. ``None``: the covariate columns of ``future_df``
        (none without it).
    past_covariates
        Past-only covariate columns.
    static
        Columns constant per item, kept as static attributes.
    group_by
        A column constant per item, or a mapping ``item_id -> group``: the items of a group
        are forecast jointly by cross-learning models.
    targets
        Several target columns forecast jointly per item (multivariate); default the one
        ``target_column``.
    allow_missing_future
        Let known-future values be missing (the model treats them as unknown).
    id_column, timestamp_column, target_column
        As in :func:`tsfm.data.load_frame`.

    Returns
    -------
    tuple[pd.DataFrame, Covariates]
        The canonical frame (``item_id, timestamp, target``; one item per target variate)
        and covariates aligned with :func:`tsfm.data.to_series` of it: each series' past
        covers its whole history, and ``future`` holds ``horizon`` values per known covariate.
    """
    if horizon is not None:
        horizon = validate_horizon(horizon)
    future_raw = tsdata.read_table(future_df) if future_df is not None else None
    if future_raw is not None and horizon is None:
        raise InputError("future_df was given without horizon; pass the horizon the future rows cover")
    targets, known, past_only, static = _checked_names(
        targets, covariates, past_covariates, static, future_raw, id_column, timestamp_column, target_column
    )
    group_column = group_by if isinstance(group_by, str) else None
    extra = _unique([*(targets or [])[1:], *known, *past_only, *static, *([group_column] if group_column else [])])
    frame = tsdata.load_frame(
        data, id_column=id_column, timestamp_column=timestamp_column,
        target_column=targets[0] if targets else target_column, extra_columns=extra,
    )
    items = list(dict.fromkeys(frame[ID]))
    rows = frame.groupby(ID, sort=False)
    past = [{name: _column(name, part[name]) for name in [*known, *past_only]} for _, part in rows]
    attributes = [{name: _constant("static", name, item, part[name]) for name in static} for item, part in rows]
    groups = _group_ids(group_by, items, rows)
    future = _known_future(future_raw, frame, known, horizon, id_column, timestamp_column)
    if targets is not None and len(targets) > 1:
        return _multivariate(frame, targets, past, future, attributes, groups, known, allow_missing_future)
    cov = Covariates(
        past=tuple(past), future=tuple(future or ()), known_future=tuple(known), static=tuple(attributes),
        group_ids=groups, allow_missing_future=allow_missing_future,
    )
    return frame[[ID, TIMESTAMP, TARGET]], cov


def _checked_names(
    targets: Sequence[str] | None, covariates: Sequence[str] | None, past_covariates: Sequence[str],
    static: Sequence[str], future_raw: pd.DataFrame | None, id_column: str | None, timestamp_column: str | None,
    target_column: str | None,
) -> tuple[list[str] | None, list[str], list[str], list[str]]:
    """``(targets, known-future, past-only, static)`` column names, checked and pairwise disjoint."""
    targets = _check_names("targets", targets, allow_empty=False) if targets is not None else None
    target_names = list(targets or ([target_column] if target_column else ["target", "y"]))
    known = _known_names(covariates, future_raw, id_column, timestamp_column, target_names)
    past_only = _check_names("past_covariates", past_covariates)
    static = _check_names("static", static)
    _check_disjoint({"covariates": known, "past_covariates": past_only, "static": static, "targets": targets or []})
    return targets, known, past_only, static


def _known_future(
    future_raw: pd.DataFrame | None, frame: pd.DataFrame, known: list[str], horizon: int | None,
    id_column: str | None, timestamp_column: str | None,
) -> list[dict[str, np.ndarray]] | None:
    """The ``horizon`` future values of each known covariate per item; None in a backtest or without any."""
    if horizon is None or not known:
        return None
    if future_raw is None:
        raise InputError(
            f"known-future covariates {known} need their future values: pass future_df (--future) with "
            f"{horizon} rows per item, or list these columns as past-only covariates"
        )
    return _future_values(future_raw, frame, known, horizon, id_column, timestamp_column)


# --- names ---------------------------------------------------------------------------


def _check_names(argument: str, names: Any, allow_empty: bool = True) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise InputError(f"{argument} must be a list of column names, got {names!r}")
    if not names and not allow_empty:
        raise InputError(f"{argument} is empty; name at least one column")
    duplicated = sorted({n for n in names if list(names).count(n) > 1})
    if duplicated:
        raise InputError(f"{argument} names {duplicated} more than once")
    return list(names)


def _known_names(
    covariates: Sequence[str] | None,
    future_raw: pd.DataFrame | None,
    id_column: str | None,
    timestamp_column: str | None,
    target_names: list[str],
) -> list[str]:
    """Named known-future covariates, or the columns of ``future_df`` other than keys and targets."""
    if covariates is not None:
        return _check_names("covariates", covariates)
    if future_raw is None:
        return []
    keys = _future_keys(future_raw, id_column, timestamp_column)
    return [str(c) for c in future_raw.columns if c not in keys and c not in target_names]


def _future_keys(future_raw: pd.DataFrame, id_column: str | None, timestamp_column: str | None) -> list[str]:
    """The id (if any) and timestamp column names of ``future_df``."""
    keys = []
    for role, given in ((ID, id_column), (TIMESTAMP, timestamp_column)):
        candidates = (given,) if given else {ID: ("item_id", "unique_id"), TIMESTAMP: ("timestamp", "ds")}[role]
        match = next((c for c in candidates if c in future_raw.columns), None)
        if match is None and role == TIMESTAMP:
            raise InputError(
                f"future_df has no timestamp column (looked for {' or '.join(map(repr, candidates))}); "
                f"columns found: {[str(c) for c in future_raw.columns]}"
            )
        if match is not None:
            keys.append(match)
    return keys


def _check_disjoint(groups: Mapping[str, Sequence[str]]) -> None:
    seen: dict[str, str] = {}
    for argument, names in groups.items():
        for name in names:
            if name in seen:
                raise InputError(f"column {name!r} is named in both {seen[name]} and {argument}; pick one role")
            seen[name] = argument


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


# --- columns -------------------------------------------------------------------------


def _column(name: str, values: pd.Series) -> np.ndarray:
    """Numbers (booleans as 0/1) to float64; anything else to categories (``None`` = missing)."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _constant(argument: str, name: str, item: Any, values: pd.Series) -> Any:
    distinct = values.dropna().unique()
    if len(distinct) != 1:
        raise InputError(
            f"{argument} column {name!r} must hold one value per item, but item {item!r} has "
            f"{sorted(map(str, distinct)) or 'only missing values'}"
        )
    value = distinct[0]
    return value.item() if isinstance(value, np.generic) else value


def _group_ids(group_by: Any, items: list[str], rows: Any) -> tuple[str, ...] | None:
    if group_by is None:
        return None
    if isinstance(group_by, str):
        return tuple(str(_constant("group_by", group_by, item, part[group_by])) for item, part in rows)
    if isinstance(group_by, Mapping):
        missing = [item for item in items if item not in group_by]
        if missing:
            raise InputError(f"group_by has no group for item(s) {missing[:5]}; map every item_id to a group")
        return tuple(str(group_by[item]) for item in items)
    raise InputError(f"group_by must be a column name or a mapping item_id -> group, got {type(group_by).__name__}")


# --- the known future -----------------------------------------------------------------


def _future_values(
    future_raw: pd.DataFrame,
    frame: pd.DataFrame,
    known: list[str],
    horizon: int,
    id_column: str | None,
    timestamp_column: str | None,
) -> list[dict[str, np.ndarray]]:
    """Per item, ``name -> [horizon]`` values read from ``future_df`` and checked."""
    keys = _future_keys(future_raw, id_column, timestamp_column)
    unknown = [str(c) for c in future_raw.columns if c not in keys and c not in known]
    if unknown:
        raise InputError(
            f"future_df has column(s) {unknown} that are not known-future covariates; allowed: the id and "
            f"timestamp columns and {known}. Drop them (the target is not known in the future)"
        )
    missing = [name for name in known if name not in future_raw.columns]
    if missing:
        raise InputError(f"future_df lacks known-future covariate column(s) {missing}; columns found: {keys}")
    future = tsdata.load_frame(
        future_raw.assign(**{_DUMMY_TARGET: 0.0}), id_column=id_column, timestamp_column=timestamp_column,
        target_column=_DUMMY_TARGET, extra_columns=known,
    )
    items = list(dict.fromkeys(frame[ID]))
    extra_items = sorted(set(future[ID]) - set(items))
    if extra_items:
        raise InputError(f"future_df has items {extra_items[:5]} that the data does not have")
    expected = tsdata.future_timestamps(frame, horizon, tsdata.infer_frequency(frame))
    by_item = dict(tuple(future.groupby(ID, sort=False)))
    values = []
    for item, stamps in zip(items, expected, strict=True):
        part = by_item.get(item)
        if part is None or len(part) != horizon:
            raise InputError(
                f"future_df must hold exactly {horizon} rows (the horizon) for each item; item {item!r} has "
                f"{0 if part is None else len(part)}"
            )
        if not np.array_equal(part[TIMESTAMP].to_numpy(), stamps):
            raise InputError(
                f"future_df timestamps of item {item!r} must continue the series: expected {stamps[0]} .. "
                f"{stamps[-1]}, got {part[TIMESTAMP].iloc[0]} .. {part[TIMESTAMP].iloc[-1]}"
            )
        values.append({name: _column(name, part[name]) for name in known})
    return values


# --- several targets -------------------------------------------------------------------


def _multivariate(
    frame: pd.DataFrame,
    targets: list[str],
    past: list[dict[str, np.ndarray]],
    future: list[dict[str, np.ndarray]] | None,
    attributes: list[dict[str, Any]],
    groups: tuple[str, ...] | None,
    known: list[str],
    allow_missing_future: bool,
) -> tuple[pd.DataFrame, Covariates]:
    """One series per (item, target column), variates of an item adjacent and tied by ``variate_of``."""
    parts, variate_of, index = [], [], []
    for position, (item, part) in enumerate(frame.groupby(ID, sort=False)):
        for column in targets:
            values = part[TARGET] if column == targets[0] else _numeric_target(column, part[column])
            parts.append(pd.DataFrame({ID: f"{item}/{column}", TIMESTAMP: part[TIMESTAMP].to_numpy(),
                                       TARGET: values.to_numpy(dtype=np.float64)}))
            variate_of.append(str(item))
            index.append(position)
    long = pd.concat(parts, ignore_index=True)
    cov = Covariates(
        past=tuple(past[i] for i in index),
        future=tuple(future[i] for i in index) if future else (),
        known_future=tuple(known),
        static=tuple(attributes[i] for i in index),
        group_ids=None if groups is None else tuple(groups[i] for i in index),
        variate_of=tuple(variate_of),
        allow_missing_future=allow_missing_future,
    )
    return long, cov


def _numeric_target(column: str, values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any() or pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(f"target column {column!r} is not numeric; it must hold numbers, NaN for missing")
    if np.isinf(numbers.to_numpy(dtype=np.float64)).any():
        raise InputError(f"target column {column!r} holds inf; use NaN for missing values")
    return numbers.astype(np.float64)
