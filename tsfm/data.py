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
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.frequency import check_calendars, epoch_hint, frequency_key, item_calendars
from tsfm.frequency import default_season_length as default_season_length  # re-exported
from tsfm.validation import validate_horizon

ID, TIMESTAMP, TARGET = "item_id", "timestamp", "target"
CANONICAL_COLUMNS = (ID, TIMESTAMP, TARGET)
SINGLE_SERIES_ID = "0"

# Names recognised when no column name is given: ours first, then Nixtla's.
_ALIASES = {ID: ("item_id", "unique_id"), TIMESTAMP: ("timestamp", "ds"), TARGET: ("target", "y")}
_SEQUENCE_ID_ALIASES = ("id",)  # Chronos / fev datasets on the Hub name the column "id"
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")
FILL_GAPS = ("nan",)
_CSV_SEPARATORS = (",", ";", "\t", "|")  # in order of preference when a header holds several
_SNIFF_BYTES = 1 << 16

Source = pd.DataFrame | str | os.PathLike


def load_frame(
    source: Source,
    *,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    target_column: str | None = None,
    extra_columns: Sequence[str] = (),
    timestamp_unit: str | None = None,
    fill_gaps: str | None = None,
) -> pd.DataFrame:
    """Read and validate time series into the canonical long format.

    Parameters
    ----------
    source
        One of

        - a :class:`pandas.DataFrame` (it is not modified);
        - a path to a ``.csv`` or ``.parquet`` (``.pq``) file; a CSV must be UTF-8 and
          may be separated by ``,``, ``;`` (as SKAB's files), tabs or ``|``, detected
          from its header line (``;`` files with decimal commas are read as such);
        - ``"aeon:<name>"``: a forecasting set that ships inside aeon, see
          :func:`tsfm.datasets.list_aeon_datasets`;
        - ``"m4:<folder>"``, ``"m4:<folder>:<subset>"`` or ``"m4:<folder>/<subset>-train.csv"``:
          an M4 competition subset (``Hourly`` when none is named; ``Yearly``,
          ``Quarterly``, ``Monthly``, ``Weekly``, ``Daily``, any case) from its published
          CSVs, train and test joined, integer timestamps; the last horizon of each series
          is the official test part (see :func:`tsfm.datasets.read_m4_long`);
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
    timestamp_unit
        ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``: integer timestamps are epoch times in
        that unit and become dates (UTC), so the frequency is inferred as usual. Without
        it integer timestamps are step numbers (no calendar, season length 1);
        :func:`epoch_timestamp_hint` says when they look like epoch times.
    fill_gaps
        ``None`` (default): an item with missing timestamps inside its range is an
        error naming the item and the first missing stamp. ``"nan"``: a row with a NaN
        target (and NaN extra columns) is inserted at every missing timestamp; models
        read NaN as a missing value.

    Returns
    -------
    pd.DataFrame
        Columns ``item_id`` (str), ``timestamp`` (``datetime64[ns]`` or ``int64``
        steps), ``target`` (float64), then ``extra_columns``; other columns are dropped. Rows are grouped by
        item_id, each item keeping its row order; the index is ``0..n-1``.

    Raises
    ------
    InputError
        For a missing file, unsupported suffix, a CSV that is not UTF-8, unknown aeon
        name, empty data, missing columns, unparseable timestamps, a non-numeric or
        infinite target, duplicate or decreasing timestamps within an item, an item
        whose targets are all NaN, items of different frequencies in one source
        (naming the items of each), an item whose timestamps lie on no regular grid,
        or (without ``fill_gaps``) an item with missing timestamps.
    """
    if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
        raise InputError(f"timestamp_unit must be one of {list(TIMESTAMP_UNITS)} or None, got {timestamp_unit!r}")
    if fill_gaps is not None and fill_gaps not in FILL_GAPS:
        raise InputError(f"fill_gaps must be None or 'nan', got {fill_gaps!r}")
    raw = _read_source(source)
    frame = _to_canonical(raw, id_column, timestamp_column, target_column, tuple(extra_columns), timestamp_unit)
    return _check_calendar(frame, fill_gaps)


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
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".csv": _read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"unsupported file suffix {path.suffix!r} ({path.name}); allowed: "
            f"{sorted(readers)}. Convert the file, or read it with pandas and pass the DataFrame"
        )
    try:
        return reader(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; it must hold at least one observation") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start}); save it as "
            "UTF-8, or read it with pandas in its encoding, e.g. pd.read_csv(path, encoding='latin-1') (or "
            "'cp1252' for Windows files), and pass the DataFrame"
        ) from None


