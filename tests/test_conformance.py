"""One conformance suite over every registered backend.

Every model that ``tsfm.load`` can give offline goes through the same checks:
tiny random-weight checkpoints of every family with a registered builder (Chronos-T5 / Chronos-Bolt /
Chronos-2 and any family added beside them, see tsfm.testing.register_tiny_builder), fracast-0 and
every classical baseline. A newly registered offline name or tiny builder joins automatically.
"""

from __future__ import annotations

import numpy as np
import pytest

import tsfm
from tests.conftest import TINY_FAMILIES, seasonal_panel

SEASON = 12
HORIZON = 8
LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)


def offline_names() -> list[str]:
    """Registered names that load without a download (hub ids contain a '/')."""
    return [spec.name for spec in tsfm.list_models() if "/" not in spec.name]


MODEL_IDS = [*offline_names(), *TINY_FAMILIES]
# Several to tens of seconds per check on 2 CPU cores (the fast tier, -m "not slow", skips their repeat checks;
# the shapes check still runs each, and test_fracast_backend / test_chronos_backend test them too).
SLOW_MODELS = {"auto-arima", "chronos-t5", "fracast-0"}
SLOW_TOO = [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_MODELS else m for m in MODEL_IDS]
# Reloading a real-size bundled model at two batch sizes costs seconds; the tiny checkpoints of the same
# architectures (chronos-bolt, chronos-2) keep the batch-size check in the fast tier.
SLOW_BATCH = [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_MODELS | {"tsfm-bolt-mini", "tsfm-chronos2-mini"}
              else m for m in MODEL_IDS]


@pytest.fixture(scope="module")
def load_model(tiny_checkpoints):
    cache: dict[tuple[str, int], tsfm.Forecaster] = {}

    def _load(model_id: str, batch_size: int = 256) -> tsfm.Forecaster:
        key = (model_id, batch_size)
        if key not in cache:
            name = str(tiny_checkpoints[model_id]) if model_id in TINY_FAMILIES else model_id
            cache[key] = tsfm.load(name, device="cpu", batch_size=batch_size, season_length=SEASON)
        return cache[key]

    return _load


def test_when_listing_models_then_every_kind_of_backend_is_registered():
    kinds = {spec.name: spec.kind for spec in tsfm.list_models()}
    for name in ("naive", "seasonal-naive", "auto-ets", "auto-theta", "auto-arima"):
        assert kinds[name] == "baseline"
    assert kinds["fracast-0"] == "tsfm"
    assert kinds["amazon/chronos-bolt-small"] == "tsfm"
    assert kinds["amazon/chronos-2"] == "tsfm"


@pytest.mark.parametrize(
    "model_id", [pytest.param(m, marks=pytest.mark.slow) if m == "auto-arima" else m for m in MODEL_IDS]
)
def test_when_forecasting_unequal_series_with_gaps_then_shapes_and_values_are_sound(model_id, load_model):
    model = load_model(model_id)
    panel = seasonal_panel()
    forecast = model.predict_quantiles(panel, HORIZON, LEVELS)
    assert isinstance(model, tsfm.Forecaster)
    assert forecast.quantiles.shape == (len(panel), HORIZON, len(LEVELS))
    assert forecast.mean.shape == (len(panel), HORIZON)
    assert forecast.quantile_levels == LEVELS
    assert forecast.model_name == model.name
    assert np.isfinite(forecast.quantiles).all() and np.isfinite(forecast.mean).all()
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all(), "quantiles cross"


@pytest.mark.parametrize("model_id", SLOW_TOO)
def test_when_called_twice_then_results_are_identical(model_id, load_model):
    model = load_model(model_id)
    panel = seasonal_panel(seed=3)
    first = model.predict_quantiles(panel, HORIZON, LEVELS)
    second = model.predict_quantiles(panel, HORIZON, LEVELS)
    np.testing.assert_array_equal(first.quantiles, second.quantiles)
    np.testing.assert_array_equal(first.mean, second.mean)


