"""Classical baselines (statsforecast) behind the tsfm contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tsfm
from tsfm.backends.baselines import (
    BASELINES,
    MIN_SERIES_FOR_WORKERS,
    StatsForecastBaseline,
    confidence_level,
    fill_missing,
)

LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)


def unequal_panel(season: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Three short seasonal series of different lengths, one with a gap, one starting late."""
    rng = np.random.default_rng(seed)
    panel = []
    for length in (26, 33, 41):
        t = np.arange(length)
        panel.append(20.0 + 0.1 * t + 2.0 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.3, length))
    panel[1][10:13] = np.nan
    panel[2][:4] = np.nan
    return panel


def test_when_seasonal_naive_forecasts_then_the_last_season_repeats_exactly():
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0, 9.0, 7.0])
    forecast = tsfm.load("seasonal-naive", season_length=5).predict_quantiles([y], 7, LEVELS)
    expected = np.array([3.0, 5.0, 8.0, 9.0, 7.0, 3.0, 5.0])  # y[-5:] then its first two again
    np.testing.assert_array_equal(forecast.mean[0], expected)
    np.testing.assert_array_equal(forecast.quantile(0.5)[0], expected)


def test_when_naive_forecasts_then_the_last_value_repeats():
    y = np.array([2.0, 7.0, 1.0, 8.0, 2.5])
    forecast = tsfm.load("naive").predict_quantiles([y], 6, LEVELS)
    np.testing.assert_array_equal(forecast.mean[0], np.full(6, 2.5))


def test_when_naive_quantiles_come_from_intervals_then_they_are_monotone_and_symmetric():
    y = np.cumsum(np.random.default_rng(1).normal(0, 1, 80))
    forecast = tsfm.load("naive").predict_quantiles([y], 10, LEVELS)
    q = forecast.quantiles[0]  # [horizon, n_q]
    assert (np.diff(q, axis=-1) > 0).all()
    centre = np.repeat(forecast.mean[0][:, None], len(LEVELS), axis=1)  # [horizon, n_q]
    np.testing.assert_allclose(q + q[:, ::-1], 2.0 * centre, rtol=1e-12)
    widths = q[:, -1] - q[:, 0]
    assert (np.diff(widths) > 0).all(), "a random walk's interval must widen with the horizon"


def test_when_quantiles_are_requested_then_they_are_the_statsforecast_interval_bounds():
    from statsforecast.models import Naive

    y = np.cumsum(np.random.default_rng(2).normal(0, 1, 50))
    forecast = tsfm.load("naive").predict_quantiles([y], 4, (0.1, 0.3, 0.5, 0.9))
    reference = Naive().forecast(y=y, h=4, level=[40.0, 80.0])
    np.testing.assert_allclose(forecast.quantile(0.1)[0], reference["lo-80.0"])
    np.testing.assert_allclose(forecast.quantile(0.3)[0], reference["lo-40.0"])
    np.testing.assert_allclose(forecast.quantile(0.9)[0], reference["hi-80.0"])
    np.testing.assert_allclose(forecast.quantile(0.5)[0], reference["mean"])


@pytest.mark.parametrize(
    ("level", "confidence"),
    [(0.1, 80.0), (0.9, 80.0), (0.3, 40.0), (0.7, 40.0), (0.025, 95.0), (0.5, None)],
)
def test_when_a_level_is_mapped_then_its_central_interval_has_the_matching_confidence(level, confidence):
    assert confidence_level(level) == confidence


def test_when_the_context_has_nan_inside_then_it_is_interpolated_and_leading_nan_is_dropped():
    y = np.array([np.nan, np.nan, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 7.0, 8.0])
    forecast = tsfm.load("seasonal-naive", season_length=4).predict_quantiles([y], 4, LEVELS)
    np.testing.assert_array_equal(forecast.mean[0], [5.0, 6.0, 7.0, 8.0])  # 6.0 filled in
    assert np.isfinite(forecast.quantiles).all()


def test_when_the_context_ends_with_nan_then_the_last_observation_is_held():
    filled = fill_missing(np.array([np.nan, 1.0, np.nan, 3.0, np.nan, np.nan]))
    np.testing.assert_array_equal(filled, [1.0, 2.0, 3.0, 3.0, 3.0])
    forecast = tsfm.load("naive").predict_quantiles([np.array([4.0, 2.0, 6.0, np.nan])], 2, LEVELS)
    np.testing.assert_array_equal(forecast.mean[0], [6.0, 6.0])


