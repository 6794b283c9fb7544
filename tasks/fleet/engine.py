"""Running a fleet job on Ray Data: a pool of actors, each loading the model once, one partition per task.

:func:`run_fleet` plans the partitions (:mod:`tsfm.tasks.fleet.partitions`), opens the output
folder (:mod:`tsfm.tasks.fleet.ledger`), and hands the unfinished partitions to Ray Data as a
dataset of partition numbers. ``map_batches`` with a callable class and ``concurrency=workers``
keeps a fixed pool of actors; each actor loads the model in its constructor, then streams every
partition it is given in blocks of whole series and writes it atomically. Ray restarts an actor
whose process dies and retries its partition (Ray Data's defaults for actor pools), so a lost
worker costs only the partition in flight; a killed driver leaves finished partitions recorded,
and the re-run skips them. The driver prints one progress line per finished partition.

Without an address a local cluster is started (and stopped at the end); a running session
(``ray.init`` done by the caller) is used as it is.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsfm.errors import InputError, TsfmError
from tsfm.tasks.fleet.ledger import finish_job, open_job, write_partition
from tsfm.tasks.fleet.partitions import Partition, plan_partitions, read_blocks
from tsfm.tasks.fleet.work import Work

INSTALL = 'pip install -e ".[distributed]"'
CONNECT_TIMEOUT_S = 3.0


@dataclass
class FleetResult:
    """What a fleet job did: partitions run now and skipped as finished, series, wall time, records."""

    output: Path
    n_partitions: int
    n_run: int
    n_series: int
    seconds: float
    records: dict[int, dict] = field(default_factory=dict)

    @property
    def n_skipped(self) -> int:
        return self.n_partitions - self.n_run


def require_ray():
    """The ``ray`` module; one line saying how to install it when it is missing."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(f"--engine ray needs Ray Data, which is not installed; install it with: {INSTALL}") from None
    return ray


def run_fleet(
    work: Work, data: str | os.PathLike, output: str | os.PathLike, *, address: str | None = None,
    workers: int = 2, threads_per_worker: int = 1, block_series: int = 1024, overwrite: bool = False,
    on_partition: Callable[[dict], None] | None = None, log: Callable[[str], None] | None = None,
) -> FleetResult:
    """Run ``work`` over every series of the dataset ``data``; write a partitioned parquet folder ``output``.

    Parameters
    ----------
    work
        A :class:`~tsfm.tasks.fleet.work.Work` (forecast, embed, classify or detect) with its columns.
    data
        A folder of ``.parquet`` or ``.csv`` files in long format, or one such file.
    output
        Folder of ``part-NNNNN.parquet`` files, one per partition of ``data``.
    address
        A running Ray cluster (``host:port``, ``ray://host:port`` or ``auto``); ``None`` starts a local
        one unless Ray is already initialised in this process.
    workers, threads_per_worker
        Actors in the pool, and torch threads (and CPUs asked of Ray) of each.
    block_series
        Series held in memory at once by a worker.
    overwrite
        Replace an ``output`` holding another job's results (kept until this job completes).
    on_partition
        Called in the driver with the record of each partition as it finishes.
    log
        Where progress lines go (default: stderr).

    Raises
    ------
    InputError
        Missing columns, a split series that cannot be repaired, an unreachable cluster, an
        ``output`` holding another job's results, or any input error met by a worker.
    """
    ray = require_ray()
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker),
                        ("block_series", block_series)):
        if int(value) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    if address is not None and address != "auto":
        _probe(address)  # before the output folder is touched
    plan = plan_partitions(data, work.columns)
    job = {"task": work.describe(), "data": str(Path(data).expanduser().resolve()), "fingerprint": plan.fingerprint}
    folder, done = open_job(output, job, overwrite, inputs=[data])
    todo = [p for p in plan.partitions if p.index not in done]
    log(f"fleet {work.kind}: {plan.n_series} series in {len(plan.partitions)} partitions; "
        f"{len(done)} already finished, {len(todo)} to run")
    if todo:
        owned = connect(ray, address, workers * threads_per_worker)
        try:
            _run_partitions(ray, work, todo, folder, workers, threads_per_worker, block_series, on_partition, log)
        finally:
            if owned:
                ray.shutdown()
    final = Path(output).expanduser()
    records = finish_job(folder, final, len(plan.partitions), plan.n_series)
    return FleetResult(final, len(plan.partitions), len(todo), plan.n_series, time.perf_counter() - started, records)


