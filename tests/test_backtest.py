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
