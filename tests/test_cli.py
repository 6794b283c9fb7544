"""The ``tsfm`` command: subcommands, files written, one-line errors with exit code 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsfm.tasks.cli import main


@pytest.fixture()
def hourly_csv(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for item in ("pump-a", "pump-b", "pump-c"):
        stamps = pd.date_range("2024-01-01", periods=24 * 12, freq="h")
        t = np.arange(len(stamps))
        target = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, len(t))
        frames.append(pd.DataFrame({"item_id": item, "timestamp": stamps, "target": target}))
    path = tmp_path / "sensors.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_when_listing_models_then_each_line_has_a_name_and_kind(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = dict(line.split("\t")[:2] for line in lines)
    assert rows["seasonal-naive"] == "baseline"
    assert rows["fracast-0"] == "tsfm"


def test_when_forecasting_a_csv_then_quantiles_are_written_with_future_timestamps(hourly_csv, tmp_path):
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--data", str(hourly_csv), "--horizon", "12", "--model", "seasonal-naive",
                 "--output", str(out)])
    assert code == 0
    fc = pd.read_csv(out, parse_dates=["timestamp"])
    assert len(fc) == 3 * 12
    assert {"item_id", "timestamp", "mean", "0.1", "0.5", "0.9"} <= set(fc.columns)
    first = fc[fc["item_id"] == "pump-a"]["timestamp"].iloc[0]
    assert first == pd.Timestamp("2024-01-13 00:00:00")  # one hour after the last observation


def test_when_evaluating_then_leaderboard_per_series_and_plot_are_written(hourly_csv, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["evaluate", "--data", str(hourly_csv), "--horizon", "24", "--models", "naive,fracast-0",
                 "--windows", "2", "--output", str(out)])
    assert code == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"model", "MASE", "WQL", "sMAPE", "coverage_80", "seconds"} <= set(board.columns)
    assert set(board["model"]) == {"naive", "fracast-0", "seasonal-naive"}
    assert board["WQL"].is_monotonic_increasing
    per_series = pd.read_csv(out / "per_series.csv")
    assert len(per_series) == 3 * 3 * 2  # models x series x windows
    assert (out / "forecasts.png").stat().st_size > 10_000
    assert "season length 24" in capsys.readouterr().out  # inferred from the hourly frequency


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forecast", "--data", "missing.csv", "--horizon", "4", "--output", "x.csv"], "missing.csv"),
        (["forecast", "--data", "aeon:airline", "--horizon", "0", "--model", "naive", "--output", "x.csv"],
         "horizon must be a positive integer"),
        (["forecast", "--data", "aeon:airline", "--horizon", "4", "--model", "nope", "--output", "x.csv"],
         "unknown model 'nope'"),
        (["forecast", "--data", "aeon:airline", "--horizon", "4", "--model", "naive", "--output", "x.txt"],
         "--output must end in .csv or .parquet"),
        (["evaluate", "--data", "aeon:airline", "--horizon", "4", "--models", "naive", "--quantiles", "0.5,2"],
         "strictly between 0 and 1"),
    ],
)
def test_when_input_is_bad_then_one_line_error_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_when_debug_is_set_then_the_exception_propagates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="unknown model"):
        main(["--debug", "forecast", "--data", "aeon:airline", "--horizon", "4", "--model", "nope",
              "--output", "x.csv"])


@pytest.mark.slow  # the full quickstart: auto-ets and auto-theta on 181 series
def test_when_running_quickstart_then_the_bundled_model_and_baselines_are_ranked_offline(tmp_path, capsys):
    out = tmp_path / "quickstart"
    assert main(["quickstart", "--output", str(out)]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"tsfm-bolt-mini", "fracast-0", "auto-ets", "seasonal-naive"} <= set(board["model"])
    assert np.isfinite(board[["MASE", "WQL", "coverage_80"]].to_numpy()).all()
    assert (out / "forecasts.png").is_file()
    assert "181 series" in capsys.readouterr().out


def test_when_running_the_suite_on_one_dataset_then_it_prints_the_geometric_means(tmp_path, capsys):
    code = main(["suite", "--models", "naive", "--datasets", "lynx", "--output", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "geometric mean" in out and "lynx: ensemble weights" in out
    assert set(pd.read_csv(tmp_path / "suite_summary.csv")["model"]) == {"naive", "seasonal-naive", "ensemble"}


def test_when_the_suite_is_told_no_ensemble_then_only_the_members_are_ranked(tmp_path):
    code = main(["suite", "--models", "naive", "--datasets", "lynx", "--output", str(tmp_path), "--no-ensemble"])
    assert code == 0
    assert set(pd.read_csv(tmp_path / "suite_summary.csv")["model"]) == {"naive", "seasonal-naive"}
