"""Fleet jobs on Ray Data (``--engine ray``): same results as the local engine, exactly once after a kill.

One local Ray cluster of 2 CPUs is shared by the module (starting Ray takes seconds). The
data are small synthetic fleets written as folders of parquet or CSV partitions.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsfm.errors import InputError
from tsfm.tasks.cli import main
from tsfm.tasks.fleet import Columns, ForecastWork, plan_partitions, run_fleet
from tsfm.tasks.fleet.partitions import Partition, read_blocks

COLUMNS = Columns("item_id", "timestamp", ("target",))
MODEL = "tsfm-bolt-mini"


def fleet_frame(n_series: int, length: int = 48, prefix: str = "s", seed: int = 0) -> pd.DataFrame:
    """Hourly series of different phases and levels, one block of rows per series."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_series):
        t = np.arange(length)
        y = 10 + k % 5 + np.sin(2 * np.pi * t / 12 + k) + 0.1 * rng.standard_normal(length)
        stamps = pd.date_range("2024-01-01", periods=length, freq="h")
        parts.append(pd.DataFrame({"item_id": f"{prefix}{k:03d}", "timestamp": stamps, "target": y}))
    return pd.concat(parts, ignore_index=True)


def write_fleet(folder: Path, n_files: int, per_file: int, suffix: str = ".parquet") -> pd.DataFrame:
    """``n_files`` partitions of ``per_file`` series each; returns all rows."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for f in range(n_files):
        frame = fleet_frame(per_file, prefix=f"p{f}-", seed=f)
        (frame.to_parquet if suffix == ".parquet" else frame.to_csv)(folder / f"part{f}{suffix}", index=False)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def ordered(table: pd.DataFrame, keys=("item_id", "timestamp")) -> pd.DataFrame:
    keys = [k for k in keys if k in table.columns]
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_same_results(local: pd.DataFrame, fleet: pd.DataFrame) -> None:
    local, fleet = ordered(local), ordered(fleet)
    assert list(local.columns) == list(fleet.columns)
    pd.testing.assert_frame_equal(local, fleet, check_exact=False, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster of 2 CPUs for the module; tests that need it skip when Ray is not installed."""
    ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[distributed]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 2**20)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, cluster):
    """A folder of 3 parquet partitions (8 series each) and the same rows as one file."""
    root = tmp_path_factory.mktemp("fleet")
    rows = write_fleet(root / "data", 3, 8)
    rows.to_parquet(root / "all.parquet", index=False)
    return root


# ----------------------------------------------------------------------------- reading, no Ray needed


@pytest.mark.parametrize("block_series", [1, 3, 7, 100])
def test_when_a_partition_is_read_in_blocks_then_every_series_is_whole_and_appears_once(tmp_path, block_series):
    frame = fleet_frame(10, length=30)
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    blocks = list(read_blocks(Partition(0, (str(tmp_path / "one.parquet"),), 10), COLUMNS, block_series))
    assert all(b["item_id"].nunique() <= block_series for b in blocks)
    ids = [i for b in blocks for i in b["item_id"].unique()]
    assert sorted(ids) == sorted(frame["item_id"].unique()) and len(ids) == len(set(ids))
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), frame)


def test_when_files_share_a_series_in_time_order_then_they_become_one_partition(tmp_path):
    frame = fleet_frame(4, length=40)
    first, second = frame[frame["timestamp"] < "2024-01-01 20:00"], frame[frame["timestamp"] >= "2024-01-01 20:00"]
    (tmp_path / "d").mkdir()
    first.to_parquet(tmp_path / "d" / "a.parquet", index=False)
    second.to_parquet(tmp_path / "d" / "b.parquet", index=False)
    fleet_frame(2, prefix="other").to_parquet(tmp_path / "d" / "c.parquet", index=False)
    plan = plan_partitions(tmp_path / "d", COLUMNS)
    assert [len(p.files) for p in plan.partitions] == [2, 1] and plan.n_series == 6
    merged = pd.concat(read_blocks(plan.partitions[0], COLUMNS, 2), ignore_index=True)
    pd.testing.assert_frame_equal(ordered(merged), ordered(frame))


def test_when_a_split_series_overlaps_in_time_then_it_cannot_be_repaired(tmp_path):
    frame = fleet_frame(3, length=20)
    (tmp_path / "d").mkdir()
    frame.to_parquet(tmp_path / "d" / "a.parquet", index=False)
    frame[frame["item_id"] == "s001"].to_parquet(tmp_path / "d" / "b.parquet", index=False)
    with pytest.raises(InputError, match="'s001' is split across partitions .* cannot be repaired"):
        plan_partitions(tmp_path / "d", COLUMNS)


