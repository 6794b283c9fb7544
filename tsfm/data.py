"""Reading time series into the canonical long format, and reading benchmark files.

The canonical long format is a :class:`pandas.DataFrame` with three columns:

- ``item_id`` (str): which series a row belongs to;
- ``timestamp``: ``datetime64[ns]`` (time-zone naive, UTC where the source had a zone),
  or ``int64`` steps for data without dates;
- ``target`` (float64): the observed value, NaN for missing.

Rows are grouped by ``item_id`` (stable sort, so each item keeps its own row order)
and, within an item, timestamps must already increase: unsorted data is an error
rather than silently re-ordered, because a backtest must cut the series the way the
user sees them. Everything is validated once, in :func:`load_frame`; the other
functions expect a frame that came from it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.validation import validate_horizon

ID, TIMESTAMP, TARGET = "item_id", "timestamp", "target"
CANONICAL_COLUMNS = (ID, TIMESTAMP, TARGET)
SINGLE_SERIES_ID = "0"

# Names recognised when no column name is given: ours first, then Nixtla's.
_ALIASES = {ID: ("item_id", "unique_id"), TIMESTAMP: ("timestamp", "ds"), TARGET: ("target", "y")}
_SEQUENCE_ID_ALIASES = ("id",)  # Chronos / fev datasets on the Hub name the column "id"
_FILE_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}

Source = pd.DataFrame | str | os.PathLike


def load_frame(
    source: Source,
    *,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    target_column: str | None = None,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Read and validate time series into the canonical long format.

    Parameters
    ----------
    source
        One of

        - a :class:`pandas.DataFrame` (it is not modified);
        - a path to a ``.csv`` or ``.parquet`` (``.pq``) file;
        - ``"aeon:<name>"``: a forecasting set that ships inside aeon, see
          :func:`tsfm.datasets.list_aeon_datasets`;
        - ``"m4:<folder>[:<subset>]"``: an M4 competition subset (default Hourly) from
          its published CSVs, train and test joined, integer timestamps; the last
          horizon of each series is the official test part;
        - ``"hf:<dataset folder or hub id>[:split]"``: a Hugging Face ``datasets``
          dataset: a folder written by ``save_to_disk``, a local data folder of
          csv/parquet/json files, or a Hub id (``"hf:<hub id>:<config>:<split>"`` picks
          a configuration too). Without a split, ``train`` or the only split is used.

        Tables may be long (one row per observation) or Chronos-style (one row per
        series whose ``timestamp`` and ``target`` cells hold sequences).
    id_column, timestamp_column, target_column
        Column names in ``source``. By default ``item_id``, ``timestamp``, ``target``
        are looked for, then Nixtla's ``unique_id``, ``ds``, ``y`` (and ``id`` for the
        series id of Chronos-style tables). Without an id column a long table is one
        series with item_id ``"0"``; a Chronos-style table numbers its rows ``"0"``,
        ``"1"``, ...
    extra_columns
        Further columns to keep unchanged next to the canonical three (covariates,
        static attributes, group columns); :mod:`tsfm.covariate_frames` validates them.

    Returns
    -------
    pd.DataFrame
        Columns ``item_id`` (str), ``timestamp`` (``datetime64[ns]`` or ``int64``
        steps), ``target`` (float64), then ``extra_columns``; other columns are dropped. Rows are grouped by
        item_id, each item keeping its row order; the index is ``0..n-1``.

    Raises
    ------
    InputError
        For a missing file, unsupported suffix, unknown aeon name, empty data, missing
        columns, unparseable timestamps, a non-numeric or infinite target, duplicate or
        decreasing timestamps within an item, or an item whose targets are all NaN.
    """
    raw = _read_source(source)
    return _to_canonical(raw, id_column, timestamp_column, target_column, tuple(extra_columns))


def read_table(source: Source) -> pd.DataFrame:
    """Read a DataFrame, a ``.csv``/``.parquet`` file or a dataset spec as it is, without validation."""
    return _read_source(source)


def _read_source(source: Source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, str) and source.startswith(("aeon:", "hf:", "m4:")):
        from tsfm import datasets

        scheme, _, rest = source.partition(":")
        return {"aeon": datasets.read_aeon, "hf": datasets.read_hf, "m4": datasets.read_m4_long}[scheme](rest)
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source))
    raise InputError(
        f"source must be a DataFrame, a path to a .csv/.parquet file, 'aeon:<name>' or "
        f"'hf:<dataset>', got {type(source).__name__}"
    )