def _read_csv(path: Path) -> pd.DataFrame:
    """A UTF-8 CSV with its separator (and decimal comma) detected from the first lines."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            raise
        text = head[: exc.start].decode("utf-8-sig")
    sep, decimal = _sniff_separator(text)
    return pd.read_csv(path, sep=sep, decimal=decimal, encoding="utf-8-sig")


def _sniff_separator(text: str) -> tuple[str, str]:
    """``(separator, decimal mark)``: the candidate the header line holds most of, ``,`` when none."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return ",", "."
    counts = {sep: lines[0].count(sep) for sep in _CSV_SEPARATORS}
    sep = max(_CSV_SEPARATORS, key=lambda candidate: counts[candidate])
    if counts[sep] == 0:
        return ",", "."
    body = "\n".join(lines[1:])
    decimal_comma = sep != "," and re.search(r"\d,\d", body) and not re.search(r"\d\.\d", body)
    return sep, "," if decimal_comma else "."


# ----------------------------------------------------------------------------- columns


def _to_canonical(
    raw: pd.DataFrame,
    id_column: str | None,
    timestamp_column: str | None,
    target_column: str | None,
    extra: tuple[str, ...] = (),
    timestamp_unit: str | None = None,
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
            TIMESTAMP: _coerce_timestamps(long[TIMESTAMP], columns[TIMESTAMP], timestamp_unit),
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


def _coerce_timestamps(stamps: pd.Series, name: str | None, unit: str | None = None) -> pd.Series:
    stamps = stamps.reset_index(drop=True)
    dtype = stamps.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InputError(f"timestamp column {name!r} holds booleans; use dates or integer steps")
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        steps = _whole_numbers(stamps, name)
        return steps if unit is None else _epochs(steps, name, unit)
    if unit is not None:
        first = stamps.dropna().iloc[0] if stamps.notna().any() else None
        raise InputError(
            f"timestamp_unit={unit!r} applies to integer timestamps (epoch times), but column {name!r} holds dates "
            f"or text (e.g. {str(first)!r}); leave timestamp_unit out for such data"
        )
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


def _whole_numbers(stamps: pd.Series, name: str | None) -> pd.Series:
    if pd.api.types.is_float_dtype(stamps.dtype):
        values = stamps.to_numpy()
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            where = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"timestamp column {name!r} holds {values[where]!r} at row {where}; timestamps must be "
                "dates or whole-number steps with none missing"
            )
    return stamps.astype(np.int64)


def _epochs(steps: pd.Series, name: str | None, unit: str) -> pd.Series:
    try:
        return pd.Series(pd.to_datetime(steps.to_numpy(), unit=unit)).astype("datetime64[ns]")
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise InputError(
            f"timestamp column {name!r} holds {int(steps.abs().max())}, which as epoch {unit} lies outside the "
            "dates pandas can hold (1677-2262); check timestamp_unit"
        ) from None


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


def _check_calendar(frame: pd.DataFrame, fill_gaps: str | None) -> pd.DataFrame:
    """Refuse mixed frequencies, irregular items and gaps (see :mod:`tsfm.frequency`); fill gaps when asked."""
    calendars = item_calendars(frame[ID].to_numpy(), frame[TIMESTAMP].to_numpy())
    check_calendars(calendars, fill_gaps, hint=epoch_timestamp_hint(frame))
    gaps = [c for c in calendars if len(c.missing)]
    if not gaps:
        return frame
    rows = pd.DataFrame(
        {
            ID: np.concatenate([np.repeat(c.item, len(c.missing)) for c in gaps]),
            TIMESTAMP: np.concatenate([c.missing for c in gaps]).astype(frame[TIMESTAMP].dtype),
            TARGET: np.nan,
        }
    )
    filled = pd.concat([frame, rows], ignore_index=True)
    return filled.sort_values([ID, TIMESTAMP], kind="mergesort", ignore_index=True)


