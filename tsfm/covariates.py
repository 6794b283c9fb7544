"""What a forecast may condition on besides the target's own past.

:class:`Covariates` travels next to the ``context`` of
:meth:`tsfm.contract.BaseForecaster.predict_quantiles`, one entry per series:

- **past covariates**: ``name -> values`` aligned with the series' context ``[T_i]``.
  Numeric (float64, NaN = missing) or categorical (strings, ``None`` = missing).
  Every covariate appears here, known-future ones with their observed past.
- **known-future covariates**: the subset of names whose next ``horizon`` values are
  known in advance (production schedules, set-points, weather forecasts, holidays);
  ``future`` holds those values, ``[horizon]`` per name and series.
- **static attributes**: one value per series (plant, pump type, rated power).
  Chronos-2 standardises every input row, so a constant carries no information to
  it; static values are used to choose groups (``group_by``) and kept for adapters.
- **group ids**: series of one group are related (the pumps of one plant) and are
  forecast jointly by models that learn across series (Chronos-2's cross-learning).
- **variate keys** (``variate_of``): series sharing a key are the variates of one
  multivariate target (same timestamps, same covariates) and are forecast jointly.
  Each variate stays its own row of the ``Forecast``, so the result keeps its
  ``[n_series, horizon, n_q]`` shape.

Build one from long-format frames with :func:`tsfm.covariate_frames.covariates_from_frames`
or directly from arrays. Everything is checked once, in ``__post_init__`` (structure)
and in :meth:`Covariates.check_against` (alignment with the context and the horizon).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from tsfm.errors import InputError

_PER_SERIES_FIELDS = ("past", "future", "static", "group_ids", "variate_of")


@dataclass(frozen=True)
class Covariates:
    """Covariates, static attributes, group ids and variate keys of a batch of series.

    Attributes
    ----------
    past
        One mapping per series: covariate name -> values ``[T_i]`` aligned with that
        series' context (numeric or categorical). Empty mappings when there are none.
    future
        One mapping per series: known-future covariate name -> ``[horizon]`` values.
        Empty (``()``) for objects that describe whole histories, as backtests use:
        :meth:`window` cuts context and future out of them.
    known_future
        Names of the covariates known in advance; inferred from ``future`` when empty.
    static
        One mapping per series: attribute -> number or string.
    group_ids
        One group id per series; ``None`` for no grouping.
    variate_of
        One key per series; series sharing a key form one multivariate target.
    allow_missing_future
        Whether known-future values may be missing (NaN / None); the model then
        treats those steps as unknown. Default False: a gap is an error.
    """

    past: tuple[Mapping[str, np.ndarray], ...] = ()
    future: tuple[Mapping[str, np.ndarray], ...] = ()
    known_future: tuple[str, ...] = ()
    static: tuple[Mapping[str, Any], ...] = ()
    group_ids: tuple[str, ...] | None = None
    variate_of: tuple[str, ...] | None = None
    allow_missing_future: bool = False

    def __post_init__(self) -> None:
        n = _series_count(self)
        set_ = object.__setattr__
        set_(self, "past", _check_columns("past", self.past, n))
        kinds = _column_kinds("past", self.past)
        future = _check_columns("future", self.future, n) if self.future else ()
        known = tuple(str(x) for x in self.known_future) or (tuple(sorted(future[0])) if future else ())
        _check_known(known, future, kinds)
        if future:
            _check_future_values(future, kinds, self.allow_missing_future)
        set_(self, "future", future)
        set_(self, "known_future", known)
        set_(self, "static", _check_static(self.static, n))
        for name in ("group_ids", "variate_of"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _check_labels(name, value, n))
        if self.variate_of is not None:
            _check_variates(self)

    # --- what it holds -----------------------------------------------------------

    @property
    def n_series(self) -> int:
        """Number of series described."""
        return _series_count(self)

    @property
    def names(self) -> tuple[str, ...]:
        """Covariate names, sorted."""
        return tuple(sorted(self.past[0])) if self.past else ()

    @property
    def past_only(self) -> tuple[str, ...]:
        """Covariates observed up to the forecast start only."""
        return tuple(name for name in self.names if name not in self.known_future)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Covariates holding categories rather than numbers."""
        return tuple(name for name, kind in _column_kinds("past", self.past).items() if kind == "categorical")

    @property
    def horizon(self) -> int | None:
        """Length of the known-future values, ``None`` when there are none."""
        if not self.future or not self.known_future:
            return None
        return len(self.future[0][self.known_future[0]])

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing a model could condition on."""
        return not self.names and self.group_ids is None and self.variate_of is None

    # --- alignment with a forecast request ---------------------------------------

    def check_against(self, context: Sequence[np.ndarray], horizon: int) -> None:
        """Check that these covariates fit ``context`` (validated series) and ``horizon``.

        Raises
        ------
        InputError
            When the number of series, a past covariate's length or the length of the
            known-future values does not match, or when known-future values are missing.
        """
        if self.n_series != len(context):
            raise InputError(
                f"covariates describe {self.n_series} series but the context holds {len(context)}; "
                "pass one entry per series, in the order of the context"
            )
        for i, (series, columns) in enumerate(zip(context, self.past, strict=True)):
            for name, values in columns.items():
                if len(values) != len(series):
                    raise InputError(
                        f"covariate {name!r} of series {i} has {len(values)} values but the series has "
                        f"{len(series)}; past covariates must be aligned with the context, one value per step"
                    )
        if self.known_future and not self.future:
            raise InputError(
                f"known-future covariates {list(self.known_future)} have no future values; pass them for "
                f"the {horizon} forecast steps (future_df), or cut a backtest window with Covariates.window"
            )
        if self.horizon is not None and self.horizon != horizon:
            raise InputError(
                f"known-future covariates hold {self.horizon} future values per series but the horizon is "
                f"{horizon}; they must cover exactly the forecast horizon"
            )
        if self.variate_of is not None:
            for key, members in _members(self.variate_of).items():
                lengths = {len(context[i]) for i in members}
                if len(lengths) > 1:
                    raise InputError(
                        f"the variates of multivariate target {key!r} have context lengths {sorted(lengths)}; "
                        "variates of one target must share their timestamps"
                    )

    # --- slicing -----------------------------------------------------------------

    def select(self, positions: Sequence[int]) -> Covariates:
        """The covariates of the series at ``positions``, in that order."""
        pick = [int(p) for p in positions]
        return replace(
            self,
            past=tuple(self.past[p] for p in pick),
            future=tuple(self.future[p] for p in pick) if self.future else (),
            static=tuple(self.static[p] for p in pick),
            group_ids=None if self.group_ids is None else tuple(self.group_ids[p] for p in pick),
            variate_of=None if self.variate_of is None else tuple(self.variate_of[p] for p in pick),
        )

    def window(self, positions: Sequence[int], cutoffs: Sequence[int], horizon: int) -> Covariates:
        """Cut a forecast window out of whole-history covariates.

        Series ``positions[j]`` keeps its past values before ``cutoffs[j]`` as context,
        and its known-future covariates' values at ``cutoffs[j] .. cutoffs[j] + horizon``
        become the future: in a backtest they are known in advance by definition.

        Returns
        -------
        Covariates
            ``past [cutoff_j]`` and ``future [horizon]`` per selected series.
        """
        if self.future:
            raise InputError("Covariates.window needs whole-history covariates (no future values) to cut from")
        chosen = self.select(positions)
        past, future = [], []
        for columns, cutoff in zip(chosen.past, cutoffs, strict=True):
            cut = int(cutoff)
            end = cut + horizon
            lengths = {len(v) for v in columns.values()}
            if lengths and min(lengths) < end:
                raise InputError(
                    f"covariates hold {min(lengths)} values but the window needs {end} (cutoff {cut} + "
                    f"horizon {horizon}); whole-history covariates must cover the series"
                )
            past.append({name: values[:cut] for name, values in columns.items()})
            future.append({name: columns[name][cut:end] for name in self.known_future})
        future_tuple = tuple(future) if self.known_future else ()
        return replace(chosen, past=tuple(past), future=future_tuple)


# --- validation helpers --------------------------------------------------------------


def _series_count(cov: Covariates) -> int:
    counts = {}
    for name in _PER_SERIES_FIELDS:
        value = getattr(cov, name)
        if value is not None and len(value) > 0:
            counts[name] = len(value)
    if not counts:
        raise InputError(
            "Covariates is empty: give past/future covariates, static attributes, group_ids or variate_of "
            "(one entry per series), or pass covariates=None"
        )
    if len(set(counts.values())) > 1:
        raise InputError(f"Covariates fields describe different numbers of series: {counts}; give one entry per series")
    return next(iter(counts.values()))


def _check_columns(field: str, per_series: Any, n: int) -> tuple[dict[str, np.ndarray], ...]:
    """Per-series ``name -> 1-D array`` mappings with one name set; numbers as float64."""
    if len(per_series) == 0:
        return tuple({} for _ in range(n))
    checked = []
    first: list[str] | None = None
    for i, columns in enumerate(per_series):
        if not isinstance(columns, Mapping):
            raise InputError(f"{field}[{i}] is a {type(columns).__name__}; expected a mapping name -> values")
        names = sorted(str(k) for k in columns)
        if first is None:
            first = names
        elif names != first:
            raise InputError(
                f"{field}[{i}] has covariates {names} but {field}[0] has {first}; every series needs the same ones"
            )
        checked.append({str(k): _as_column(f"{field}[{i}][{k!r}]", v) for k, v in columns.items()})
    return tuple(checked)


def _as_column(label: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(f"{label} has shape {array.shape}; each covariate must be 1-D, one value per step")
    if array.dtype.kind in "biuf":
        numbers_ = array.astype(np.float64)
        if np.isinf(numbers_).any():
            where = int(np.flatnonzero(np.isinf(numbers_))[0])
            raise InputError(f"{label} holds inf at position {where}; use NaN for missing values")
        return numbers_
    if array.dtype.kind in "USO":
        return np.array([None if _missing(v) else str(v) for v in array], dtype=object)
    raise InputError(
        f"{label} has dtype {array.dtype}; covariates must be numbers or categories (strings)"
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _column_kinds(field: str, per_series: Sequence[Mapping[str, np.ndarray]]) -> dict[str, str]:
    """``name -> "numeric" | "categorical"``; a name must have one kind in every series."""
    kinds: dict[str, str] = {}
    for i, columns in enumerate(per_series):
        for name, values in columns.items():
            kind = "categorical" if values.dtype == object else "numeric"
            if kinds.setdefault(name, kind) != kind:
                raise InputError(
                    f"covariate {name!r} is {kind} in {field}[{i}] but {kinds[name]} in an earlier series; "
                    "a covariate holds numbers everywhere or categories everywhere"
                )
    return kinds


def _check_known(known: tuple[str, ...], future: tuple[dict, ...], kinds: Mapping[str, str]) -> None:
    unknown = [name for name in known if name not in kinds]
    if unknown:
        raise InputError(
            f"known-future covariates {unknown} have no past values; known covariates {sorted(kinds)}. "
            "A known-future covariate needs its observed past too (the same column in the data)"
        )
    if future and sorted(future[0]) != sorted(known):
        raise InputError(
            f"future holds covariates {sorted(future[0])} but known_future names {sorted(known)}; they must match"
        )


def _check_future_values(future: tuple[dict, ...], kinds: Mapping[str, str], allow_missing: bool) -> None:
    lengths = {len(v) for columns in future for v in columns.values()}
    if len(lengths) > 1:
        raise InputError(f"known-future values have lengths {sorted(lengths)}; all must cover the same horizon")
    future_kinds = _column_kinds("future", future)
    for name, kind in future_kinds.items():
        if kind != kinds[name]:
            raise InputError(f"covariate {name!r} is {kinds[name]} in the past but {kind} in the future")
    if allow_missing:
        return
    for i, columns in enumerate(future):
        for name, values in columns.items():
            gaps = np.array([_missing(v) for v in values], dtype=bool)
            if gaps.any():
                raise InputError(
                    f"known-future covariate {name!r} of series {i} is missing at future step "
                    f"{int(np.flatnonzero(gaps)[0])}; supply every future value, or pass "
                    "allow_missing_future=True to let the model treat gaps as unknown"
                )


def _check_static(static: Any, n: int) -> tuple[dict[str, Any], ...]:
    if len(static) == 0:
        return tuple({} for _ in range(n))
    checked = []
    first: list[str] | None = None
    for i, attributes in enumerate(static):
        if not isinstance(attributes, Mapping):
            raise InputError(f"static[{i}] is a {type(attributes).__name__}; expected a mapping name -> value")
        names = sorted(str(k) for k in attributes)
        if first is not None and names != first:
            raise InputError(
                f"static[{i}] has attributes {names} but static[0] has {first}; give every series the same"
            )
        first = first or names
        for key, value in attributes.items():
            if not isinstance(value, (numbers.Number, str)) or isinstance(value, bool):
                raise InputError(
                    f"static attribute {key!r} of series {i} is {value!r}; static values are numbers or strings"
                )
        checked.append({str(k): v for k, v in attributes.items()})
    return tuple(checked)


def _check_labels(name: str, labels: Any, n: int) -> tuple[str, ...]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence | np.ndarray):
        raise InputError(f"{name} must be a sequence with one label per series, got {type(labels).__name__}")
    checked = tuple(str(x) for x in labels)
    if any(_missing(x) for x in labels):
        raise InputError(f"{name} has a missing label; every series needs one")
    if len(checked) != n:
        raise InputError(f"{name} has {len(checked)} labels for {n} series")
    return checked


def _members(labels: Sequence[str]) -> dict[str, list[int]]:
    """``label -> positions`` in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return groups


def _check_variates(cov: Covariates) -> None:
    """Variates of one target share covariates, static attributes and group."""
    for key, members in _members(cov.variate_of or ()).items():
        first = members[0]
        for other in members[1:]:
            same = all(
                _same_columns(getattr(cov, f.name)[first], getattr(cov, f.name)[other])
                for f in fields(cov)
                if f.name in ("past", "future") and getattr(cov, f.name)
            )
            same_group = cov.group_ids is None or cov.group_ids[first] == cov.group_ids[other]
            if not (same and same_group):
                raise InputError(
                    f"series {first} and {other} are variates of target {key!r} but have different covariates "
                    "or groups; variates of one multivariate target share them"
                )


def _same_columns(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        if len(a[name]) != len(b[name]):
            return False
        if a[name].dtype == object:
            if list(a[name]) != list(b[name]):
                return False
        elif not np.array_equal(a[name], b[name], equal_nan=True):
            return False
    return True
