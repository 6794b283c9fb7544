"""The partitions of a fleet dataset, and reading one of them in blocks of whole series.

A dataset is a folder of ``.parquet`` files (a partitioned parquet dataset, hive folders such
as ``plant=7/`` included) or of ``.csv`` files in long format (one row per series and step),
or one such file. Each file is a partition; files and folders whose names start with ``.``
or ``_`` are skipped, as pyarrow does.

Before any work the id column of every file is scanned once (:func:`plan_partitions`):

- a file lacking the id, timestamp or target column is refused, naming the file;
- files that share a series are *repaired* by merging them into one partition, provided the
  series' timestamps continue from file to file; a series whose rows overlap or go back in
  time across files cannot be repaired and is refused, naming the series and the files;
- a file whose series' rows are not contiguous is read whole and grouped (like the local
  engine); every other partition is streamed in blocks of ``block_series`` whole series, so
  the memory a worker needs depends on the block size, not on the size of the dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError

SUFFIXES = (".parquet", ".pq", ".csv")
ALIASES = {"id": ("item_id", "unique_id"), "timestamp": ("timestamp", "ds"), "target": ("target", "y")}
_READ_ROWS = 65_536  # rows per parquet/CSV read while streaming a file


@dataclass(frozen=True)
class Columns:
    """Column names of a fleet dataset; ``timestamp`` may be None only for detection."""

    id: str
    timestamp: str | None
    targets: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [self.id, *([self.timestamp] if self.timestamp else []), *self.targets]


@dataclass(frozen=True)
class Partition:
    """One unit of work: its files (several when a split series was repaired), series count, reading mode."""

    index: int
    files: tuple[str, ...]
    n_series: int
    whole: bool = False  # read all rows and group, instead of streaming contiguous series

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


@dataclass
class Plan:
    """Partitions of a dataset, its columns, and a fingerprint of its files (names, sizes, times)."""

    partitions: list[Partition]
    columns: Columns
    fingerprint: str
    n_series: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_series = sum(p.n_series for p in self.partitions)


def dataset_files(source: str | Path) -> list[Path]:
    """The data files of ``source`` (a file, or a folder searched recursively), sorted; one kind only."""
    path = Path(source).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in SUFFIXES
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        )
    else:
        raise InputError(f"--data {str(source)!r}: no such file or folder")
    if not files or files[0].suffix.lower() not in SUFFIXES:
        raise InputError(f"--data {str(source)!r}: no .parquet or .csv files in it")
    kinds = {f.suffix.lower() == ".csv" for f in files}
    if len(kinds) > 1:
        raise InputError(f"--data {str(source)!r} mixes .csv and .parquet files; keep one kind per dataset")
    return files


def resolve_columns(
    file: Path, id_column: str | None, timestamp_column: str | None, targets: Sequence[str] | None,
    need_timestamp: bool = True,
) -> Columns:
    """The id, timestamp and target columns of ``file`` (given names, else the usual aliases)."""
    present = list(_schema(file))

    def pick(given: str | None, role: str, required: bool) -> str | None:
        if given is not None:
            if given not in present:
                raise InputError(f"--data: {file} has no {role} column {given!r}; its columns are {present}")
            return given
        found = next((c for c in ALIASES[role] if c in present), None)
        if found is None and required:
            raise InputError(
                f"--data: {file} has no {role} column ({' or '.join(ALIASES[role])}); its columns are {present}; "
                f"name it with --{role}-column"
            )
        return found

    ident = pick(id_column, "id", True)
    stamp = pick(timestamp_column, "timestamp", need_timestamp)
    if targets:
        missing = [t for t in targets if t not in present]
        if missing:
            raise InputError(f"--data: {file} has no target column(s) {missing}; its columns are {present}")
        chosen = tuple(targets)
    else:
        chosen = (pick(None, "target", True),)
    return Columns(ident, stamp, chosen)  # type: ignore[arg-type]


def plan_partitions(source: str | Path, columns: Columns) -> Plan:
    """Scan the id column of every file once; merge files that share series; refuse what cannot be repaired."""
    files = dataset_files(source)
    hashes, contiguous = [], []
    for file in files:
        missing = [c for c in columns.names if c not in _schema(file)]
        if missing:
            raise InputError(f"--data: {file} has no column(s) {missing}; its columns are {list(_schema(file))}")
        ids = pd.util.hash_array(_read_columns(file, [columns.id])[columns.id].astype(str).to_numpy())
        runs = 1 + int(np.count_nonzero(ids[1:] != ids[:-1])) if len(ids) else 0
        unique = np.unique(ids)
        hashes.append(unique)
        contiguous.append(runs == len(unique))
    groups = _groups_sharing_series(hashes)
    partitions = []
    for index, members in enumerate(groups):
        if len(members) > 1:
            _check_repairable([files[m] for m in members], columns)
        n_series = len(np.unique(np.concatenate([hashes[m] for m in members])))
        whole = len(members) > 1 or not contiguous[members[0]]
        partitions.append(Partition(index, tuple(str(files[m]) for m in members), n_series, whole))
    return Plan(partitions, columns, fingerprint(files))


def _groups_sharing_series(hashes: list[np.ndarray]) -> list[list[int]]:
    """Indices of files, grouped so that files sharing a series id fall in one group (union-find)."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    every = np.concatenate(hashes) if hashes else np.array([], dtype=np.uint64)
    owner = np.repeat(np.arange(len(hashes)), [len(h) for h in hashes])
    order = np.argsort(every, kind="stable")
    every, owner = every[order], owner[order]
    for k in np.flatnonzero(every[1:] == every[:-1]):
        a, b = root(int(owner[k])), root(int(owner[k + 1]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(hashes)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def _check_repairable(files: list[Path], columns: Columns) -> None:
    """A series split over ``files`` is repaired only if its timestamps keep increasing from file to file."""
    if columns.timestamp is None:
        raise InputError(
            f"--data: a series is split across partitions {[str(f) for f in files]} and there is no timestamp "
            "column to join its pieces in order; it cannot be repaired: put each series in one file"
        )
    parts = [_read_columns(f, [columns.id, columns.timestamp]).assign(_file=str(f)) for f in files]
    rows = pd.concat(parts, ignore_index=True)
    rows[columns.id] = rows[columns.id].astype(str)
    rows = rows.sort_values(columns.id, kind="stable", ignore_index=True)
    stamps = rows[columns.timestamp]
    if stamps.dtype == object:  # CSV dates are text: compare them as dates
        stamps = pd.to_datetime(stamps, errors="coerce", utc=True)
    same = rows[columns.id].to_numpy()[1:] == rows[columns.id].to_numpy()[:-1]
    back = same & ~(stamps.to_numpy()[1:] > stamps.to_numpy()[:-1])
    if back.any():
        k = int(np.flatnonzero(back)[0])
        item = rows[columns.id].iloc[k]
        where = sorted(set(rows.loc[rows[columns.id] == item, "_file"]))
        raise InputError(
            f"--data: series {item!r} is split across partitions {where} with overlapping or decreasing "
            f"timestamps ({stamps.iloc[k + 1]} after {stamps.iloc[k]}); it cannot be repaired: put each series "
            "in one file, or its rows in time order from file to file"
        )


def read_blocks(partition: Partition, columns: Columns, block_series: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``block_series`` whole series of ``partition``, in file order."""
    if partition.whole:
        rows = pd.concat([_read_columns(Path(f), columns.names) for f in partition.files], ignore_index=True)
        keys = rows[columns.id].astype(str)
        rows = rows.iloc[np.argsort(pd.factorize(keys)[0], kind="stable")].reset_index(drop=True)
        yield from _whole_series_blocks([rows], columns.id, block_series)
        return
    yield from _whole_series_blocks(_stream(Path(partition.files[0]), columns.names), columns.id, block_series)


def _whole_series_blocks(chunks, id_column: str, block_series: int) -> Iterator[pd.DataFrame]:
    """Regroup row chunks (series contiguous) into blocks of ``block_series`` whole series."""
    pending: list[pd.DataFrame] = []
    n_pending = 0
    for chunk in chunks:
        if chunk.empty:
            continue
        keys = chunk[id_column].astype(str).to_numpy()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # first row of each run
        if pending and str(pending[-1][id_column].iloc[-1]) == keys[0]:
            n_pending -= 1  # the chunk continues the last pending series
        n_pending += len(starts)
        pending.append(chunk)
        while n_pending > block_series:  # cut before the (block_series + 1)-th series
            merged = pd.concat(pending, ignore_index=True)
            mk = merged[id_column].astype(str).to_numpy()
            cut = np.flatnonzero(np.r_[True, mk[1:] != mk[:-1]])[block_series]
            yield merged.iloc[:cut].reset_index(drop=True)
            pending, n_pending = [merged.iloc[cut:].reset_index(drop=True)], n_pending - block_series
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _stream(file: Path, names: list[str]) -> Iterator[pd.DataFrame]:
    """Row chunks of ``names`` (the id column first) of one file."""
    if file.suffix.lower() == ".csv":  # ids as written ("007" stays "007"), the same in every chunk
        yield from pd.read_csv(file, usecols=names, chunksize=_READ_ROWS, dtype={names[0]: str})
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(file).iter_batches(batch_size=_READ_ROWS, columns=names):
        yield batch.to_pandas()


def _read_columns(file: Path, names: list[str]) -> pd.DataFrame:
    """Columns ``names`` (the id column first) of one file."""
    if file.suffix.lower() == ".csv":
        return pd.read_csv(file, usecols=names, dtype={names[0]: str})
    return pd.read_parquet(file, columns=names)


def _schema(file: Path) -> list[str]:
    if file.suffix.lower() == ".csv":
        return list(pd.read_csv(file, nrows=0).columns)
    import pyarrow.parquet as pq

    return list(pq.read_schema(file).names)


def fingerprint(files: list[Path]) -> str:
    """Names, sizes and modification times of the files: a changed dataset is a different job."""
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
