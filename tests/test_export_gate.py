"""The baseline gate of ``tsfm export --data``: refuse a model that loses to a classical baseline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tsfm
from tsfm.distill.gate import GATE_BASELINES, GATE_KEY, baseline_gate, gate_csv_path
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
