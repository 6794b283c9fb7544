"""Conformal calibration: coverage within binomial tolerance, a new model, a folder tsfm.load opens."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import tsfm
from tests.conftest import seasonal_panel
from tsfm.adapters.calibration import (
    CalibratedForecaster,
    CalibrationConfig,
    calibrate,
    coverage_report,
)
from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.metrics import series_scale

HORIZON = 4


class OverconfidentForecaster(BaseForecaster):
    """Forecasts N(0, sigma) quantiles whatever the context: too narrow when the data are wider."""

    def __init__(self, sigma: float = 0.5) -> None:
        super().__init__("overconfident")
        self.sigma = sigma

    def _predict_quantiles(self, context, horizon, levels):
        q = norm.ppf(levels) * self.sigma
        quantiles = np.broadcast_to(q, (len(context), horizon, len(levels))).copy()
        return quantiles, np.zeros((len(context), horizon))


def _panel(n_series: int, length: int, seed: int, sigma=1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = sigma if callable(sigma) else (lambda t: np.full(t.shape, sigma))
    return [rng.normal(0.0, 1.0, length) * scale(np.arange(length)) for _ in range(n_series)]


def _tolerance(n_cal: int, n_test: int, p: float = 0.8) -> float:
    """Three standard deviations of the difference of two binomial shares."""
    return 3.0 * np.sqrt(p * (1 - p) * (1.0 / n_cal + 1.0 / n_test))


def test_when_split_calibrated_on_iid_data_then_coverage_is_nominal_within_binomial_tolerance():
    model = OverconfidentForecaster()
    history = _panel(200, 60, seed=0)
    calibrated = calibrate(model, history, HORIZON, CalibrationConfig(windows=2), progress=False)
    test = _panel(500, 60, seed=1)
    table = coverage_report([model, calibrated], test, HORIZON).table.set_index("model")
    n_cal, n_test = 200 * 2, int(table.loc[calibrated.name, "n"])
    assert table.loc["overconfident", "coverage"] < 0.6
    assert abs(table.loc[calibrated.name, "coverage"] - 0.8) < _tolerance(n_cal, n_test)
    assert table.loc[calibrated.name, "relative_width"] > table.loc["overconfident", "relative_width"]


def test_when_calibrated_then_every_level_is_calibrated_not_only_the_interval():
    history, test = _panel(300, 40, seed=2), _panel(400, 40, seed=3)
    calibrated = calibrate(OverconfidentForecaster(), history, HORIZON, CalibrationConfig(windows=2), progress=False)
    levels = (0.2, 0.5, 0.7)
    fc = calibrated.predict_quantiles([s[:-HORIZON] for s in test], HORIZON, levels)
    y = np.vstack([s[-HORIZON:] for s in test])[:, :, None]
    below = (y <= fc.quantiles).mean(axis=(0, 1))
    np.testing.assert_allclose(below, levels, atol=_tolerance(600, y.size, 0.5))


def test_when_data_drift_then_adaptive_covers_the_recent_behaviour_and_split_does_not():
    # the level moves up by 2 noise units at t = 88 (the last 3 windows) and stays there
    def drifting(n_series, seed):
        return [s + np.where(np.arange(100) < 88, 0.0, 2.0) for s in _panel(n_series, 100, seed)]

    config = dict(windows=20, step=HORIZON)
    history = drifting(300, seed=4)
    split = calibrate(OverconfidentForecaster(), history, HORIZON, CalibrationConfig(**config), progress=False)
    adaptive = calibrate(
        OverconfidentForecaster(), history, HORIZON,
        CalibrationConfig(method="adaptive", memory=3, **config), progress=False,
    )
    adaptive.name = "adaptive"
    table = coverage_report([split, adaptive], drifting(300, seed=5), HORIZON).table.set_index("model")
    tol = _tolerance(300 * 3, int(table.loc["adaptive", "n"]))
    assert abs(table.loc["adaptive", "coverage"] - 0.8) < tol
    assert table.loc[split.name, "coverage"] < 0.8 - tol


def test_when_calibrating_then_the_given_model_is_untouched_and_a_new_one_returned():
    model = OverconfidentForecaster()
    context = _panel(3, 30, seed=6)
    before = model.predict_quantiles(context, HORIZON).quantiles.copy()
    calibrated = calibrate(model, _panel(100, 40, seed=7), HORIZON, progress=False)
    assert isinstance(calibrated, CalibratedForecaster) and calibrated is not model
    np.testing.assert_array_equal(model.predict_quantiles(context, HORIZON).quantiles, before)
    assert not np.allclose(calibrated.predict_quantiles(context, HORIZON).quantiles, before)


def test_when_saved_then_the_folder_round_trips_through_tsfm_load(tmp_path):
    panel = seasonal_panel(6, season=12)
    base = tsfm.load("seasonal-naive", season_length=12)
    calibrated = calibrate(base, panel, 6, CalibrationConfig(windows=3, min_per_step=5), progress=False)
    folder = calibrated.save(tmp_path / "calibrated")
    assert (folder / "calibration.json").read_text().startswith("{")
    loaded = tsfm.load(str(folder))  # default season_length=1: the stored 12 must win
    assert loaded.base.season_length == 12
    assert isinstance(loaded, CalibratedForecaster) and loaded.name == calibrated.name
    a = calibrated.predict_quantiles(panel, 6)
    b = loaded.predict_quantiles(panel, 6)
    np.testing.assert_allclose(a.quantiles, b.quantiles)
    np.testing.assert_allclose(a.mean, b.mean)


def test_when_horizon_exceeds_calibrated_steps_then_last_step_offsets_are_reused():
    calibrated = calibrate(OverconfidentForecaster(), _panel(100, 40, seed=8), HORIZON, progress=False)
    offsets = calibrated.offsets_at(np.array([0.1, 0.9]), HORIZON + 3)
    np.testing.assert_array_equal(offsets[HORIZON:], np.repeat(offsets[HORIZON - 1 : HORIZON], 3, axis=0))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: calibrate(OverconfidentForecaster(), [np.arange(4.0), np.arange(5.0)], 6, progress=False,
                           item_ids=["a", "b"]),
         r"calibration set is too short: a 6-step window needs 8 values .* the longest series, 'b', has 5"),
        (lambda: coverage_report([OverconfidentForecaster()], [np.arange(7.0), np.arange(3.0)], 6),
         r"no evaluation window fits: a 6-step window needs 8 values .* the longest series, #0, has 7"),
        (lambda: CalibrationConfig(min_windows=0), "min_windows must be a positive integer, got 0"),
        (lambda: CalibrationConfig(coverage=1.2), "coverage must lie strictly between 0 and 1, got 1.2"),
        (lambda: CalibrationConfig(coverage=0.0), "coverage must lie strictly between 0 and 1"),
        (lambda: CalibrationConfig(method="bayes"), "method must be one of"),
        (lambda: CalibrationConfig(windows=0), "windows must be a positive integer, got 0"),
        (lambda: CalibrationConfig(half_life=-1.0), "half_life must be a positive"),
        (lambda: CalibrationConfig(quantile_levels=(0.1, 1.5)), "quantile_levels must lie strictly"),
        (lambda: coverage_report([OverconfidentForecaster()], [np.zeros(20)], 4, coverage=1.0), "coverage must"),
        (lambda: calibrate(OverconfidentForecaster(), [], 4, progress=False),
         "history holds no series: calibrating a 4-step forecast needs at least one series of 6 values"),
    ],
)
def test_when_input_is_bad_then_clear_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def _write_panel_csv(path, n_series: int = 4, length: int = 120) -> str:
    import pandas as pd

    rng = np.random.default_rng(9)
    frames = [
        pd.DataFrame({"item_id": f"s{i}", "timestamp": np.arange(length),
                      "target": 20 + 5 * np.sin(np.arange(length) / 2) + rng.normal(0, 1, length)})
        for i in range(n_series)
    ]
    pd.concat(frames).to_csv(path, index=False)
    return str(path)


def test_when_calibrate_cli_runs_then_it_reports_before_after_and_evaluate_accepts_the_folder(tmp_path, capsys):
    from tsfm.tasks.cli import main

    data = _write_panel_csv(tmp_path / "panel.csv")
    folder = tmp_path / "cal"
    code = main(["calibrate", "--model", "naive", "--data", data, "--horizon", "6", "--windows", "8",
                 "--output", str(folder)])
    out = capsys.readouterr().out
    assert code == 0 and "naive+split" in out and "coverage" in out
    assert main(["evaluate", "--models", str(folder), "--data", data, "--horizon", "6", "--plot-series", "0",
                 "--output", str(tmp_path / "eval")]) == 0
    assert "naive+split" in capsys.readouterr().out


def test_when_calibrate_cli_gets_a_too_short_history_then_it_exits_with_a_clear_error(tmp_path, capsys):
    from tsfm.tasks.cli import main

    data = _write_panel_csv(tmp_path / "short.csv", length=10)
    code = main(["calibrate", "--model", "naive", "--data", data, "--horizon", "6", "--output", str(tmp_path / "c")])
    assert code == 2 and "calibration set is too short" in capsys.readouterr().err


def test_when_history_is_one_long_series_then_more_windows_reach_back_through_it():
    from tsfm.adapters.calibration import calibration_rolling

    one = [np.zeros(10_000)]
    assert calibration_rolling(one, 24, CalibrationConfig()).windows == 200  # not the last 5 days alone
    assert calibration_rolling(one, 24, CalibrationConfig(min_windows=1)).windows == 5
    panel = [np.zeros(500)] * 40  # 40 series x 5 windows = 200 pairs: enough as it is
    assert calibration_rolling(panel, 24, CalibrationConfig()).windows == 5
    short = [np.zeros(100)]  # added windows keep at least half of the series as context
    assert calibration_rolling(short, 10, CalibrationConfig()).windows == 5
    assert calibration_rolling([np.zeros(300)], 10, CalibrationConfig()).windows == 15  # earliest origin 150


def test_when_steps_have_under_min_per_step_residuals_then_every_step_shares_pooled_offsets():
    one = [np.sin(np.arange(6_000) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.3, 6_000)]
    pooled = calibrate(OverconfidentForecaster(), one, HORIZON, progress=False)  # one series: 200 windows
    assert pooled.info["residuals_per_step"] == 200 and not pooled.info["per_step"]  # under MIN_PER_STEP
    assert pooled.offsets.shape == (1, len(pooled.calibrated_levels))
    per_step = calibrate(OverconfidentForecaster(), one, HORIZON, CalibrationConfig(min_per_step=50), progress=False)
    assert per_step.info["per_step"] and per_step.offsets.shape[0] == HORIZON


class CountingForecaster(OverconfidentForecaster):
    """Forecasts from each context's last value, counts its calls, and fails on a context holding ``fail_at``."""

    def __init__(self, fail_at: float | None = None) -> None:
        super().__init__()
        self.calls, self.fail_at = 0, fail_at

    def _predict_quantiles(self, context, horizon, levels):
        self.calls += 1
        if self.fail_at is not None and any(np.any(c == self.fail_at) for c in context):
            raise RuntimeError("cannot forecast this context")
        quantiles, mean = super()._predict_quantiles(context, horizon, levels)
        last = np.array([c[-1] for c in context])[:, None]
        return quantiles + last[:, :, None], mean + last