def _read_file(path: Path) -> pd.DataFrame:
    if path.is_dir():
        raise InputError(
            f"{path} is a folder; pass a .csv or .parquet file, or 'hf:{path}' for a "
            "Hugging Face datasets folder"
        )
    if not path.exists():
        raise InputError(
            f"file not found: {path}; pass an existing .csv or .parquet file, 'aeon:<name>' or 'hf:<dataset>'"
        )
    reader = _FILE_READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"unsupported file suffix {path.suffix!r} ({path.name}); allowed: "
            f"{sorted(_FILE_READERS)}. Convert the file, or read it with pandas and pass the DataFrame"
        )
    try:
        return reader(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; it must hold at least one observation") from None


# ----------------------------------------------------------------------------- columns


def _to_canonical(
    raw: pd.DataFrame,
    id_column: str | None,
    timestamp_column: str | None,
    target_column: str | None,
    extra: tuple[str, ...] = (),
) -> pd.DataFrame:
    if len(raw) == 0:
        raise InputError(
            f"the data is empty (0 rows, columns {list(raw.columns)}); pass at least one observation"
        )
    columns = _resolve_columns(raw, id_column, timestamp_column, target_column)
    _check_extra_columns(raw, columns, extra)
    if _is_sequence_layout(raw[columns[TARGET]]):
        long = _explode_sequences(raw, columns, extra)
    else:
        ids = raw[columns[ID]] if columns[ID] else pd.Series(SINGLE_SERIES_ID, index=raw.index)
        long = pd.DataFrame({ID: ids, TIMESTAMP: raw[columns[TIMESTAMP]], TARGET: raw[columns[TARGET]]})
        for name in extra:
            long[name] = raw[name]
    frame = pd.DataFrame(
        {
            ID: _coerce_ids(long[ID], columns[ID]),
            TIMESTAMP: _coerce_timestamps(long[TIMESTAMP], columns[TIMESTAMP]),
            TARGET: _coerce_target(long[TARGET], columns[TARGET]),
            **{name: long[name].reset_index(drop=True) for name in extra},
        }
    )
    frame = frame.sort_values(ID, kind="mergesort", ignore_index=True)  # stable: keeps row order
    _check_items(frame)
    return frame


def _resolve_columns(
    raw: pd.DataFrame, id_column: str | None, timestamp_column: str | None, target_column: str | None
) -> dict[str, str | None]:
    found = [str(c) for c in raw.columns]
    chosen: dict[str, str | None] = {}
    missing = []
    for role, given in ((TIMESTAMP, timestamp_column), (TARGET, target_column), (ID, id_column)):
        candidates = (given,) if given is not None else _ALIASES[role]
        if role == ID and given is None:
            candidates += _SEQUENCE_ID_ALIASES
        match = next((c for c in candidates if c in raw.columns), None)
        if match is None and (given is not None or role != ID):
            looked = repr(given) if given is not None else " or ".join(map(repr, _ALIASES[role]))
            missing.append(f"{role} (looked for {looked})")
        chosen[role] = match
    if missing:
        raise InputError(
            f"missing column(s): {'; '.join(missing)}. Columns found: {found}. Rename them or pass "
            "id_column=, timestamp_column=, target_column="
        )
    if chosen[ID] in _SEQUENCE_ID_ALIASES and not _is_sequence_layout(raw[chosen[TARGET]]):
        chosen[ID] = None  # "id" of a long table is more often a row number than a series id
    return chosen


def _check_extra_columns(raw: pd.DataFrame, columns: dict[str, str | None], extra: tuple[str, ...]) -> None:
    missing = [name for name in extra if name not in raw.columns]
    if missing:
        raise InputError(f"column(s) {missing} not found; columns found: {[str(c) for c in raw.columns]}")
    taken = [name for name in extra if name in columns.values() or name in CANONICAL_COLUMNS]
    if taken:
        raise InputError(
            f"column(s) {taken} are the id, timestamp or target column and cannot also be extra columns"
        )


def _is_sequence_layout(target: pd.Series) -> bool:
    if target.dtype != object:
        return False
    first = target.dropna()
    return len(first) > 0 and isinstance(first.iloc[0], (list, tuple, np.ndarray))


def _explode_sequences(raw: pd.DataFrame, columns: dict[str, str | None], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per series with sequence cells -> one row per observation.

    Extra columns hold a sequence as long as the target (covariates) or one value
    per row (static attributes), repeated for every observation.
    """
    targets = [_as_array(v) for v in raw[columns[TARGET]]]
    stamps = [np.asarray(v) for v in raw[columns[TIMESTAMP]]]
    ids = raw[columns[ID]].to_numpy() if columns[ID] else np.arange(len(raw)).astype(str)
    for row, (item, t, y) in enumerate(zip(ids, stamps, targets, strict=True)):
        if y.ndim != 1 or t.ndim != 1:
            raise InputError(
                f"row {row} (item {item!r}): target has shape {y.shape} and timestamp {t.shape}; "
                "each cell must hold a 1-D sequence (one univariate series per row)"
            )
        if len(t) != len(y):
            raise InputError(
                f"row {row} (item {item!r}) holds {len(t)} timestamps but {len(y)} target values; "
                "both sequences of a row must have the same length"
            )
    lengths = np.array([len(y) for y in targets])
    if lengths.sum() == 0:
        raise InputError(f"the data is empty ({len(raw)} rows, all with empty sequences)")
    long = pd.DataFrame(
        {
            ID: np.repeat(ids, lengths),
            TIMESTAMP: pd.Series(np.concatenate(stamps)),
            TARGET: np.concatenate(targets),
        }
    )
    for name in extra:
        long[name] = np.concatenate([_extra_cells(name, cell, n) for cell, n in zip(raw[name], lengths, strict=True)])
    return long


def _extra_cells(name: str, cell: object, length: int) -> np.ndarray:
    if isinstance(cell, (list, tuple, np.ndarray)):
        values = np.asarray(cell)
        if values.ndim != 1 or len(values) != length:
            raise InputError(
                f"column {name!r} holds a sequence of shape {values.shape} in a row whose target has {length} "
                "values; covariate sequences must be as long as the target"
            )
        return values
    return np.repeat(np.asarray([cell], dtype=object), length)


def _as_array(cell: object) -> np.ndarray:
    try:
        return np.asarray(cell, dtype=np.float64)
    except (TypeError, ValueError):  # left to _coerce_target, which names the bad value
        return np.asarray(cell, dtype=object)


def _coerce_ids(ids: pd.Series, name: str | None) -> pd.Series:
    missing = ids.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"id column {name!r} is empty at row {int(np.flatnonzero(missing)[0])}; every row needs an id"
        )
    return ids.astype(str).reset_index(drop=True)


def _coerce_timestamps(stamps: pd.Series, name: str | None) -> pd.Series:
    stamps = stamps.reset_index(drop=True)
    dtype = stamps.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InputError(f"timestamp column {name!r} holds booleans; use dates or integer steps")
    if pd.api.types.is_integer_dtype(dtype):
        return stamps.astype(np.int64)
    if pd.api.types.is_float_dtype(dtype):
        values = stamps.to_numpy()
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            where = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"timestamp column {name!r} holds {values[where]!r} at row {where}; timestamps must be "
                "dates or whole-number steps with none missing"
            )
        return stamps.astype(np.int64)
    if isinstance(dtype, pd.PeriodDtype):
        stamps = stamps.dt.to_timestamp()
    elif not pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = _parse_dates(stamps, name)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)  # to UTC, naive
    missing = stamps.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"timestamp column {name!r} is empty at row {int(np.flatnonzero(missing)[0])}; "
            "every observation needs a timestamp (use NaN in the target for a missing value)"
        )
    try:
        return stamps.astype("datetime64[ns]")
    except (ValueError, OverflowError) as exc:
        raise InputError(f"timestamp column {name!r} is outside the range pandas can hold: {exc}") from None


def _parse_dates(stamps: pd.Series, name: str | None) -> pd.Series:
    try:
        parsed = pd.to_datetime(stamps)
        if parsed.dtype == object:  # mixed UTC offsets
            parsed = pd.to_datetime(stamps, utc=True)
        return parsed
    except (ValueError, TypeError, OverflowError):
        coerced = pd.to_datetime(stamps, errors="coerce", utc=True)
        bad = (coerced.isna() & stamps.notna()).to_numpy()
        where = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise InputError(
            f"timestamp column {name!r} holds {stamps.iloc[where]!r} at row {where}, which is not a "
            "date; use dates like '2024-01-31 13:00' or integer steps"
        ) from None


def _coerce_target(target: pd.Series, name: str | None) -> pd.Series:
    target = target.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(target.dtype):
        raise InputError(f"target column {name!r} holds booleans; it must hold numbers (NaN for missing)")
    if pd.api.types.is_numeric_dtype(target.dtype):
        return target.astype(np.float64)
    numbers = pd.to_numeric(target, errors="coerce")
    bad = (numbers.isna() & target.notna()).to_numpy()
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"target column {name!r} is not numeric: row {where} holds {target.iloc[where]!r}; it must "
            "hold numbers, NaN for missing"
        )
    return numbers.astype(np.float64)


def _check_items(frame: pd.DataFrame) -> None:
    """Checks that need the item grouping: inf, duplicates, order, all-NaN items."""
    y = frame[TARGET].to_numpy()
    if np.isinf(y).any():
        row = frame.iloc[int(np.flatnonzero(np.isinf(y))[0])]
        raise InputError(
            f"target is {row[TARGET]} for item {row[ID]!r} at {row[TIMESTAMP]}; use NaN for missing "
            "values and finite numbers otherwise"
        )
    duplicated = frame.duplicated([ID, TIMESTAMP]).to_numpy()
    if duplicated.any():
        row = frame.iloc[int(np.flatnonzero(duplicated)[0])]
        raise InputError(
            f"duplicate timestamp {row[TIMESTAMP]} in item {row[ID]!r}; each item may have one row per "
            "timestamp (aggregate or drop the duplicates first)"
        )
    ids, stamps = frame[ID].to_numpy(), frame[TIMESTAMP].to_numpy()
    backwards = (ids[1:] == ids[:-1]) & (stamps[1:] < stamps[:-1])
    if backwards.any():
        i = int(np.flatnonzero(backwards)[0])
        raise InputError(
            f"timestamps of item {ids[i]!r} are not sorted: {frame[TIMESTAMP].iloc[i + 1]} comes after "
            f"{frame[TIMESTAMP].iloc[i]}. Sort by item_id, timestamp first (e.g. "
            "df.sort_values(['item_id', 'timestamp'])); it is not done for you so that a backtest "
            "sees the order you chose"
        )
    observed = frame[TARGET].notna().groupby(frame[ID], sort=False).any()
    if not observed.all():
        item = observed.index[~observed.to_numpy()][0]
        raise InputError(
            f"item {item!r} has no observed target values (all NaN); drop it or supply its values"
        )


def _require_canonical(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame) or not set(CANONICAL_COLUMNS) <= set(frame.columns):
        found = list(frame.columns) if isinstance(frame, pd.DataFrame) else type(frame).__name__
        raise InputError(
            f"expected a frame with columns {list(CANONICAL_COLUMNS)}, got {found}; read data with "
            "tsfm.data.load_frame first"
        )


# ----------------------------------------------------------------------------- frequency


def infer_frequency(frame: pd.DataFrame) -> str | None:
    """The pandas offset alias shared by the items of a canonical frame.

    ``pd.infer_freq`` is run on every item with at least three timestamps and the
    most common answer wins, so a few irregular items do not block the rest.

    Returns
    -------
    str | None
        An alias such as ``"h"``, ``"30min"``, ``"MS"``, ``"QS-OCT"``, ``"YS-JAN"``;
        ``None`` when the timestamps are integer steps.

    Raises
    ------
    InputError
        When no item has a regular spacing pandas can name; pass ``freq=`` explicitly then.
    """
    _require_canonical(frame)
    if pd.api.types.is_integer_dtype(frame[TIMESTAMP].dtype):
        return None
    votes: Counter[str] = Counter()
    for _, stamps in frame.groupby(ID, sort=False)[TIMESTAMP]:
        if len(stamps) >= 3:
            freq = pd.infer_freq(pd.DatetimeIndex(stamps))
            if freq is not None:
                votes[freq] += 1
    if not votes:
        raise InputError(
            "cannot infer the frequency: no item has at least 3 regularly spaced timestamps; "
            "pass freq= explicitly (a pandas alias such as 'h', 'D', 'W', 'MS')"
        )
    return votes.most_common(1)[0][0]


# Season of one step of each calendar offset; multiples divide it when they can.
_CALENDAR_SEASONS = {
    "Y": 1, "YS": 1, "YE": 1, "A": 1, "AS": 1, "BY": 1, "BYS": 1, "BYE": 1, "BA": 1, "BAS": 1,
    "Q": 4, "QS": 4, "QE": 4, "BQ": 4, "BQS": 4, "BQE": 4,
    "M": 12, "MS": 12, "ME": 12, "BM": 12, "BMS": 12, "BME": 12, "CBMS": 12, "CBME": 12,
    "SM": 24, "SMS": 24, "SME": 24,
    "W": 52, "B": 5, "C": 5, "bh": 8, "cbh": 8,
}  # fmt: skip
_MAX_CYCLE_STEPS = 1000


def default_season_length(freq: str | None) -> int:
    """A customary season length for a pandas frequency alias.

    Yearly 1, quarterly 4, monthly 12, semi-monthly 24, weekly 52, daily 7, business
    daily 5, business hourly 8. Sub-daily steps use the daily cycle (hourly 24, 30-min
    48, 15-min 96, 5-min 288) unless it spans more than 1000 steps, then the hourly
    cycle (minutely 60), then the minute cycle (secondly 60). A multiple divides the
    season when it can (``"2h"`` -> 12) and gives 1 otherwise. ``None`` (integer
    steps) gives 1, as does a valid alias not listed here.

    Raises
    ------
    InputError
        When ``freq`` is not a pandas frequency alias.
    """
    if freq is None:
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise InputError(f"{freq!r} is not a pandas frequency alias (e.g. 'h', 'D', 'W', 'MS')") from None
    n = abs(offset.n) or 1
    if isinstance(offset, pd.offsets.Day):
        return _divide(7, n)
    if isinstance(offset, pd.offsets.Tick):
        step = offset.nanos
        for cycle in (pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(minutes=1)):
            steps = cycle.value // step
            if cycle.value % step == 0 and 1 < steps <= _MAX_CYCLE_STEPS:
                return int(steps)
        return 1
    base = offset.rule_code.split("-")[0]
    return _divide(_CALENDAR_SEASONS.get(base, 1), n)


def _divide(season: int, n: int) -> int:
    return season // n if season % n == 0 else 1


# ----------------------------------------------------------------------------- arrays


def to_series(frame: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    """Item ids and float64 target arrays of a canonical frame, in frame order."""
    _require_canonical(frame)
    ids, series = [], []
    for item, values in frame.groupby(ID, sort=False)[TARGET]:
        ids.append(str(item))
        series.append(values.to_numpy(dtype=np.float64, copy=True))
    return ids, series


def future_timestamps(frame: pd.DataFrame, horizon: int, freq: str | None) -> list[np.ndarray]:
    """The ``horizon`` timestamps after each item's last one, in frame order.

    Parameters
    ----------
    frame
        Canonical frame from :func:`load_frame`.
    horizon
        Number of future steps.
    freq
        Pandas alias (see :func:`infer_frequency`) for dated frames; ``None`` for
        integer steps, which continue ``last + 1, ..., last + horizon``.

    Returns
    -------
    list[np.ndarray]
        One ``[horizon]`` array per item, ``datetime64[ns]`` or ``int64``.
    """
    _require_canonical(frame)
    horizon = validate_horizon(horizon)
    last = frame.groupby(ID, sort=False)[TIMESTAMP].last()
    if pd.api.types.is_integer_dtype(frame[TIMESTAMP].dtype):
        if freq is not None:
            raise InputError(f"timestamps are integer steps, so freq must be None, got {freq!r}")
        return [int(t) + np.arange(1, horizon + 1, dtype=np.int64) for t in last]
    if freq is None:
        raise InputError("timestamps are dates: pass freq= (e.g. the result of infer_frequency(frame))")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise InputError(f"{freq!r} is not a pandas frequency alias (e.g. 'h', 'D', 'W', 'MS')") from None
    return [pd.date_range(t + offset, periods=horizon, freq=offset).to_numpy() for t in last]
