"""Reading tables for ``tsfm detect`` into per-item ``[time, channels]`` arrays, and writing scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.data import read_table
from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import Detection

_ID_ALIASES, _TIME_ALIASES, _TARGET_ALIASES = ("item_id", "unique_id"), ("timestamp", "ds"), ("target", "y")


def _pick(frame: pd.DataFrame, given: str | None, aliases: Sequence[str], what: str) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise InputError(f"{what} column {given!r} is not in the file; columns: {list(frame.columns)}")
        return given
    return next((c for c in aliases if c in frame.columns), None)


def read_items(
    path: str | Path, targets: Sequence[str] | None, id_column: str | None = None,
    timestamp_column: str | None = None,
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[str]]:
    """``([(item_id, timestamps [time], values [time, channels]), ...], channel names)`` of a table.

    CSV files may use any common separator (SKAB's files use ``;``); it is detected from the
    header. Without an id column the file is one item ``"0"``; without a timestamp column rows are
    numbered 0, 1, ...; ``targets`` default to ``target`` or ``y``.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"no such file: {path}")
    if file.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InputError(f"{path}: expected .csv or .parquet, got {file.suffix!r}")
    frame = read_table(file)  # CSV separator (",", ";", tab, ...) and decimal comma detected
    if frame.empty:
        raise InputError(f"{path} has a header but no rows: nothing to score")
    id_col = _pick(frame, id_column, _ID_ALIASES, "id")
    time_col = _pick(frame, timestamp_column, _TIME_ALIASES, "timestamp")
    if targets is None:
        found = _pick(frame, None, _TARGET_ALIASES, "target")
        if found is None:
            raise InputError(f"{path}: no target or y column; name the value columns with --target a,b,c "
                             f"(columns: {list(frame.columns)})")
        targets = [found]
    missing = [c for c in targets if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: unknown target column(s) {missing}; columns: {list(frame.columns)}")
    for column in targets:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(f"{path}: target column {column!r} is not numeric")
    groups = frame.groupby(id_col, sort=False) if id_col else [("0", frame)]
    items = []
    for item_id, rows in groups:
        stamps = rows[time_col].to_numpy() if time_col else np.arange(len(rows))
        items.append((str(item_id), stamps, rows[list(targets)].to_numpy(np.float64)))
    return items, list(targets)


def scores_frame(item_id: str, stamps: np.ndarray, found: Detection, channels: Sequence[str]) -> pd.DataFrame:
    """``item_id,timestamp,score,is_anomaly,channels`` rows of one item; ``channels`` names the columns
    behind each alarm (``a+b``, highest score first; empty where there is no alarm)."""
    return pd.DataFrame({"item_id": item_id, "timestamp": stamps, "score": found.scores,
                         "is_anomaly": found.is_anomaly.astype(int), "channels": found.drivers(channels)})


def write_scores(
    results: Sequence[tuple[str, np.ndarray, np.ndarray, Detection]], output: Path, channels: Sequence[str],
) -> None:
    """Write :func:`scores_frame` rows for every item (atomically)."""
    from tsfm.outputs import write_table

    table = pd.concat([scores_frame(item_id, stamps, found, channels) for item_id, stamps, _, found in results],
                      ignore_index=True)
    write_table(table, output)