def test_when_calibrating_then_all_windows_are_forecast_in_one_call_with_the_residuals_of_one_call_each():
    from tsfm.adapters.calibration import calibration_rolling, calibration_windows

    panel = _panel(6, 120, seed=3)
    config = CalibrationConfig(windows=5)
    model = CountingForecaster()
    batched = calibration_windows(model, panel, HORIZON, config, progress=False)
    assert model.calls == 1
    origins = {w.window: w.origin for w in calibration_rolling(panel, HORIZON, config).split(panel)}
    assert [w.index for w in batched] == sorted(origins) and len(origins) > 5  # windows added for 6 series
    for w in batched:  # each window against a call of its own, as before batching
        origin = origins[w.index]
        own = model.predict_quantiles([s[:origin] for s in panel], HORIZON, config.quantile_levels).quantiles
        y = np.vstack([s[origin:origin + HORIZON] for s in panel])
        scales = np.array([series_scale(s[:origin]) for s in panel])
        np.testing.assert_allclose(w.residuals, (y[:, :, None] - own) / scales[:, None, None])


def test_when_the_model_fails_on_a_series_then_calibration_and_coverage_name_it():
    panel = _panel(4, 120, seed=4)
    panel[2] = panel[2].copy()
    panel[2][50] = 123.0  # every context of series 2 from window 0 on holds it
    model = CountingForecaster(fail_at=123.0)
    # 4 series hold too few pairs for 5 windows: calibration reaches back to 15 (earliest origin 60 > 50)
    with pytest.raises(tsfm.TsfmError, match=r"calibration: overconfident failed on 15 of 60 windows; "
                                             r"first: series 'c', window 0: .*cannot forecast"):
        calibrate(model, panel, HORIZON, CalibrationConfig(windows=5), progress=False, item_ids=list("abcd"))
    with pytest.raises(tsfm.TsfmError, match=r"coverage: overconfident failed on 1 of 4 windows; first: "
                                             r"series number 2, window 0"):
        coverage_report([model], panel, HORIZON)