def test_when_a_series_is_shorter_than_the_season_then_input_error_names_season_length():
    panel = [np.arange(30.0), np.arange(10.0)]
    model = tsfm.load("seasonal-naive", season_length=24)
    with pytest.raises(
        tsfm.InputError, match=r"context\[1\] has 10 observations, shorter than season_length=24"
    ):
        model.predict_quantiles(panel, 5, LEVELS)


def test_when_leading_nan_leave_less_than_a_season_then_input_error_counts_from_the_first_value():
    y = np.concatenate([np.full(20, np.nan), np.arange(5.0)])
    with pytest.raises(tsfm.InputError, match=r"context\[0\] has 5 observations.*season_length=12"):
        tsfm.load("seasonal-naive", season_length=12).predict_quantiles([y], 3)


def test_when_an_auto_model_gets_less_than_two_seasons_then_it_fits_without_season():
    rng = np.random.default_rng(3)
    short = 10.0 + np.sin(np.arange(30) / 3.0) + rng.normal(0, 0.1, 30)
    seasonal = tsfm.load("auto-theta", season_length=24).predict_quantiles([short], 6, LEVELS)
    plain = tsfm.load("auto-theta", season_length=1).predict_quantiles([short], 6, LEVELS)
    np.testing.assert_array_equal(seasonal.quantiles, plain.quantiles)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "auto-arima" else n for n in BASELINES]
)
def test_when_series_have_unequal_lengths_then_every_baseline_returns_the_right_shapes(name):
    panel = unequal_panel()
    model = tsfm.load(name, season_length=4)
    forecast = model.predict_quantiles(panel, 5, LEVELS)
    assert model.kind == "baseline" and not model.has_embeddings
    assert forecast.quantiles.shape == (3, 5, len(LEVELS))
    assert forecast.mean.shape == (3, 5)
    assert np.isfinite(forecast.quantiles).all()
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
    np.testing.assert_array_equal(forecast.quantile(0.5), forecast.mean)


@pytest.mark.slow
def test_when_series_are_fitted_in_worker_processes_then_results_match_one_process():
    panel = [s for seed in range(3) for s in unequal_panel(seed=seed)][:MIN_SERIES_FOR_WORKERS]
    spec = BASELINES["auto-theta"]
    workers = StatsForecastBaseline(spec, season_length=4, n_jobs=2).predict_quantiles(panel, 5, LEVELS)
    single = StatsForecastBaseline(spec, season_length=4, n_jobs=1).predict_quantiles(panel, 5, LEVELS)
    np.testing.assert_array_equal(workers.quantiles, single.quantiles)  # the same fits, in another process
    np.testing.assert_array_equal(workers.mean, single.mean)


def test_when_called_twice_then_the_forecast_is_identical():
    model = tsfm.load("auto-ets", season_length=4)
    first = model.predict_quantiles(unequal_panel(), 5, LEVELS)
    second = model.predict_quantiles(unequal_panel(), 5, LEVELS)
    np.testing.assert_array_equal(first.quantiles, second.quantiles)


def test_when_a_series_is_below_the_model_minimum_then_validation_names_it():
    with pytest.raises(tsfm.InputError, match=r"context\[1\] has 5 observed values.*at least 7"):
        tsfm.load("auto-ets").predict_quantiles([np.arange(20.0), np.arange(5.0)], 3)


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_when_n_jobs_is_bad_then_input_error_names_it(n_jobs):
    with pytest.raises(tsfm.InputError, match="n_jobs must be"):
        StatsForecastBaseline(BASELINES["auto-ets"], n_jobs=n_jobs)


def test_when_embeddings_are_requested_then_a_clear_error_says_there_are_none():
    with pytest.raises(tsfm.InputError, match="has no embeddings"):
        tsfm.load("naive").embed([np.arange(10.0)])


def test_when_the_module_is_imported_then_statsforecast_is_not():
    code = "import sys, tsfm.backends.baselines; print('statsforecast' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "False"
