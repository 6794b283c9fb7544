"""tsfm bench calibration: coverage after calibrating long single series at several cut points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsfm
from tsfm.adapters.calibration import CalibrationConfig
from tsfm.adapters.calibration_bench import coverage_by_cut, main, summary
from tsfm.errors import InputError


def _columns(length: int = 1_200) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(length)
    return {name: 10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, noise, length)
            for name, noise in (("calm", 0.1), ("noisy", 1.0))}


def test_when_cut_at_several_points_then_each_setting_is_scored_on_the_same_held_out_windows():
    model = tsfm.load("seasonal-naive", season_length=12)
    settings = {"few": CalibrationConfig(min_windows=10), "many": CalibrationConfig(min_windows=60)}
    table = coverage_by_cut(model, _columns(), settings, cuts=(0.5, 0.75), horizon=6, eval_windows=5)
    assert list(table.columns) == ["column", "cut", "uncalibrated", "few", "many"]
    assert list(zip(table["column"], table["cut"])) == [("calm", 0.5), ("calm", 0.75), ("noisy", 0.5), ("noisy", 0.75)]
    values = table[["uncalibrated", "few", "many"]].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert not np.allclose(table["few"], table["many"])  # different settings, different offsets
    report = summary(table)
    assert list(report.index) == ["uncalibrated", "few", "many"] and (report["cases"] == 4).all()
    np.testing.assert_allclose(report.loc["few", "mean coverage"], table["few"].mean())
    distance = (table[["uncalibrated", "few", "many"]] - 0.8).abs().mean()
    np.testing.assert_allclose(report["mean |coverage - nominal|"], distance)


@pytest.mark.parametrize(("cuts", "length", "message"), [
    ((0.5, 1.0), 1_200, r"cuts must lie strictly between 0 and 1, got \[1.0\]"),
    ((0.9,), 300, "'x' has 300 values: the cut at 90% leaves 30, fewer than the 60 that 10 windows of 6 steps need"),
])
def test_when_cuts_do_not_fit_then_input_error_says_why(cuts, length, message):
    model = tsfm.load("naive")
    with pytest.raises(InputError, match=message):
        coverage_by_cut(model, {"x": np.arange(length, dtype=float)}, {"d": CalibrationConfig()}, cuts, 6, 10)


def test_when_a_column_is_missing_then_the_command_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    pd.DataFrame(_columns(100)).to_csv(path, index=False)
    assert main(["--data", str(path), "--columns", "calm,OT"]) == 2
    err = capsys.readouterr().err
    assert "--columns ['OT'] are not in" in err and "calm" in err and len(err.strip().splitlines()) == 1
