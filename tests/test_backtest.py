"""Rolling-origin backtest and leaderboard: window cutting, aggregation, M4 reference figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsfm
from tests.conftest import shared_data
from tsfm.tasks.backtest import BacktestConfig, make_windows, run_backtest
from tsfm.tasks.leaderboard import LEADERBOARD_COLUMNS, leaderboard


class ConstantForecaster(tsfm.BaseForecaster):
    """Predicts ``value`` at every step, with quantiles ``value + offsets``."""

    kind = "baseline"

    def __init__(self, name: str, value: float, spread: float = 1.0) -> None:
        super().__init__(name)
        self.value, self.spread = value, spread

    def _predict_quantiles(self, context, horizon, levels):
        offsets = (levels - 0.5) * 2 * self.spread  # [n_q]
        quantiles = np.broadcast_to(self.value + offsets, (len(context), horizon, len(levels)))
        return quantiles.copy(), np.full((len(context), horizon), self.value)


def test_when_cutting_windows_then_each_origin_steps_back_from_the_series_end():
    series = [np.arange(20.0), np.arange(30.0)]
    windows, skipped = make_windows(series, BacktestConfig(horizon=4, windows=3, step=2, season_length=1))
    assert skipped == 0
    assert [len(c) for c in windows[0].contexts] == [12, 22]
    assert [len(c) for c in windows[2].contexts] == [16, 26]
    np.testing.assert_array_equal(windows[2].targets[0], [16, 17, 18, 19])
    np.testing.assert_array_equal(windows[0].targets[1], [22, 23, 24, 25])


def test_when_a_series_is_too_short_for_a_window_then_it_is_skipped_and_counted():
    series = [np.arange(8.0), np.arange(40.0)]
    windows, skipped = make_windows(series, BacktestConfig(horizon=4, windows=2, season_length=3))
    # The short series has an empty context in the older window and exactly the 4 observations
    # (season_length + 1) that MASE needs in the last one.
    assert skipped == 1
    assert list(windows[0].positions) == [1]
    assert list(windows[1].positions) == [0, 1]
    assert len(windows[1].contexts[0]) == 4


def test_when_no_series_fits_a_window_then_the_error_says_what_to_reduce():
    with pytest.raises(tsfm.InputError, match="reduce windows"):
        make_windows([np.arange(10.0)], BacktestConfig(horizon=6, windows=3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, "horizon must be a positive integer"),
        ({"horizon": 4, "windows": 0}, "windows must be a positive integer"),
        ({"horizon": 4, "step": -1}, "step must be a positive integer"),
        ({"horizon": 4, "season_length": 0}, "season_length must be a positive integer"),
        ({"horizon": 4, "quantile_levels": (0.5, 1.0)}, "strictly between 0 and 1"),
    ],
)
def test_when_backtest_config_is_bad_then_the_error_names_the_field(kwargs, message):
    with pytest.raises(tsfm.InputError, match=message):
        BacktestConfig(**kwargs)


def test_when_scoring_constant_forecasts_then_metrics_match_hand_computation():
    # history 0..9 (seasonal naive scale with m=1 is 1.0), future 10, 11
    series = [np.arange(12.0)]
    config = BacktestConfig(horizon=2, windows=1, season_length=1, quantile_levels=(0.5,))
    result = run_backtest([ConstantForecaster("const", 10.0, spread=1.0)], series, config, progress=False)
    row = result.scores.iloc[0]
    assert row["MASE"] == pytest.approx((0 + 1) / 2 / 1.0)
    assert row["sMAPE"] == pytest.approx(100 * (0 / 20 + 1 / 21))
    assert row["MSE"] == pytest.approx(0.5)
    assert row["covered_80"] == pytest.approx(0.5)  # the 0.1-0.9 band 9.2..10.8 holds 10, not 11
    assert result.config.quantile_levels == (0.1, 0.5, 0.9)  # coverage levels are always added


def test_when_ranking_then_the_better_model_leads_and_relative_scores_use_the_reference():
    rng = np.random.default_rng(0)
    series = [100 + rng.normal(0, 1, 60) for _ in range(4)]
    config = BacktestConfig(horizon=5, windows=2, season_length=1)
    good, bad = ConstantForecaster("good", 100.0, 1.5), ConstantForecaster("bad", 90.0, 1.5)
    result = run_backtest([bad, good], series, config, progress=False)
    board = leaderboard(result.scores, result.seconds, reference="bad")
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert list(board["model"]) == ["good", "bad"]
    assert board.set_index("model").loc["bad", "rel_MASE"] == pytest.approx(1.0)
    assert board.set_index("model").loc["good", "rel_WQL"] < 0.5
    assert (board["seconds"] >= 0).all()


def test_when_wql_is_aggregated_then_it_pools_losses_over_all_series():
    scores = pd.DataFrame(
        {
            "model": ["m", "m"], "item_id": ["a", "b"], "window": [0, 0], "MASE": [1.0, 3.0],
            "sMAPE": [1.0, 1.0], "MSE": [1.0, 1.0], "quantile_loss": [2.0, 6.0],
            "abs_target": [100.0, 300.0], "covered_80": [1.0, 0.5],
        }
    )
    board = leaderboard(scores, {"m": 0.0}, reference=None)
    assert board.loc[0, "WQL"] == pytest.approx(8.0 / 400.0)
    assert board.loc[0, "MASE"] == pytest.approx(2.0)
    assert board.loc[0, "coverage_80"] == pytest.approx(0.75)
    assert np.isnan(board.loc[0, "rel_MASE"])


def test_when_seasonal_naive_runs_on_m4_hourly_then_it_reproduces_the_official_scores():
    from tsfm.datasets import load_m4

    ids, train, test = load_m4(shared_data("m4"))
    series = [np.concatenate([a, b]) for a, b in zip(train, test)]
    config = BacktestConfig(horizon=48, windows=1, season_length=24)
    model = tsfm.load("seasonal-naive", season_length=24)
    result = run_backtest([model], series, config, ids, progress=False)
    board = leaderboard(result.scores, result.seconds, reference="seasonal-naive")
    assert len(result.scores) == 414
    assert board.loc[0, "sMAPE"] == pytest.approx(13.912, abs=5e-4)
    assert board.loc[0, "MASE"] == pytest.approx(1.193, abs=5e-4)
    assert board.loc[0, "rel_MASE"] == pytest.approx(1.0)


class RecordingForecaster(ConstantForecaster):
    """A constant forecaster that records the context lengths it is given and can be slow."""

    def __init__(self, name: str, kind: str = "baseline", sleep: float = 0.0) -> None:
        super().__init__(name, 10.0)
        self.kind, self.sleep, self.lengths = kind, sleep, []

    def _predict_quantiles(self, context, horizon, levels):
        import time

        self.lengths.append([len(c) for c in context])
        time.sleep(self.sleep)
        return super()._predict_quantiles(context, horizon, levels)


def test_when_cutting_windows_then_they_are_the_validation_engines_windows():
    from tsfm.rolling import RollingWindows

    series = [np.arange(20.0), np.arange(30.0)]
    windows, _ = make_windows(series, BacktestConfig(horizon=4, windows=3, step=2, season_length=1))
    engine = RollingWindows(4, 3, 2, min_train_length=2).split(series)
    for window in windows:
        mine = [w for w in engine if w.window == window.index]
        assert list(window.positions) == [w.item for w in mine]
        assert [len(c) for c in window.contexts] == [w.origin for w in mine]


def test_when_max_history_is_set_then_baselines_fit_only_the_last_values_and_mase_keeps_the_whole_scale():
    series = [np.arange(50.0) % 7]
    config = BacktestConfig(horizon=4, windows=2, season_length=1)
    capped, tsfm_like = RecordingForecaster("capped"), RecordingForecaster("tsfm-like", kind="tsfm")
    result = run_backtest([capped, tsfm_like], series, config, progress=False, max_history=5)
    uncapped = run_backtest([RecordingForecaster("capped")], series, config, progress=False, max_history=None)

    assert capped.lengths == [[5], [5]]  # the baseline sees the last 5 values of each context
    assert tsfm_like.lengths == [[42], [46]]  # other models keep the whole context
    np.testing.assert_allclose(
        result.scores.query("model == 'capped'")["MASE"], uncapped.scores["MASE"]
    )  # same forecast, same in-sample scale over the whole history


def test_when_a_model_goes_over_its_time_budget_then_it_stops_and_the_leaderboard_says_so():
    series = [np.arange(60.0)]
    config = BacktestConfig(horizon=4, windows=4, season_length=1)
    slow, fast = RecordingForecaster("slow", sleep=0.3), RecordingForecaster("fast")
    result = run_backtest([slow, fast], series, config, progress=False, time_budget=0.2)
    board = leaderboard(result.scores, result.seconds, "fast", result.notes).set_index("model")

    assert len(slow.lengths) == 1 and len(fast.lengths) == 4
    assert board.loc["slow", "note"].startswith("over budget after 0 s: scored 1 of 4 windows")
    assert board.loc["fast", "note"] == ""
    assert "slow" not in result.last_forecasts  # the plot's last window has no forecast of it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_history": 0}, "max_history must be a positive integer or None, got 0"),
        ({"time_budget": -1.0}, "time_budget must be a positive number of seconds or None, got -1.0"),
    ],
)
def test_when_a_backtest_limit_is_bad_then_the_error_names_it(kwargs, message):
    with pytest.raises(tsfm.InputError, match=message):
        run_backtest([ConstantForecaster("c", 1.0)], [np.arange(20.0)], BacktestConfig(horizon=2), progress=False,
                     **kwargs)


def test_when_evaluate_is_given_a_time_budget_flag_then_the_note_reaches_the_printed_leaderboard(tmp_path, capsys):
    from tsfm.tasks.cli import main

    frame = pd.DataFrame({"item_id": "a", "timestamp": pd.date_range("2000-01-01", periods=80, freq="D"),
                          "target": np.arange(80.0) % 7})
    frame.to_csv(tmp_path / "d.csv", index=False)
    code = main(["evaluate", "--data", str(tmp_path / "d.csv"), "--horizon", "7", "--windows", "3",
                 "--models", "naive", "--max-history", "all", "--time-budget", "1e-9", "--plot-series", "0",
                 "--output", str(tmp_path / "out")])

    assert code == 0
    assert "over budget after 0 s: scored 1 of 3 windows" in capsys.readouterr().out
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board["note"].fillna("").str.startswith("over budget").all()