def epoch_timestamp_hint(frame: pd.DataFrame) -> str | None:
    """A sentence suggesting ``--timestamp-unit`` when a frame's integer steps look like epoch times.

    They do when every timestamp lies between 1973 and 2103 as seconds (or ms, us, ns)
    since 1970 and the items share one spacing of a second or a whole number of minutes
    (e.g. 3600 for hourly). ``None`` for dated frames and ordinary step numbers.
    """
    _require_canonical(frame)
    if not pd.api.types.is_integer_dtype(frame[TIMESTAMP].dtype):
        return None
    return epoch_hint(frame[ID].to_numpy(), frame[TIMESTAMP].to_numpy())


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
    most common answer wins. :func:`load_frame` has already refused frames that mix
    frequencies and items with gaps, so items differ at most in their anchor
    (``"W-SUN"`` and ``"W-WED"``).

    Returns
    -------
    str | None
        An alias such as ``"h"``, ``"30min"``, ``"MS"``, ``"QS-OCT"``, ``"YS-JAN"``;
        ``None`` when the timestamps are integer steps.

    Raises
    ------
    InputError
        When no item has 3 regularly spaced timestamps to infer a frequency from.
    """
    _require_canonical(frame)
    if pd.api.types.is_integer_dtype(frame[TIMESTAMP].dtype):
        return None
    votes: Counter[str] = Counter()
    longest = 0
    for _, stamps in frame.groupby(ID, sort=False)[TIMESTAMP]:
        longest = max(longest, len(stamps))
        if len(stamps) >= 3:
            freq = pd.infer_freq(pd.DatetimeIndex(stamps))
            if freq is not None:
                votes[freq] += 1
    if not votes:
        raise InputError(
            "cannot infer the frequency: it needs an item with at least 3 timestamps, regularly spaced "
            f"(the longest item has {longest}). Give the items more history, or use integer step numbers as "
            "timestamps and pass --season-length on the command line; in Python, pass freq= (a pandas alias such "
            "as 'h', 'D', 'W', 'MS') to future_timestamps and season_length= to the models"
        )
    return votes.most_common(1)[0][0]


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
        Pandas alias (see :func:`infer_frequency`) for dated frames; an item of the same
        frequency on another anchor (weekly on Wednesdays among Sunday items) keeps its
        own. ``None`` for integer steps, which continue ``last + k, ..., last + horizon * k``
        with ``k`` the item's step (1 for consecutive integers).

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
        spacing = frame.groupby(ID, sort=False)[TIMESTAMP].agg(lambda s: int(s.diff().min()) if len(s) > 1 else 1)
        return [int(t) + int(k) * np.arange(1, horizon + 1, dtype=np.int64) for t, k in zip(last, spacing)]
    if freq is None:
        raise InputError(
            "timestamps are dates: pass freq= (e.g. the result of infer_frequency(frame)); the command line "
            "infers it from the data"
        )
    key = frequency_key(freq)
    anchored = not isinstance(pd.tseries.frequencies.to_offset(freq), pd.offsets.Tick)
    out = []
    for t, (_, stamps) in zip(last, frame.groupby(ID, sort=False)[TIMESTAMP]):
        own = pd.infer_freq(pd.DatetimeIndex(stamps)) if anchored and len(stamps) >= 3 else None
        # An item anchored elsewhere ('W-WED' among 'W-SUN' items) continues on its own anchor.
        offset = pd.tseries.frequencies.to_offset(own if own is not None and frequency_key(own) == key else freq)
        out.append(pd.date_range(t + offset, periods=horizon, freq=offset).to_numpy())
    return out
