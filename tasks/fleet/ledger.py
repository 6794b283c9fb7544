"""The output folder of a fleet job: partitions written atomically, a record per finished one.

While a job runs, its results grow in a hidden work folder beside ``--output``
(``.<name>.fleet-partial``), marked with the job's description. Each partition is written to
a temporary file, moved to ``part-NNNNN.parquet`` when complete, and only then is its
record ``_done/part-NNNNN.json`` written: a partition with a record is finished, one without
is redone from the start, under the same name, so a re-run after a kill never duplicates nor
drops a series. When every partition has its record and the series add up to those of the
input, the work folder replaces ``--output`` in one move (:func:`tsfm.outputs.replace_folder`):
an earlier result there stays whole until the new one is complete. Parquet readers skip the
``_done`` folder and the marker (names starting with ``_`` and ``.``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tsfm.errors import InputError
from tsfm.outputs import MARKER, check_not_input, replace_folder
from tsfm.tasks.fleet.partitions import Partition

DONE = "_done"


def work_folder(output: Path) -> Path:
    """The hidden folder where an unfinished job of ``output`` keeps its partitions."""
    return output.parent / f".{output.name}.fleet-partial"


def _marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def open_job(output: str | os.PathLike, job: dict, overwrite: bool, inputs: Iterable[object]) -> tuple[Path, set[int]]:
    """Prepare the work folder of ``job``; return it and the indices of partitions already finished.

    Returns ``(output, {...})`` with every index when ``output`` already holds this very job,
    complete. Raises :class:`InputError` when ``output`` (or an unfinished work folder) holds
    another job's results, unless ``overwrite``; nothing is deleted before the new job completes,
    except an unfinished work folder of another job with ``overwrite``.
    """
    output = Path(output).expanduser()
    check_not_input(output, inputs)
    if output.suffix.lower() == ".csv":
        raise InputError(f"--output {str(output)!r}: with --engine ray it is a folder of parquet partitions; "
                         "give a folder name")
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {str(output)!r} is a file; with --engine ray it is a folder of parquet partitions")
    finished = _marker(output) if output.is_dir() else None
    if finished is not None and finished.get("job") == job and finished.get("complete"):
        return output, set(_records(output))
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        what = "another job's results" if finished is not None else "files that no fleet job wrote"
        raise InputError(
            f"--output {str(output)!r} already holds {what}; choose an empty folder or pass --overwrite "
            "(the earlier results stay until the new job completes)"
        )
    work = work_folder(output)
    partial = _marker(work) if work.is_dir() else None
    if work.exists() and (partial is None or partial.get("job") != job):
        if not overwrite:
            raise InputError(
                f"--output {str(output)!r}: {str(work)!r} holds an unfinished different job; pass --overwrite to "
                "discard it, or rerun that job to finish it"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / DONE).mkdir(exist_ok=True)
    # files of a partition (or record) whose writer was killed mid-way
    for leftover in [*work.glob(".*.tmp*"), *(work / DONE).glob(".*.tmp*")]:
        leftover.unlink(missing_ok=True)
    _write_json(work / MARKER, {"kind": f"fleet-{job['task']['kind']}", "job": job, "complete": False})
    return work, set(_records(work))


def _records(folder: Path) -> dict[int, dict]:
    found = {}
    for path in sorted((folder / DONE).glob("part-*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # never complete: the record is written atomically, so this is not ours
        found[int(record["index"])] = record
    return found


def write_partition(work: Path, partition: Partition, tables: Iterable[pd.DataFrame]) -> dict:
    """Write the output tables of one partition as ``part-NNNNN.parquet``, then its record; return the record.

    Raises :class:`InputError` when the partition's output does not hold each of its series
    exactly once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    final = work / f"{partition.name}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=work)
    os.close(fd)
    writer, seen, n_rows, n_blocks = None, set(), 0, 0
    try:
        for table in tables:
            arrow = pa.Table.from_pandas(table, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, arrow.schema)
            writer.write_table(arrow.cast(writer.schema))
            seen.update(table["item_id"].unique().tolist())
            n_rows, n_blocks = n_rows + len(table), n_blocks + 1
        if writer is not None:
            writer.close()
        if len(seen) != partition.n_series:
            raise InputError(
                f"partition {partition.name} ({', '.join(partition.files)}): {len(seen)} series written for "
                f"{partition.n_series} read; a series id is repeated or lost"
            )
        os.replace(tmp, final) if writer is not None else os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    record = {"index": partition.index, "partition": partition.name, "files": list(partition.files),
              "series": len(seen), "rows": n_rows, "blocks": n_blocks,
              "seconds": round(time.perf_counter() - started, 3), "worker": os.getpid(), "peak_rss_mb": _peak_rss_mb()}
    _write_json(work / DONE / f"{partition.name}.json", record)  # last: the partition is finished
    return record


def finish_job(work: Path, output: Path, n_partitions: int, n_series: int) -> dict[int, dict]:
    """Check that every partition is finished and the series add up; then move the results onto ``output``."""
    records = _records(work)
    missing = sorted(set(range(n_partitions)) - set(records))
    if missing:
        raise InputError(f"partitions {missing[:5]} have no completion record; rerun the job to finish them")
    written = sum(r["series"] for r in records.values())
    if written != n_series:
        raise InputError(f"the output holds {written} series for {n_series} in the input; rerun with --overwrite")
    if work != output:
        marker = _marker(work) or {}
        _write_json(work / MARKER, {**marker, "complete": True})
        replace_folder(work, output)
    return records


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _write_json(path: Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    os.replace(tmp, path)
