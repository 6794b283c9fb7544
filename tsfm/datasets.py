"""Readers of named public datasets: the forecasting sets shipped inside aeon, Hugging
Face ``datasets``, and the M4 / ETT benchmark files.

Each reader returns a raw long frame (``item_id``, ``timestamp``, ``target``) that
:func:`tsfm.data.load_frame` then validates; none of these files ship with tsfm-adapt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.data import ID, TARGET, TIMESTAMP
from tsfm.errors import InputError

# ----------------------------------------------------------------------------- aeon


@dataclass(frozen=True)
class _AeonSet:
    file: str  # relative to aeon/datasets/data
    description: str
    time_column: str | int  # name or position
    value_columns: tuple[str, ...]  # one item per column
    parse_time: Callable[[pd.Series], pd.Series] | None = None


def _parse_format(fmt: str) -> Callable[[pd.Series], pd.Series]:
    return lambda s: pd.to_datetime(s.astype(str), format=fmt)


def _parse_quarters(s: pd.Series) -> pd.Series:
    return pd.Series(pd.PeriodIndex(s.str.replace(" ", ""), freq="Q").to_timestamp())


def _parse_utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).dt.tz_convert(None)


_AEON_SETS = {
    "airline": _AeonSet(
        "Airline/Airline.csv", "monthly (MS), 1 series of 144: international airline passengers "
        "1949-1960", "Date", ("Passengers",), _parse_format("%Y-%m")),
    "lynx": _AeonSet(
        "Lynx/Lynx.csv", "yearly (YS-JAN), 1 series of 114: Canadian lynx trappings 1821-1934",
        0, ("0",), _parse_format("%Y")),
    "shampoo_sales": _AeonSet(
        "ShampooSales/ShampooSales.csv", "monthly (MS), 1 series of 36: shampoo sales over three years",
        "Time", ("Sales",), _parse_format("%Y-%m")),
    "solar": _AeonSet(
        "solar/solar.csv", "half-hourly (30min), 1 series of 289: GB national solar generation "
        "estimate, 1-7 May 2021 (UTC)", "datetime_gmt", ("solar_gen",), _parse_utc),
    "pbs": _AeonSet(
        "PBS_dataset/PBS_dataset.csv", "monthly (MS), 1 series of 204: Australian PBS scripts of "
        "immune sera and immunoglobulins 1991-2008", "Month", ("Scripts",), _parse_format("%Y %b")),
    "uschange": _AeonSet(
        "Uschange/Uschange.csv", "quarterly (QS-OCT), 5 series of 187: US % changes in consumption, "
        "income, production, savings, unemployment 1970-2016", "Quarter",
        ("Consumption", "Income", "Production", "Savings", "Unemployment"), _parse_quarters),
    "longley": _AeonSet(
        "Longley/Longley.csv", "yearly (YS-JAN), 6 series of 16: Longley US macroeconomic "
        "variables 1947-1962", "YEAR", ("TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP"),
        _parse_format("%Y")),
    "m1_yearly": _AeonSet(
        "m1_yearly_dataset/m1_yearly_dataset.tsf", "yearly (YS-JAN), 181 series of 15-58: M1 "
        "competition yearly series", "start_timestamp", ("series_value",)),
}  # fmt: skip


def list_aeon_datasets() -> dict[str, str]:
    """Names accepted by ``load_frame("aeon:<name>")`` -> one-line description.

    Each description gives the frequency (with its pandas alias), the number of series
    and their length. A single-series set uses its name as item_id; a multi-column set
    (uschange, longley) becomes one item per column, named after the column; m1_yearly
    keeps the M1 series names (``T1``...).
    """
    return {name: spec.description for name, spec in _AEON_SETS.items()}


def _aeon_data_folder() -> Path:
    import aeon

    return Path(aeon.__file__).resolve().parent / "datasets" / "data"


def read_aeon(name: str) -> pd.DataFrame:
    spec = _AEON_SETS.get(name)
    if spec is None:
        raise InputError(f"unknown aeon dataset {name!r}; known: {sorted(_AEON_SETS)}")
    path = _aeon_data_folder() / spec.file
    if not path.exists():
        raise InputError(
            f"aeon dataset {name!r} is not shipped by the installed aeon (no {path}); install an "
            "aeon version that has it or load another set"
        )
    if path.suffix == ".tsf":
        return _read_tsf(path)
    table = pd.read_csv(path)
    time_column = table.columns[spec.time_column] if isinstance(spec.time_column, int) else spec.time_column
    times = spec.parse_time(table[time_column]) if spec.parse_time else table[time_column]
    parts = []
    for column in spec.value_columns:
        item = name if len(spec.value_columns) == 1 else column
        parts.append(pd.DataFrame({ID: item, TIMESTAMP: times.to_numpy(), TARGET: table[column].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def _read_tsf(path: Path) -> pd.DataFrame:
    """A .tsf file of series with start timestamps -> long frame with dated rows."""
    from aeon.datasets import load_from_tsf_file

    table, meta = load_from_tsf_file(str(path))
    freq = {"yearly": "YS", "quarterly": "QS", "monthly": "MS", "weekly": "W", "daily": "D",
            "hourly": "h", "half_hourly": "30min"}.get(meta.get("frequency"))  # fmt: skip
    if freq is None or "start_timestamp" not in table.columns:
        raise InputError(
            f"{path} has no start timestamps or an unsupported frequency {meta.get('frequency')!r}"
        )
    parts = []
    for _, row in table.iterrows():
        values = np.asarray(row["series_value"], dtype=np.float64)
        stamps = pd.date_range(row["start_timestamp"], periods=len(values), freq=freq)
        parts.append(pd.DataFrame({ID: str(row["series_name"]), TIMESTAMP: stamps, TARGET: values}))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- Hugging Face


def read_hf(spec: str) -> pd.DataFrame:
    import datasets

    location, config, split = _split_hf_spec(spec)
    path = Path(location).expanduser()
    try:
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            loaded = datasets.load_from_disk(str(path))
        elif path.is_dir():
            loaded = datasets.load_dataset(str(path))
        else:
            loaded = datasets.load_dataset(location, config)
    except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot load Hugging Face dataset {location!r} ({type(exc).__name__}: {exc}); pass a folder "
            "written by save_to_disk, a local data folder, or a Hub id reachable from this machine"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        loaded = _pick_split(loaded, location, split)
    elif split is not None:
        raise InputError(f"{location!r} is a single dataset without splits; drop ':{split}'")
    return loaded.to_pandas()


def _split_hf_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``location[:split]`` or ``location:config:split`` (a config only makes sense on the Hub)."""
    if Path(spec).expanduser().exists():
        return spec, None, None
    parts = spec.split(":")
    if len(parts) == 1:
        return spec, None, None
    if len(parts) == 2:
        return parts[0], None, parts[1] or None
    return ":".join(parts[:-2]), parts[-2] or None, parts[-1] or None


