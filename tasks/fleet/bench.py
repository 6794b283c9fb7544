"""``tsfm bench fleet``: throughput, memory and a killed worker of the Ray engine, against its targets.

Synthetic series (a daily and a weekly cycle, a level and noise per series, hourly stamps) are
written once as parquet partitions of ``--series-per-file`` series under ``--work-dir`` and
reused. Runs (``--runs``):

- ``one``: Ray, 1 worker of 1 thread; ``two``: Ray, 2 workers of 1 thread each;
- ``local``: the single-process path in this process with 2 torch threads, over the same
  partitions and blocks (the forecasting of ``--engine local``, without reading everything at once);
- ``kill``: Ray, 2 workers; the worker that finishes the first partition is killed
  (SIGKILL), and the output is checked to hold every series exactly once;
- ``memory``: Ray, 1 worker, on ``--memory-series`` (two sizes) of ``--memory-length`` steps:
  peak RSS of the worker on the larger over that on the smaller.

Throughput is series per second of wall time, start-up and model loading included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.tasks.fleet.partitions import Columns

COLUMNS = Columns("item_id", "timestamp", ("target",))
TARGETS = {"two/one": 1.7, "two/local": 0.9, "memory": 1.2}


def main(argv: Sequence[str] | None = None) -> int:
    """Ray engine: throughput of 1 and 2 workers vs one process, memory per worker, a killed worker."""
    parser = argparse.ArgumentParser(prog="tsfm bench fleet", description=main.__doc__)
    parser.add_argument("--series", type=int, default=200_000, help="series (default: %(default)s)")
    parser.add_argument("--length", type=int, default=512, help="steps per series (default: %(default)s)")
    parser.add_argument("--horizon", type=int, default=48, help="forecast horizon (default: %(default)s)")
    parser.add_argument("--model", default="tsfm-bolt-mini", help="model (default: %(default)s)")
    parser.add_argument("--series-per-file", type=int, default=2000, help="series per partition (default: %(default)s)")
    parser.add_argument("--block-series", type=int, default=256, help="series per block (default: %(default)s)")
    parser.add_argument("--runs", default="one,two,local,kill", help="one,two,local,kill,memory (default: %(default)s)")
    parser.add_argument("--memory-series", default="200000,2000000", help="two sizes (default: %(default)s)")
    parser.add_argument("--memory-length", type=int, default=128, help="steps (default: %(default)s)")
    parser.add_argument("--work-dir", default="/tmp/tsfm-fleet-bench", help="data and outputs (default: %(default)s)")
    args = parser.parse_args(argv)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = sorted(set(runs) - {"one", "two", "local", "kill", "memory"})
    if unknown:
        raise InputError(f"--runs: unknown {unknown}; known: one, two, local, kill, memory")
    return run(args, runs)


def run(args: argparse.Namespace, runs: list[str]) -> int:
    import ray

    from tsfm.tasks.fleet.work import ForecastWork

    root = Path(args.work_dir)
    throughput = [r for r in runs if r != "memory"]
    data = synthetic_dataset(root, args.series, args.length, args.series_per_file) if throughput else None
    work = ForecastWork(COLUMNS, args.model, args.horizon, (0.1, 0.5, 0.9), device="cpu")
    rows, figures = [], {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    try:
        for name in [r for r in runs if r in ("one", "two", "kill")]:
            rows.append(ray_run(name, work, data, root / f"out-{name}", 1 if name == "one" else 2, args.block_series))
        if "local" in runs:
            rows.append(local_run(work, data, root / "out-local", args.block_series))
        if "memory" in runs:
            figures["memory"] = memory_check(args, work, root, rows)
    finally:
        ray.shutdown()
    report(pd.DataFrame(rows), figures, args)
    return 0


def synthetic_dataset(root: Path, n_series: int, length: int, per_file: int) -> Path:
    """Parquet partitions of ``n_series`` series, written once per (n_series, length, per_file)."""
    folder = root / f"data-{n_series}x{length}-{per_file}"
    if (folder / "_complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stamps = pd.date_range("2024-01-01", periods=length, freq="h").to_numpy()
    t = np.arange(length)
    for start in range(0, n_series, per_file):
        count = min(per_file, n_series - start)
        rng = np.random.default_rng(start)
        level, phase = rng.uniform(5, 50, (count, 1)), rng.uniform(0, 2 * np.pi, (count, 1))
        values = level + 3 * np.sin(2 * np.pi * t / 24 + phase) + np.sin(2 * np.pi * t / 168) \
            + rng.standard_normal((count, length))  # [count, length]
        ids = np.repeat([f"s{k:08d}" for k in range(start, start + count)], length)
        frame = pd.DataFrame({"item_id": ids, "timestamp": np.tile(stamps, count), "target": values.reshape(-1)})
        frame.to_parquet(folder / f"part-{start // per_file:05d}.parquet", index=False)
    (folder / "_complete").touch()
    return folder


def ray_run(name: str, work, data: Path, output: Path, workers: int, block_series: int) -> dict:
    """One Ray job; ``kill`` SIGKILLs the worker that reports first, then checks every series is there once."""
    from tsfm.tasks.fleet.engine import run_fleet

    shutil.rmtree(output, ignore_errors=True)
    killed: list[int] = []

    def kill_first(record: dict) -> None:
        if name == "kill" and not killed:
            killed.append(record["worker"])
            os.kill(record["worker"], signal.SIGKILL)

    result = run_fleet(work, data, output, workers=workers, threads_per_worker=1, block_series=block_series,
                       on_partition=kill_first, log=lambda line: None)
    row = summary(f"ray {workers} worker(s) x 1 thread" + (" (one killed)" if killed else ""), result.n_series,
                  result.seconds, result.records.values())
    if name == "kill":
        row["exactly_once"] = exactly_once(output, data, work.horizon)
    return row


def local_run(work, data: Path, output: Path, block_series: int) -> dict:
    """The single-process path: this process, 2 torch threads, the same partitions and blocks, no Ray."""
    import torch

    from tsfm.tasks.fleet.ledger import write_partition
    from tsfm.tasks.fleet.partitions import plan_partitions, read_blocks

    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    (output / "_done").mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        started = time.perf_counter()
        work.setup()
        plan = plan_partitions(data, COLUMNS)
        records = [write_partition(output, p, map(work.run, read_blocks(p, COLUMNS, block_series)))
                   for p in plan.partitions]
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
        work.model = None
    return summary("single process x 2 threads", plan.n_series, seconds, records)


def memory_check(args: argparse.Namespace, work, root: Path, rows: list[dict]) -> float:
    """Peak RSS of one worker on the larger of ``--memory-series`` over that on the smaller."""
    sizes = [int(s) for s in args.memory_series.split(",")]
    if len(sizes) != 2:
        raise InputError(f"--memory-series must be two sizes, got {args.memory_series!r}")
    peaks = []
    for size in sizes:
        data = synthetic_dataset(root, size, args.memory_length, args.series_per_file)
        row = ray_run("memory", work, data, root / f"out-memory-{size}", 1, args.block_series)
        row["run"] = f"memory: {size} x {args.memory_length}, 1 worker"
        rows.append(row)
        peaks.append(row["peak_rss_mb"])
    return peaks[1] / peaks[0]


def summary(label: str, n_series: int, seconds: float, records) -> dict:
    records = list(records)
    busy = sum(r["seconds"] for r in records)
    return {"run": label, "series": n_series, "seconds": round(seconds, 1),
            "series_per_s": round(n_series / seconds, 1),
            "series_per_busy_s": round(n_series / busy, 1) if busy else float("nan"),
            "peak_rss_mb": max((r.get("peak_rss_mb", float("nan")) for r in records), default=float("nan"))}


def exactly_once(output: Path, data: Path, horizon: int) -> bool:
    """Every input series has exactly ``horizon`` output rows, and no other series is there."""
    import pyarrow.dataset as ds

    counts = ds.dataset(output, format="parquet").to_table(columns=["item_id"]).to_pandas()["item_id"].value_counts()
    inputs = ds.dataset(data, format="parquet").to_table(columns=["item_id"]).to_pandas()["item_id"].unique()
    return bool(len(counts) == len(inputs) and set(counts.index) == set(inputs) and (counts == horizon).all())


def report(table: pd.DataFrame, figures: dict, args: argparse.Namespace) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    speed = dict(zip(table["run"], table["series_per_s"]))
    one = next((v for k, v in speed.items() if k.startswith("ray 1 worker")), None)
    two = next((v for k, v in speed.items() if k == "ray 2 worker(s) x 1 thread"), None)
    local = speed.get("single process x 2 threads")
    print(f"\nhorizon {args.horizon}, {args.model}; targets in brackets; throughput runs on {args.series} series x "
          f"{args.length} steps")
    if one and two:
        print(f"2 workers / 1 worker: {two / one:.2f}x (>= {TARGETS['two/one']})")
    if two and local:
        print(f"2 workers / single process x 2 threads: {two / local:.2f}x (>= {TARGETS['two/local']})")
    if "exactly_once" in table:
        print(f"killed worker: every series exactly once: {bool(table['exactly_once'].dropna().all())}")
    if "memory" in figures:
        print(f"peak RSS per worker, larger / smaller dataset: {figures['memory']:.2f}x (<= {TARGETS['memory']})")
