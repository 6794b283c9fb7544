"""The baseline gate of ``tsfm export --data``: refuse a model that loses to a classical baseline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tsfm
from tsfm.distill.gate import GATE_BASELINES, GATE_KEY, GateTimeoutError, baseline_gate, gate_csv_path
from tsfm.distill.runtime import OnnxRuntimeModel
from tsfm.distill.students import StudentConfig, build_student, save_student
from tsfm.tasks.cli import main

CONTEXT, HORIZON, SEASON = 48, 12, 12
EDGE = Path(__file__).parents[1] / "distill" / "edge"


def seasonal_series(n_series: int = 4, length: int = 120, noise: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """Strongly seasonal monthly series (period 12) of a random yearly shape, plus ``noise``.

    Without noise every year repeats the last exactly: seasonal naive is then perfect (WQL 0) and
    must win the gate.
    """
    rng = np.random.default_rng(seed)
    return [np.tile(100 + rng.uniform(-40, 40, SEASON), length // SEASON) + rng.normal(0, noise, length)
            for _ in range(n_series)]


@pytest.fixture(scope="module")
def weak_student(tmp_path_factory):
    """An MLP student trained one step: it cannot have learnt the season."""
    model = build_student(StudentConfig(architecture="mlp", context_length=CONTEXT, horizon=HORIZON, hidden_size=32))
    x = torch.from_numpy(np.stack([s[:CONTEXT] for s in seasonal_series()]).astype(np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = (model(x)[:, :, 4] - x[:, -HORIZON:]).abs().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return save_student(model.eval(), tmp_path_factory.mktemp("student") / "mlp")


@pytest.fixture(scope="module")
def seasonal_csv(tmp_path_factory):
    frames = [
        pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2000-01-01", periods=len(s), freq="MS"),
                      "target": s})
        for i, s in enumerate(seasonal_series(noise=0.0))
    ]
    path = tmp_path_factory.mktemp("data") / "seasonal.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


class Oracle(tsfm.BaseForecaster):
    """Knows the series: forecasts each context's true continuation (a model no baseline can beat)."""

    kind = "tsfm"

    def __init__(self, series: list[np.ndarray]) -> None:
        super().__init__("oracle")
        self.series = series

    def _predict_quantiles(self, context, horizon, levels):
        truth = []
        for c in context:
            whole = next(s for s in self.series if len(s) >= len(c) + horizon and np.array_equal(s[: len(c)], c))
            truth.append(whole[len(c) : len(c) + horizon])
        point = np.array(truth)  # [n, horizon]
        return point[:, :, None] + 0.01 * (levels - 0.5)[None, None, :], point


def test_when_the_student_loses_to_seasonal_naive_then_the_export_is_refused_in_one_line(
    weak_student, seasonal_csv, tmp_path, capsys
):
    out = tmp_path / "student.onnx"
    code = main(["export", str(weak_student), "--data", str(seasonal_csv), "--output", str(out)])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert re.search(r"refused: mlp loses to seasonal-naive: WQL [0-9.e+-]+ vs 0 on 3 validation window", err), err
    assert "pass --force" in err
    assert not out.exists() and not gate_csv_path(out).exists()


def test_when_forced_then_the_file_carries_the_gate_in_its_metadata_and_a_csv_beside_it(
    weak_student, seasonal_csv, tmp_path, capsys
):
    out = tmp_path / "student.onnx"
    code = main(["export", str(weak_student), "--data", str(seasonal_csv), "--output", str(out), "--force"])

    assert code == 0, capsys.readouterr().err
    gate = OnnxRuntimeModel(out).gate
    assert gate["metric"] == "WQL" and gate["passed"] is False and gate["forced"] is True
    assert gate["best_baseline"] == "seasonal-naive" and gate["score"] > gate["baseline_score"]
    assert [row["model"] for row in gate["scores"]][1:] == list(GATE_BASELINES)
    table = pd.read_csv(gate_csv_path(out))
    assert list(table["role"]) == ["exported", "baseline", "baseline", "baseline"]
    assert set(table["verdict"]) == {"forced"}
    assert OnnxRuntimeModel(out).forecast([seasonal_series()[0]]).shape == (1, HORIZON, 9)  # still a forecaster