def _pick_split(loaded: Any, location: str, split: str | None) -> Any:
    splits = list(loaded.keys())
    if split is None:
        split = "train" if "train" in splits else (splits[0] if len(splits) == 1 else None)
        if split is None:
            raise InputError(f"{location!r} has splits {splits}; choose one with 'hf:{location}:<split>'")
    if split not in splits:
        raise InputError(f"{location!r} has no split {split!r}; its splits are {splits}")
    return loaded[split]


# ----------------------------------------------------------------------------- benchmark files

M4_SUBSETS = ("Yearly", "Quarterly", "Monthly", "Weekly", "Daily", "Hourly")


def load_m4(
    folder: str | os.PathLike, subset: str = "Hourly"
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Read one frequency of the M4 competition from its wide CSV files.

    Parameters
    ----------
    folder
        Folder holding ``<subset>-train.csv`` and ``<subset>-test.csv`` as published by
        the M4 organisers: a header row, then one row per series, first column the id
        (``H1``...), then the values, rows padded to the longest series.
    subset
        One of ``Yearly``, ``Quarterly``, ``Monthly``, ``Weekly``, ``Daily``, ``Hourly``.

    Returns
    -------
    tuple[list[str], list[np.ndarray], list[np.ndarray]]
        Series ids, training series and test series (float64, padding removed), in file order.
    """
    if subset not in M4_SUBSETS:
        raise InputError(f"unknown M4 subset {subset!r}; choose one of {list(M4_SUBSETS)}")
    frames = []
    for part in ("train", "test"):
        path = Path(folder) / f"{subset}-{part}.csv"
        if not path.exists():
            raise InputError(f"M4 file not found: {path}; pass the folder holding {subset}-train/test.csv")
        frames.append(pd.read_csv(path, index_col=0))
    train, test = frames
    ids = [str(i) for i in train.index]
    if ids != [str(i) for i in test.index]:
        raise InputError(f"{subset}-train.csv and {subset}-test.csv list different series ids")
    return ids, _unpad(train), _unpad(test)


def _unpad(wide: pd.DataFrame) -> list[np.ndarray]:
    rows = []
    for values in wide.to_numpy(dtype=np.float64):
        observed = np.flatnonzero(~np.isnan(values))
        rows.append(values[: observed[-1] + 1] if observed.size else values[:0])
    return rows


def load_ett(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ETT file (e.g. ETTh1.csv) as published: ``date`` parsed, the 7 columns unchanged.

    ``path`` may also be the folder that holds ``ETTh1.csv``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "ETTh1.csv"
    if not path.exists():
        raise InputError(f"ETT file not found: {path}; pass the path of ETTh1.csv or its folder")
    return pd.read_csv(path, parse_dates=["date"])


def read_m4_long(spec: str) -> pd.DataFrame:
    """An M4 subset as one long frame of train + test with integer timestamps (``load_frame("m4:...")``).

    Accepted forms of ``spec`` (what follows ``m4:``):

    - ``<folder>``: the folder holding ``Hourly-train.csv`` and ``Hourly-test.csv``
      (Hourly is the default subset); a trailing ``/`` is fine;
    - ``<folder>:<subset>``: one of ``Yearly``, ``Quarterly``, ``Monthly``, ``Weekly``,
      ``Daily``, ``Hourly``, in any case (``m4:data/m4:weekly``);
    - ``<folder>/<subset>-train.csv`` (or ``-test.csv``): the subset named by the file.

    A path that exists is taken whole, so folders whose names hold ``:`` work too.
    """
    folder, subset = _m4_location(spec)
    ids, train, test = load_m4(folder, subset)
    parts = [
        pd.DataFrame({ID: item, TIMESTAMP: np.arange(len(a) + len(b)), TARGET: np.concatenate([a, b])})
        for item, a, b in zip(ids, train, test)
    ]
    return pd.concat(parts, ignore_index=True)


def _m4_location(spec: str) -> tuple[Path, str]:
    """``(folder, subset)`` of an ``m4:`` spec; see :func:`read_m4_long` for the forms."""
    path, subset = Path(spec).expanduser(), "Hourly"
    if not path.exists() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        path, subset = Path(head).expanduser(), tail or "Hourly"
    if path.is_file():
        subset = path.name.split("-")[0]
        path = path.parent
    by_case = {name.lower(): name for name in M4_SUBSETS}
    return path, by_case.get(subset.lower(), subset)
