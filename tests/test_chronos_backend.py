"""The Chronos-T5 / Chronos-Bolt / Chronos-2 backends, on tiny random-weight checkpoints.

The checkpoints are built once per session by ``tiny_checkpoints`` (conftest.py, with
:mod:`tsfm.testing`), saved with ``save_pretrained`` and loaded back through
``tsfm.load(folder)`` -> ``chronos.BaseChronosPipeline.from_pretrained``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import tsfm
from tests.conftest import CHRONOS_FAMILIES, seasonal_panel
from tsfm.backends.chronos import (
    Chronos2Forecaster,
    ChronosBoltForecaster,
    ChronosT5Forecaster,
    load_chronos,
    observed_patch_mask,
)
from tsfm.registry import LoadOptions

HORIZON = 8
OFF_GRID_LEVELS = (0.05, 0.25, 0.5, 0.975)
EXPECTED = {
    # family: (class, native context, native horizon)
    "chronos-t5": (ChronosT5Forecaster, 512, 64),
    "chronos-bolt": (ChronosBoltForecaster, 2048, 64),
    "chronos-2": (Chronos2Forecaster, 8192, 1024),
}

# Chronos-T5 samples 20 paths per step: these checks cost it several times what they cost the others.
SLOW_T5 = [pytest.param(f, marks=pytest.mark.slow) if f == "chronos-t5" else f for f in CHRONOS_FAMILIES]


@pytest.fixture(scope="module")
def load_model(tiny_checkpoints):
    cache: dict[tuple[str, int], tsfm.Forecaster] = {}

    def _load(family: str, batch_size: int = 256) -> tsfm.Forecaster:
        if (family, batch_size) not in cache:
            folder = str(tiny_checkpoints[family])
            cache[family, batch_size] = tsfm.load(folder, device="cpu", batch_size=batch_size)
        return cache[family, batch_size]

    return _load


def relative_close(a: np.ndarray, b: np.ndarray, scale: float, tol: float = 1e-4) -> None:
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_a_folder_is_loaded_then_its_family_and_native_limits_are_detected(family, load_model):
    model = load_model(family)
    cls, context_length, prediction_length = EXPECTED[family]
    assert type(model) is cls
    assert model.family == family
    assert model.kind == "tsfm"
    assert model.has_embeddings
    assert model.context_length == context_length
    assert model.prediction_length == prediction_length
    assert model.device == "cpu"


@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_forecasting_unequal_series_then_the_forecast_has_the_contract_shapes(family, load_model):
    panel = seasonal_panel(n_series=5)
    forecast = load_model(family).predict_quantiles(panel, HORIZON)
    assert forecast.quantiles.shape == (5, HORIZON, 9)
    assert forecast.mean.shape == (5, HORIZON)
    assert forecast.quantile_levels == tsfm.DEFAULT_QUANTILE_LEVELS
    assert np.isfinite(forecast.quantiles).all() and np.isfinite(forecast.mean).all()


@pytest.mark.parametrize("family", SLOW_T5)
def test_when_levels_are_off_the_native_grid_then_they_are_answered_in_order(family, load_model):
    forecast = load_model(family).predict_quantiles(seasonal_panel(n_series=3), HORIZON, OFF_GRID_LEVELS)
    assert forecast.quantile_levels == OFF_GRID_LEVELS
    assert forecast.quantiles.shape == (3, HORIZON, len(OFF_GRID_LEVELS))
    assert np.isfinite(forecast.quantiles).all()
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all(), "quantiles cross"


def test_when_a_bolt_level_is_below_its_lowest_native_level_then_it_is_extrapolated_below_it(load_model):
    model = load_model("chronos-bolt")
    panel = seasonal_panel(n_series=3)
    low = model.predict_quantiles(panel, HORIZON, (0.05, 0.1))
    assert (low.quantiles[..., 0] < low.quantiles[..., 1]).all()  # not clamped to the 0.1 quantile


@pytest.mark.parametrize("family", ["chronos-bolt", "chronos-2"])
def test_when_the_model_emits_quantiles_then_the_mean_is_the_median(family, load_model):
    forecast = load_model(family).predict_quantiles(seasonal_panel(n_series=3), HORIZON, (0.1, 0.5, 0.9))
    np.testing.assert_allclose(forecast.mean, forecast.quantile(0.5))


def test_when_t5_forecasts_then_the_mean_is_the_sample_mean_inside_the_quantile_range(load_model):
    forecast = load_model("chronos-t5").predict_quantiles(seasonal_panel(n_series=3), HORIZON, (0.01, 0.99))
    assert forecast.mean.shape == (3, HORIZON)
    assert (forecast.mean >= forecast.quantiles[..., 0] - 1e-9).all()
    assert (forecast.mean <= forecast.quantiles[..., 1] + 1e-9).all()


@pytest.mark.parametrize("family", SLOW_T5)
def test_when_horizon_exceeds_the_native_length_then_it_is_forecast_without_warnings(family, load_model):
    model = load_model(family)
    horizon = model.prediction_length + 6  # 70 for T5 and Bolt, 1030 for Chronos-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = model.predict_quantiles(seasonal_panel(n_series=3), horizon, (0.1, 0.5, 0.9))
    assert forecast.quantiles.shape == (3, horizon, 3)
    assert np.isfinite(forecast.quantiles).all()


def test_when_bolt_horizon_is_70_then_the_first_64_steps_match_the_native_forecast(load_model):
    model = load_model("chronos-bolt")
    panel = seasonal_panel(n_series=3)
    native = model.predict_quantiles(panel, 64)
    longer = model.predict_quantiles(panel, 70)
    np.testing.assert_allclose(longer.quantiles[:, :64], native.quantiles, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # test_conformance checks batch-size invariance of every model in the fast tier
@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_batch_size_is_1_or_8_then_forecasts_agree(family, load_model):
    panel = seasonal_panel(n_series=9, seed=4)
    one = load_model(family, batch_size=1).predict_quantiles(panel, HORIZON, OFF_GRID_LEVELS)
    eight = load_model(family, batch_size=8).predict_quantiles(panel, HORIZON, OFF_GRID_LEVELS)
    scale = float(np.nanmax(np.abs(np.concatenate(panel))))
    relative_close(one.quantiles, eight.quantiles, scale)
    relative_close(one.mean, eight.mean, scale)


@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_embedding_then_one_pooled_vector_per_series_comes_back(family, load_model):
    embeddings = load_model(family).embed(seasonal_panel(n_series=5))
    assert embeddings.shape == (5, 64)  # d_model of the tiny checkpoints
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()


@pytest.mark.parametrize("family", SLOW_T5)
def test_when_batch_size_is_1_or_8_then_embeddings_agree(family, load_model):
    panel = seasonal_panel(n_series=9, seed=6)
    one = load_model(family, batch_size=1).embed(panel)
    eight = load_model(family, batch_size=8).embed(panel)
    np.testing.assert_allclose(one, eight, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_a_long_series_shares_the_batch_then_a_short_ones_embedding_is_unchanged(family, load_model):
    model = load_model(family)
    short = seasonal_panel(n_series=3, seed=2)[0][:40]
    long = np.sin(np.arange(500) / 5.0) * 50.0
    np.testing.assert_allclose(model.embed([short, long])[0], model.embed([short])[0], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("family", SLOW_T5)
def test_when_a_series_exceeds_the_native_context_then_only_its_recent_part_counts(family, load_model):
    model = load_model(family)
    rng = np.random.default_rng(1)
    series = 50.0 + np.cumsum(rng.normal(size=model.context_length + 37))
    full = model.predict_quantiles([series], HORIZON)
    recent = model.predict_quantiles([series[-model.context_length :]], HORIZON)
    relative_close(full.quantiles, recent.quantiles, float(np.abs(series).max()))


@pytest.mark.parametrize("family", SLOW_T5)
def test_when_context_is_given_then_the_arrays_are_not_modified(family, load_model):
    panel = seasonal_panel(n_series=4, seed=9)
    before = [series.copy() for series in panel]
    model = load_model(family)
    model.predict_quantiles(panel, HORIZON)
    model.embed(panel)
    for original, after in zip(before, panel):
        np.testing.assert_array_equal(original, after)


def test_when_t5_is_called_twice_then_the_sampled_forecast_repeats(load_model):
    model = load_model("chronos-t5")
    panel = seasonal_panel(n_series=3, seed=11)
    first = model.predict_quantiles(panel, HORIZON)
    second = model.predict_quantiles(panel, HORIZON)
    np.testing.assert_array_equal(first.quantiles, second.quantiles)


def test_when_t5_sampling_seed_changes_then_other_paths_are_drawn(tiny_checkpoints):
    model = tsfm.load(str(tiny_checkpoints["chronos-t5"]), device="cpu")
    panel = seasonal_panel(n_series=3, seed=12)
    first = model.predict_quantiles(panel, HORIZON)
    model.sampling_seed = 1
    second = model.predict_quantiles(panel, HORIZON)
    assert not np.array_equal(first.quantiles, second.quantiles)


def test_when_a_patch_holds_no_data_then_the_mask_excludes_it():
    padded = np.full((2, 20), np.nan, dtype=np.float32)
    padded[0, -3:] = 1.0  # 3 values: the last of two 16-step patches
    padded[1, :] = 1.0  # 20 values: both patches
    padded[1, -16:] = np.nan  # ... but the recent patch is missing entirely
    np.testing.assert_array_equal(observed_patch_mask(padded, 16), [[False, True], [True, False]])


def copy_checkpoint(tiny_checkpoints, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny_checkpoints["chronos-bolt"], folder)
    return folder


def test_when_folder_has_no_config_then_checkpoint_error_names_the_folder(tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(tsfm.CheckpointError, match="not-a-model"):
        tsfm.load(str(folder))
    with pytest.raises(tsfm.CheckpointError, match="not-a-model.*has no config.json"):
        load_chronos(str(folder), LoadOptions(device="cpu"))


def test_when_config_is_not_a_chronos_config_then_checkpoint_error_says_what_is_expected(tmp_path):
    folder = tmp_path / "plain-t5"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 64}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(tsfm.CheckpointError, match="plain-t5"):
        tsfm.load(str(folder))
    with pytest.raises(tsfm.CheckpointError, match="neither 'chronos_config' nor 'chronos_pipeline_class'"):
        load_chronos(str(folder), LoadOptions(device="cpu"))


def test_when_weights_are_missing_then_checkpoint_error_names_the_folder_and_the_files(
    tiny_checkpoints, tmp_path
):
    folder = copy_checkpoint(tiny_checkpoints, tmp_path, "bolt-without-weights")
    (folder / "model.safetensors").unlink()
    with pytest.raises(tsfm.CheckpointError, match="bolt-without-weights.*no weights.*model.safetensors"):
        tsfm.load(str(folder))


def test_when_weights_are_corrupt_then_checkpoint_error_names_the_folder(tiny_checkpoints, tmp_path):
    folder = copy_checkpoint(tiny_checkpoints, tmp_path, "bolt-corrupt")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(tsfm.CheckpointError, match="bolt-corrupt"):
        tsfm.load(str(folder), device="cpu")


def test_when_the_hub_cannot_be_reached_then_checkpoint_error_says_to_pass_a_local_folder(monkeypatch):
    import chronos

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(chronos.BaseChronosPipeline, "from_pretrained", offline)
    monkeypatch.setattr("huggingface_hub.list_repo_files", offline)
    with pytest.raises(tsfm.CheckpointError, match="Hugging Face Hub.*local folder") as raised:
        tsfm.load("someone/chronos-bolt-custom", device="cpu")
    assert "someone/chronos-bolt-custom" in str(raised.value)
    with pytest.raises(tsfm.CheckpointError, match="amazon/chronos-bolt-small"):
        tsfm.load("amazon/chronos-bolt-small", device="cpu")


def test_when_listing_models_then_the_real_hub_ids_are_registered_as_tsfm():
    kinds = {spec.name: spec.kind for spec in tsfm.list_models()}
    names = [
        *(f"amazon/chronos-t5-{size}" for size in ("tiny", "mini", "small", "base", "large")),
        *(f"amazon/chronos-bolt-{size}" for size in ("tiny", "mini", "small", "base")),
        "amazon/chronos-2",
        "autogluon/chronos-2-small",
    ]
    for name in names:
        assert kinds[name] == "tsfm"


def test_when_the_backend_module_is_imported_then_torch_chronos_and_transformers_stay_unloaded():
    # Load the file on its own, so sibling backends' imports do not count.
    root = Path(__file__).resolve().parents[1]
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('probe', 'tsfm/backends/chronos.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('torch', 'chronos', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_when_cuda_is_requested_without_a_gpu_then_the_error_names_the_device(tiny_checkpoints):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(tsfm.InputError, match="'cuda' was requested but CUDA is not available"):
        tsfm.load(str(tiny_checkpoints["chronos-bolt"]), device="cuda")