def connect(ray, address: str | None, cpus: int) -> bool:
    """Join the cluster at ``address`` (checked to answer within seconds) or start a local one; True if started here."""
    if address is not None and address != "auto":
        _probe(address)
    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # no C++ warnings on the user's terminal
    if address is None:
        ray.init(num_cpus=max(cpus, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, object_store_memory=256 * 2**20)
        return True
    # Ray retries a cluster that does not answer its protocol for 20 s; a few seconds tell the same
    wait = "RAY_gcs_server_port_wait_time_s"
    had_wait = wait in os.environ
    os.environ.setdefault(wait, str(int(CONNECT_TIMEOUT_S)))
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--address {address!r}: cannot join a Ray cluster there ({exc})".split("\n")[0]) from None
    finally:
        if not had_wait:
            os.environ.pop(wait, None)
    return True


def _probe(address: str) -> None:
    """Fail within ``CONNECT_TIMEOUT_S`` when nothing listens at ``address`` (Ray itself would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address must be host:port, ray://host:port or auto, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            f"--address {address!r}: no Ray cluster answers there ({reason} within {CONNECT_TIMEOUT_S:g} s); "
            "start one with 'ray start --head' or leave out --address for a local cluster"
        ) from None


def _run_partitions(ray, work, todo, folder, workers, threads, block_series, on_partition, log) -> None:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    gpus = 1 if _wants_gpu(ray, work) else 0
    items = ray.data.from_items([{"index": p.index} for p in todo], override_num_blocks=len(todo))
    results = items.map_batches(
        PartitionRunner, batch_size=1, concurrency=min(workers, len(todo)), num_cpus=threads, num_gpus=gpus,
        fn_constructor_kwargs={"work": work, "partitions": {p.index: p for p in todo}, "folder": str(folder),
                               "block_series": block_series, "threads": threads},
    )
    count = 0
    try:
        for row in results.iter_rows():
            if row["error"]:
                raise InputError(row["error"])
            record = json.loads(row["record"])
            count += 1
            log(f"[{count}/{len(todo)}] {record['partition']}: {record['series']} series, {record['rows']} rows "
                f"in {record['seconds']:.1f} s (worker {record['worker']})")
            if on_partition is not None:
                on_partition(record)
    except TsfmError:
        raise
    except Exception as exc:  # a worker's error arrives wrapped by Ray: surface ours as they were raised
        cause = _our_error(exc)
        if cause is None:
            raise
        raise cause from None


def _wants_gpu(ray, work: Work) -> bool:
    """Each actor asks for a GPU when the model is put on CUDA, or on ``auto`` when the cluster has GPUs."""
    device = getattr(work, "device", "cpu") or "cpu"
    return device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)


def _our_error(exc: BaseException) -> TsfmError | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, TsfmError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


class PartitionRunner:
    """A Ray Data actor: loads the model once, then writes each partition it is given."""

    def __init__(self, work: Work, partitions: dict[int, Partition], folder: str, block_series: int,
                 threads: int) -> None:
        import pyarrow
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
        pyarrow.set_cpu_count(threads)  # parquet decoding and encoding: a worker of one thread uses one core
        pyarrow.set_io_thread_count(threads)
        self.work, self.partitions, self.folder, self.block_series = work, partitions, Path(folder), block_series
        self.setup_error = ""
        try:
            work.setup()
        except TsfmError as exc:  # reported with the first partition, instead of restarting the actor forever
            self.setup_error = str(exc)

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"index": [], "record": [], "error": []}
        for index in batch["index"]:
            partition = self.partitions[int(index)]
            record, error = "", self.setup_error
            if not error:
                try:
                    blocks = read_blocks(partition, self.work.columns, self.block_series)
                    record = json.dumps(write_partition(self.folder, partition, map(self.work.run, blocks)))
                except TsfmError as exc:
                    error = f"partition {partition.name} ({', '.join(partition.files)}): {exc}"
            out["index"].append(int(index))
            out["record"].append(record)
            out["error"].append(error)
        return out