def test_when_ray_is_missing_then_engine_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["forecast", "--data", str(tmp_path), "--horizon", "4", "--output", str(tmp_path / "o"),
                 "--engine", "ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and 'pip install -e ".[distributed]"' in err


@pytest.mark.parametrize(
    ("device", "cluster_gpus", "wanted"),
    [("cpu", 1, False), ("auto", 0, False), ("auto", 2, True), ("cuda", 0, True), ("cuda:1", 4, True)],
)
def test_when_the_model_runs_on_cuda_then_each_actor_asks_for_a_gpu(device, cluster_gpus, wanted):
    from tsfm.tasks.fleet.engine import _wants_gpu

    class FakeRay:
        @staticmethod
        def cluster_resources():
            return {"CPU": 16.0, **({"GPU": float(cluster_gpus)} if cluster_gpus else {})}

    assert _wants_gpu(FakeRay, ForecastWork(COLUMNS, MODEL, 4, (0.5,), device=device)) is wanted


def test_when_a_worker_starts_then_every_thread_pool_it_uses_holds_its_threads_per_worker():
    """A worker of one thread stays on one core: torch, BLAS and pyarrow's parquet pools alike (in a
    child process, since the pools are per process)."""
    import subprocess

    code = (
        "import pyarrow, torch\n"
        "from tsfm.tasks.fleet import Columns, ForecastWork\n"
        "from tsfm.tasks.fleet.engine import PartitionRunner\n"
        "work = ForecastWork(Columns('item_id', 'timestamp', ('target',)), 'tsfm-bolt-mini', 4, (0.5,), device='cpu')\n"
        "PartitionRunner(work, {}, '.', 8, threads=1)\n"
        "print(torch.get_num_threads(), pyarrow.cpu_count(), pyarrow.io_thread_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1", "1"]


# ----------------------------------------------------------------------------- on the cluster


def test_when_forecast_runs_on_ray_then_results_equal_the_local_engine(fleet, tmp_path, capsys):
    common = ["--horizon", "6", "--model", MODEL, "--device", "cpu", "--quantiles", "0.1,0.5,0.9"]
    local = tmp_path / "l.parquet"
    assert main(["forecast", "--data", str(fleet / "all.parquet"), "--output", str(local), *common]) == 0
    assert main(["forecast", "--data", str(fleet / "data"), "--output", str(tmp_path / "r"), *common,
                 "--engine", "ray", "--block-series", "3"]) == 0
    err = capsys.readouterr().err
    assert all(f"part-0000{k}: 8 series" in err for k in range(3))  # progress per partition
    assert_same_results(pd.read_parquet(tmp_path / "l.parquet"), pd.read_parquet(tmp_path / "r"))


@pytest.mark.slow
def test_when_embed_and_detect_run_on_ray_then_results_equal_the_local_engine(fleet, tmp_path):
    for command, extra in (("embed", ["--model", MODEL, "--device", "cpu"]),
                           ("detect", ["--detector", "robust-zscore", "--reference-fraction", "0.9", "--no-plot"])):
        assert main([command, "--data", str(fleet / "all.parquet"), "--output", str(tmp_path / f"{command}.parquet"),
                     *extra]) == 0
        assert main([command, "--data", str(fleet / "data"), "--output", str(tmp_path / command), *extra,
                     "--engine", "ray"]) == 0
        assert_same_results(pd.read_parquet(tmp_path / f"{command}.parquet"), pd.read_parquet(tmp_path / command))


@pytest.mark.slow
def test_when_classify_runs_on_ray_then_results_equal_the_local_engine(fleet, tmp_path):
    train = fleet_frame(6, prefix="t")
    train["label"] = np.where(train["item_id"].str[-1].astype(int) % 2 == 0, "even", "odd")
    train.to_csv(tmp_path / "train.csv", index=False)
    common = ["--train", str(tmp_path / "train.csv"), "--model", MODEL, "--device", "cpu", "--views", "raw"]
    assert main(["classify", "--data", str(fleet / "all.parquet"), "--output", str(tmp_path / "l.csv"), *common]) == 0
    assert main(["classify", "--data", str(fleet / "data"), "--output", str(tmp_path / "r"), *common,
                 "--engine", "ray"]) == 0
    local = pd.read_csv(tmp_path / "l.csv", dtype={"label": str})
    assert_same_results(local, pd.read_parquet(tmp_path / "r"))


class Stop(Exception):
    """Stands for a driver killed between partitions."""


def test_when_the_job_is_killed_between_partitions_then_the_rerun_skips_finished_ones_and_writes_each_series_once(
    tmp_path, cluster
):
    rows = write_fleet(tmp_path / "data", 5, 4, suffix=".csv")
    work = ForecastWork(COLUMNS, MODEL, 4, (0.5,), device="cpu")
    finished = []

    def kill_after_two(record):
        finished.append(record)
        if len(finished) == 2:
            raise Stop

    with pytest.raises(Stop):
        run_fleet(work, tmp_path / "data", tmp_path / "out", on_partition=kill_after_two, log=lambda line: None)
    assert not (tmp_path / "out").exists()  # nothing published before the job completes
    result = run_fleet(work, tmp_path / "data", tmp_path / "out", log=lambda line: None)
    assert result.n_skipped >= 2 and result.n_run == 5 - result.n_skipped
    for record in finished:  # finished partitions were not redone
        assert result.records[record["index"]] == record
    out = pd.read_parquet(tmp_path / "out")
    counts = out.groupby("item_id").size()
    assert set(counts.index) == set(rows["item_id"]) and (counts == 4).all()  # every series once, 4 steps
    again = run_fleet(work, tmp_path / "data", tmp_path / "out", log=lambda line: None)
    assert again.n_run == 0 and again.n_skipped == 5


@pytest.mark.slow
def test_when_a_worker_process_is_killed_mid_job_then_the_job_completes_with_every_series_once(tmp_path, cluster):
    rows = write_fleet(tmp_path / "data", 8, 3)
    work = ForecastWork(COLUMNS, MODEL, 2, (0.5,), device="cpu")
    killed = []

    def kill_the_worker(record):
        if not killed:
            killed.append(record["worker"])
            os.kill(record["worker"], signal.SIGKILL)

    result = run_fleet(work, tmp_path / "data", tmp_path / "out", on_partition=kill_the_worker, log=lambda line: None)
    assert killed and result.n_run == 8
    out = pd.read_parquet(tmp_path / "out")
    assert sorted(out["item_id"].unique()) == sorted(rows["item_id"].unique())
    assert (out.groupby("item_id").size() == 2).all()


# ----------------------------------------------------------------------------- bad input, one line and exit 2


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tsfm ")]
    return code, "\n".join(err)


def test_when_the_dataset_lacks_the_target_column_then_one_line_and_exit_2(tmp_path, capsys, cluster):
    (tmp_path / "d").mkdir()
    fleet_frame(2).rename(columns={"target": "value"}).to_parquet(tmp_path / "d" / "a.parquet", index=False)
    code, err = run_cli(["forecast", "--data", str(tmp_path / "d"), "--horizon", "2", "--output",
                         str(tmp_path / "o"), "--engine", "ray"], capsys)
    assert code == 2 and "has no target column (target or y)" in err and len(err.splitlines()) == 1


def test_when_the_cluster_address_does_not_answer_then_it_fails_fast(fleet, tmp_path, capsys):
    code, err = run_cli(["embed", "--data", str(fleet / "data"), "--output", str(tmp_path / "o"), "--engine", "ray",
                         "--address", "127.0.0.1:9"], capsys)
    assert code == 2 and "--address '127.0.0.1:9': no Ray cluster answers there" in err
    assert not list(tmp_path.iterdir())  # neither the output nor its work folder was created


def test_when_output_holds_another_jobs_results_then_refused_and_kept_until_overwrite(fleet, tmp_path, capsys):
    common = ["forecast", "--data", str(fleet / "data"), "--output", str(tmp_path / "o"), "--engine", "ray",
              "--model", "seasonal-naive", "--season-length", "12", "--quantiles", "0.5"]
    assert main([*common, "--horizon", "3"]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir() if p.is_file()}
    code, err = run_cli([*common, "--horizon", "5"], capsys)
    assert code == 2 and "already holds another job's results" in err and len(err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir() if p.is_file()} == before
    assert main([*common, "--horizon", "5", "--overwrite"]) == 0
    assert len(pd.read_parquet(tmp_path / "o")) == 24 * 5
    marker = json.loads((tmp_path / "o" / ".tsfm-run.json").read_text())
    assert marker["complete"] and marker["job"]["task"]["horizon"] == 5