def test_when_the_edge_runtime_is_asked_for_info_then_it_prints_the_gate_without_torch_or_pandas(
    weak_student, seasonal_csv, tmp_path
):
    out = tmp_path / "student.onnx"
    assert main(["export", str(weak_student), "--data", str(seasonal_csv), "--output", str(out), "--force"]) == 0
    code = (
        "import sys\n"
        "from tsfm_edge.__main__ import main\n"
        f"assert main(['--info', {str(out)!r}]) == 0\n"
        "heavy = [name for name in ('torch', 'tsfm', 'pandas') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(EDGE)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=EDGE, env=env)

    assert done.returncode == 0, done.stderr
    assert "baseline gate: forced: " in done.stdout and "best baseline seasonal-naive" in done.stdout
    assert "auto-ets: MASE" in done.stdout


def test_when_a_file_has_no_gate_then_the_runtime_says_so(weak_student, tmp_path):
    out = tmp_path / "plain.onnx"
    assert main(["export", str(weak_student), "--output", str(out)]) == 0
    model = OnnxRuntimeModel(out)
    assert model.gate is None and GATE_KEY not in model.metadata
    assert "baseline gate: not recorded" in model.describe()


def test_when_force_is_given_without_data_then_one_line_says_it_needs_data(weak_student, tmp_path, capsys):
    out = tmp_path / "x.onnx"
    assert main(["export", str(weak_student), "--output", str(out), "--force"]) == 2
    assert "--force only overrides the baseline gate, which needs --data" in capsys.readouterr().err
    assert not out.exists()


def test_when_the_model_is_better_than_every_baseline_then_the_gate_passes():
    series = seasonal_series()
    gate = baseline_gate(Oracle(series), series, HORIZON, SEASON, windows=3, metric="MASE")

    assert gate.passed and gate.score < gate.baseline_score
    assert re.match(rf"oracle beats {gate.best_baseline}: MASE 0 vs [0-9.]+ on 3 validation windows?", gate.line())
    assert gate.best_baseline in GATE_BASELINES
    assert list(gate.table["windows"]) == [12, 12, 12, 12]  # 4 series x 3 windows, the same for every model


def test_when_the_gate_metric_is_unknown_then_the_error_lists_the_allowed_ones():
    with pytest.raises(tsfm.InputError, match=r"metric must be one of \['WQL', 'MASE'\], got 'sMAPE'"):
        baseline_gate(Oracle(seasonal_series()), seasonal_series(), HORIZON, SEASON, metric="sMAPE")


def test_when_the_gate_runs_then_baselines_fit_the_backtests_capped_history_and_the_file_records_it():
    series = seasonal_series(n_series=2, length=2400)
    gate = baseline_gate(Oracle(series), series, HORIZON, SEASON, windows=2, baselines=("naive",))
    assert gate.to_dict()["baseline_max_history"] == 2000
    assert gate.passed and list(gate.table["windows"]) == [4, 4]


class Sleeper(tsfm.BaseForecaster):
    """A model that takes ``seconds`` per call."""

    kind = "tsfm"

    def __init__(self, seconds: float) -> None:
        super().__init__("sleeper")
        self.seconds = seconds

    def _predict_quantiles(self, context, horizon, levels):
        time.sleep(self.seconds)
        last = np.array([c[-1] for c in context])
        return np.repeat(last[:, None, None], horizon, 1) + (levels - 0.5), np.repeat(last[:, None], horizon, 1)


def test_when_the_gate_runs_past_its_time_budget_then_it_stops_and_says_what_it_scored():
    series = seasonal_series()
    start = time.monotonic()
    with pytest.raises(GateTimeoutError) as caught:
        baseline_gate(Sleeper(30.0), series, HORIZON, SEASON, time_budget=0.5)
    assert time.monotonic() - start < 5, "the budget ends a model call in progress"
    message = str(caught.value)
    assert re.match(r"baseline gate stopped after \d+ s, over its time budget of 0.5 s: sleeper had not finished "
                    r"its windows of 4 series \(3 per series, horizon 12\); pass --time-budget", message), message
    with pytest.raises(tsfm.InputError, match="time_budget must be a positive number of seconds or None, got 0"):
        baseline_gate(Sleeper(0.0), series, HORIZON, SEASON, time_budget=0)


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory):
    """24 noisy daily-seasonal hourly series of 600 values: auto-ets fits them for many seconds in workers."""
    rng = np.random.default_rng(3)
    t = np.arange(600)
    frames = [
        pd.DataFrame({"item_id": f"h{i}", "timestamp": pd.date_range("2020-01-01", periods=600, freq="h"),
                      "target": 50 + 10 * np.sin(2 * np.pi * t / 24 + i) + 0.01 * t * i + rng.normal(0, 2, 600)})
        for i in range(24)
    ]
    path = tmp_path_factory.mktemp("hourly") / "hourly.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def hourly_student(tmp_path_factory):
    model = build_student(StudentConfig(architecture="linear", context_length=48, horizon=24))
    return save_student(model.eval(), tmp_path_factory.mktemp("hourly-student") / "linear")


def test_when_the_cli_gate_is_over_budget_then_one_line_says_so_and_nothing_is_written(
    hourly_student, hourly_csv, tmp_path, capsys
):
    import multiprocessing

    out = tmp_path / "student.onnx"
    code = main(["export", str(hourly_student), "--data", str(hourly_csv), "--output", str(out), "--force",
                 "--time-budget", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "over its time budget of 2 s" in err and "auto-ets had not finished" in err, err
    assert not out.exists() and not gate_csv_path(out).exists()
    assert multiprocessing.active_children() == [], "the baselines' workers were ended"


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # a subprocess each: ~10 s on 2 busy cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("signum", "codes"), [
    (signal.SIGTERM, {143, -signal.SIGTERM}), (signal.SIGINT, {130}), (signal.SIGKILL, {-signal.SIGKILL}),
])
def test_when_a_gate_run_is_killed_then_no_worker_process_outlives_it(hourly_student, hourly_csv, tmp_path, signum,
                                                                       codes):
    command = [sys.executable, "-m", "tsfm.tasks.cli", "export", str(hourly_student), "--data", str(hourly_csv),
               "--output", str(tmp_path / "student.onnx"), "--force", "--time-budget", "none"]
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT: restore it.
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(run.pid)) < 2 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # until auto-ets is fitting in its worker processes
        assert len(workers) >= 2, f"no workers started: {run.poll()=}"
        time.sleep(0.5)
        run.send_signal(signum)
        code = run.wait(timeout=30)
        deadline = time.monotonic() + 10
        while [w for w in workers if _running(w)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _running(w)], f"workers {workers} outlived the gate killed by {signum!r}"
        assert code in codes, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
