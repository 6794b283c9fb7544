"""Fracast-0 (bundled weights, offline) behind the tsfm contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tsfm

LEVELS = (0.05, 0.1, 0.5, 0.75, 0.9)


@pytest.fixture(scope="module")
def models() -> dict[int, tsfm.Forecaster]:
    """The model loaded with batch_size 1 and 64."""
    return {size: tsfm.load("fracast-0", device="cpu", batch_size=size) for size in (1, 64)}


def panel(seed: int = 0) -> list[np.ndarray]:
    """Four random-walk series with a daily cycle: unequal lengths, a gap, a late start."""
    rng = np.random.default_rng(seed)
    series = []
    for length in (40, 150, 333, 2100):
        t = np.arange(length)
        series.append(50.0 + np.cumsum(rng.normal(0, 1, length)) + 5.0 * np.sin(2 * np.pi * t / 24))
    series[1][60:70] = np.nan
    series[2][:30] = np.nan
    return series


def short_and_long(seed: int) -> list[np.ndarray]:
    """The shortest series (most padding in a batch) and one longer than the 2048 context."""
    series = panel(seed)
    return [series[0], series[3]]


@pytest.mark.slow  # test_conformance checks the same shapes for fracast-0 in the fast tier
def test_when_forecasting_unequal_series_then_shapes_levels_and_mean_are_sound(models):
    model = models[64]
    forecast = model.predict_quantiles(panel(), 12, LEVELS)
    assert model.kind == "tsfm" and model.name == "fracast-0"
    assert forecast.quantiles.shape == (4, 12, len(LEVELS))
    assert forecast.mean.shape == (4, 12)
    assert np.isfinite(forecast.quantiles).all()
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
    np.testing.assert_array_equal(forecast.mean, forecast.quantile(0.5))
    # 0.05 lies below the lowest native level (0.1): it is extrapolated below it, not clamped.
    assert (forecast.quantile(0.05) < forecast.quantile(0.1)).all()


def test_when_loaded_then_native_settings_come_from_the_model(models):
    model = models[64]
    assert model.context_length == 2048 and model.prediction_length == 48
    np.testing.assert_allclose(model.native_levels, model.model.quantiles)
    assert model.min_observations == 8


@pytest.mark.slow
def test_when_batch_size_changes_then_forecasts_do_not(models):
    one = models[1].predict_quantiles(short_and_long(seed=1), 8, LEVELS)
    many = models[64].predict_quantiles(short_and_long(seed=1), 8, LEVELS)
    np.testing.assert_allclose(one.quantiles, many.quantiles, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_when_a_series_is_forecast_alone_then_nan_padding_changes_nothing(models):
    series = short_and_long(seed=2)
    batch = models[64].predict_quantiles(series, 8, LEVELS)
    alone = models[64].predict_quantiles([series[0]], 8, LEVELS)  # padded to 2048 in the batch
    np.testing.assert_allclose(alone.quantiles[0], batch.quantiles[0], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_when_horizon_exceeds_the_native_48_then_every_step_is_forecast(models):
    series = panel(seed=3)[1:2]
    long = models[64].predict_quantiles(series, 60, LEVELS)
    native = models[64].predict_quantiles(series, 48, LEVELS)
    assert long.quantiles.shape == (1, 60, len(LEVELS))
    assert np.isfinite(long.quantiles).all()
    np.testing.assert_allclose(long.quantiles[:, :48], native.quantiles, rtol=1e-6)


def test_when_a_series_has_fewer_than_8_observations_then_input_error_names_it(models):
    short = np.array([1.0, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan])
    with pytest.raises(tsfm.InputError, match=r"context\[1\] has 7 observed values.*at least 8"):
        models[64].predict_quantiles([np.arange(50.0), short], 4)


def test_when_the_last_2048_values_hold_fewer_than_8_observations_then_input_error_says_so(models):
    series = np.concatenate([np.arange(100.0), np.full(2045, np.nan), [1.0, 2.0, 3.0]])
    with pytest.raises(tsfm.InputError, match=r"context\[0\] has 3 observed values among its last 2048"):
        models[64].predict_quantiles([series], 4)


@pytest.mark.slow
def test_when_embedding_then_vectors_are_pooled_per_series_and_independent_of_the_batch(models):
    series = short_and_long(seed=4)
    embeddings = models[64].embed(series)
    alone = models[1].embed([series[0]])
    assert embeddings.shape == (2, 64) and embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()
    np.testing.assert_allclose(alone[0], embeddings[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(embeddings[0], embeddings[1])


@pytest.mark.slow
def test_when_called_twice_then_the_forecast_is_identical(models):
    first = models[64].predict_quantiles(panel(seed=5)[:1], 6, LEVELS)
    second = models[64].predict_quantiles(panel(seed=5)[:1], 6, LEVELS)
    np.testing.assert_array_equal(first.quantiles, second.quantiles)


def test_when_a_half_precision_dtype_is_asked_for_then_input_error_says_float32_only():
    with pytest.raises(tsfm.InputError, match="float32 only.*bfloat16"):
        tsfm.load("fracast-0", device="cpu", dtype="bfloat16")


def test_when_the_module_is_imported_then_torch_and_fracast_are_not():
    code = "import sys, tsfm.backends.fracast; print('torch' in sys.modules, 'fracast' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "False False"