@pytest.mark.parametrize("model_id", SLOW_BATCH)
def test_when_batch_size_changes_then_forecasts_do_not(model_id, load_model):
    panel = seasonal_panel(n_series=6, seed=5)
    one = load_model(model_id, batch_size=1).predict_quantiles(panel, HORIZON, LEVELS)
    many = load_model(model_id, batch_size=4).predict_quantiles(panel, HORIZON, LEVELS)
    scale = np.nanmax(np.abs(np.concatenate(panel)))
    np.testing.assert_allclose(one.quantiles, many.quantiles, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("model_id", SLOW_TOO)
def test_when_a_series_is_forecast_alone_then_it_matches_the_batch(model_id, load_model):
    model = load_model(model_id)
    panel = seasonal_panel(seed=7)
    batch = model.predict_quantiles(panel, HORIZON, LEVELS)
    alone = model.predict_quantiles([panel[2]], HORIZON, LEVELS)
    scale = np.nanmax(np.abs(panel[2]))
    np.testing.assert_allclose(alone.quantiles[0], batch.quantiles[2], rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("model_id", SLOW_TOO)
def test_when_context_is_given_then_it_is_not_modified(model_id, load_model):
    panel = seasonal_panel(seed=9)
    before = [p.copy() for p in panel]
    load_model(model_id).predict_quantiles(panel, HORIZON)
    for a, b in zip(before, panel):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model_id", SLOW_TOO)
def test_when_horizon_is_long_then_every_step_is_forecast(model_id, load_model):
    model = load_model(model_id)
    panel = seasonal_panel(n_series=2)
    forecast = model.predict_quantiles(panel, 70, (0.1, 0.5, 0.9))
    assert forecast.quantiles.shape == (2, 70, 3)
    assert np.isfinite(forecast.quantiles).all()


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_when_the_model_has_embeddings_then_they_are_pooled_per_series(model_id, load_model):
    model = load_model(model_id)
    panel = seasonal_panel()
    if not model.has_embeddings:
        with pytest.raises(tsfm.InputError, match="has no embeddings"):
            model.embed(panel)
        return
    emb = model.embed(panel)
    assert emb.ndim == 2 and emb.shape[0] == len(panel)
    assert np.isfinite(emb).all()
    alone = model.embed([panel[3]])
    np.testing.assert_allclose(alone[0], emb[3], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("context", "horizon", "levels", "message"),
    [
        ([], 4, (0.5,), "context is empty"),
        ([np.array([np.nan, np.nan])], 4, (0.5,), "no finite values"),
        ([np.array([1.0, np.inf, 2.0] * 10)], 4, (0.5,), "contains inf"),
        ([np.array(["a", "b"])], 4, (0.5,), "not numeric"),
        ([np.ones((3, 3))], 4, (0.5,), "must be 1-D"),
        ([1.0, 2.0, 3.0], 4, (0.5,), "flat list of numbers"),
        ("series", 4, (0.5,), "must be a list"),
        ([np.arange(40.0)], 0, (0.5,), "horizon must be a positive integer"),
        ([np.arange(40.0)], -3, (0.5,), "horizon must be a positive integer"),
        ([np.arange(40.0)], 2.5, (0.5,), "horizon must be a positive integer"),
        ([np.arange(40.0)], 4, (0.0, 0.5), "strictly between 0 and 1"),
        ([np.arange(40.0)], 4, (0.5, 1.2), "strictly between 0 and 1"),
        ([np.arange(40.0)], 4, (), "quantile_levels is empty"),
    ],
)
@pytest.mark.parametrize("model_id", ["seasonal-naive", "fracast-0", "chronos-bolt"])
def test_when_input_is_bad_then_a_clear_error_names_it(model_id, context, horizon, levels, message, load_model):
    with pytest.raises(tsfm.InputError, match=message):
        load_model(model_id).predict_quantiles(context, horizon, levels)


def test_when_model_name_is_unknown_then_the_error_lists_known_names():
    with pytest.raises(tsfm.UnknownModelError, match="seasonal-naive"):
        tsfm.load("no-such-model")


def test_when_folder_is_not_a_checkpoint_then_checkpoint_error_names_it(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(tsfm.CheckpointError, match=str(tmp_path.name)):
        tsfm.load(str(tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, "device must be one of"),
        ({"dtype": "int8"}, "dtype must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"season_length": 0}, "season_length must be a positive integer"),
    ],
)
def test_when_load_options_are_bad_then_the_error_names_the_option(kwargs, message):
    with pytest.raises(tsfm.InputError, match=message):
        tsfm.load("naive", **kwargs)
