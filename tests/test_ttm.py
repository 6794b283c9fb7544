"""TinyTimeMixer (granite-tsfm) behind the contract: loading, bad folders, inputs, quantiles, training.

Runs on a tiny random-weight checkpoint of the real architecture
(:func:`tsfm.backends.ttm_testing.build_tiny_ttm`); the tests that read the released checkpoint in
``../shared/models`` are in ``tests/test_ttm_real.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
import warnings

import numpy as np
import pytest

pytest.importorskip("tsfm_public", reason="granite-tsfm is not installed (pip install --no-deps granite-tsfm)")

import torch  # noqa: E402

import tsfm  # noqa: E402
from tests.conftest import seasonal_panel  # noqa: E402
from tsfm import hub  # noqa: E402
from tsfm.backends import ttm  # noqa: E402
from tsfm.backends.ttm_quantiles import backtest_origins, fallback_scales, residual_quantiles  # noqa: E402
from tsfm.covariates import Covariates  # noqa: E402
from tsfm.training import training_family  # noqa: E402


@pytest.fixture(scope="module")
def folder(tiny_checkpoints):
    return tiny_checkpoints["ttm"]


@pytest.fixture(scope="module")
def model(folder):
    return tsfm.load(str(folder), device="cpu")


def _copy(folder, tmp_path):
    target = tmp_path / "ttm"
    shutil.copytree(folder, target)
    return target


def test_when_a_tiny_checkpoint_is_saved_then_it_loads_as_the_ttm_family_through_from_pretrained(folder, model):
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert isinstance(model.module, TinyTimeMixerForPrediction) and model.family == "ttm"
    assert (model.context_length, model.prediction_length) == (64, 24)


def test_when_forecasting_then_the_mean_is_the_models_own_forward_on_the_last_context_values(model):
    series = 50 + 10 * np.sin(np.arange(200) / 4.0)
    forecast = model.predict_quantiles([series], 24, (0.1, 0.5, 0.9))
    tail = torch.tensor(series[-64:], dtype=torch.float32)[None, :, None]
    with torch.no_grad():
        own = model.module(past_values=tail).prediction_outputs[0, :, 0].numpy()
    np.testing.assert_allclose(forecast.mean[0], own, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(forecast.quantiles[0, :, 1], forecast.mean[0], rtol=1e-9)  # median = forecast


def test_when_the_horizon_is_past_the_native_one_then_its_first_block_is_the_native_forecast(model):
    panel = seasonal_panel(n_series=3)
    short = model.predict_quantiles(panel, 24).mean
    long = model.predict_quantiles(panel, 60).mean
    np.testing.assert_allclose(long[:, :24], short, rtol=1e-6)
    assert np.isfinite(long).all()


def test_when_a_series_has_gaps_then_they_are_interpolated_and_marked_unobserved():
    series = np.array([np.nan, 1.0, 2.0, np.nan, 4.0, 5.0])
    values, observed, loc, scale = ttm.standardise([series], 8)
    assert observed[0].tolist() == [False, False, False, True, True, False, True, True]
    restored = values[0] * scale[0, 0] + loc[0, 0]
    np.testing.assert_allclose(restored[3:], [1.0, 2.0, 3.0, 4.0, 5.0], rtol=1e-6)
    assert values[0, :3].tolist() == [0.0, 0.0, 0.0]  # padding and the leading gap sit at the mean


def test_when_the_model_has_backtests_then_the_80_interval_is_the_forecast_plus_minus_the_absolute_errors():
    point = np.zeros(4)
    residuals = np.tile(np.array([-1.0, 1.0, -2.0, 2.0, 0.5]), (4, 1)).T  # 5 windows, spread constant per step
    levels = np.array([0.1, 0.5, 0.9])
    quantiles = residual_quantiles(point, residuals, 1.0, levels)
    np.testing.assert_allclose(quantiles[:, 1], 0.0)
    np.testing.assert_allclose(quantiles[:, 0], -quantiles[:, 2])
    corrected = residual_quantiles(point + 3.0, residuals + 3.0, 1.0, levels, bias_correction=True)
    assert (corrected[:, 1] > 3.0).all()  # the past errors' median moves the forecast


def test_when_there_is_no_backtest_window_then_the_spread_grows_like_a_random_walk():
    quantiles = residual_quantiles(np.zeros(4), np.empty((0, 4)), 2.0, np.array([0.1, 0.9]))
    width = quantiles[:, 1] - quantiles[:, 0]
    np.testing.assert_allclose(width / width[0], np.sqrt([1, 2, 3, 4]))
    assert backtest_origins(np.arange(20.0), 24, 5, 4) == []
    assert backtest_origins(np.arange(100.0), 24, 5, 16) == [76, 52, 28]


def test_when_series_are_scaled_together_then_each_gets_its_own_scale():
    gappy = np.array([1.0, np.nan, 3.0, 6.0])
    scales = fallback_scales([np.array([1.0, 2.0, 4.0, 7.0]), np.full(4, 5.0), gappy, np.array([2.0])])
    np.testing.assert_allclose(scales, [np.std([1.0, 2.0, 3.0]), 5.0, np.std([2.0, 3.0]), 2.0])
    values, observed, loc, scale = ttm.standardise([np.full(10, 7.0)], 8)
    assert observed.all() and loc[0, 0] == 7.0 and scale[0, 0] == 7.0 and not values.any()


def test_when_more_backtest_windows_are_used_then_more_series_values_are_read(model):
    panel = seasonal_panel(n_series=2)
    narrow = copy.copy(model)
    narrow.backtest_windows = 0
    assert not np.allclose(narrow.predict_quantiles(panel, 8).quantiles, model.predict_quantiles(panel, 8).quantiles)


def test_when_covariates_are_given_then_they_are_ignored_with_a_warning(model):
    panel = seasonal_panel(n_series=2)
    covariates = Covariates(past=[{"x": np.ones(len(s))} for s in panel], future=[{"x": np.ones(8)} for _ in panel])
    with pytest.warns(tsfm.CovariatesIgnoredWarning, match="cannot use covariates"):
        forecast = model.predict_quantiles(panel, 8, covariates=covariates)
    np.testing.assert_array_equal(forecast.mean, model.predict_quantiles(panel, 8).mean)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: (f / "model.safetensors").unlink(), "has a TinyTimeMixer config.json but no model.safetensors"),
        (lambda f: (f / "pytorch_model.bin").write_bytes(b"pickle"), "holds pytorch_model.bin beside .*mixed files"),
        (lambda f: _edit_config(f, auto_map={"AutoModel": "x.Y"}), r"is refused: its config.json asks for .*auto_map"),
        (lambda f: _edit_config(f, d_model=24), "does not match its config|not a loadable TinyTimeMixer"),
        (lambda f: _edit_config(f, num_layers=3), "weights do not match its config.json .*missing keys"),
    ],
)
def test_when_the_folder_is_bad_then_one_checkpoint_error_names_it(folder, tmp_path, change, message):
    bad = _copy(folder, tmp_path)
    change(bad)
    with pytest.raises(tsfm.CheckpointError, match=message):
        tsfm.load(str(bad), device="cpu")


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_when_the_cli_gets_a_bad_ttm_folder_then_it_prints_one_line_and_exits_2(folder, tmp_path, capsys):
    from tsfm.tasks.cli import main

    bad = _copy(folder, tmp_path)
    (bad / "model.safetensors").unlink()
    code = main(["forecast", "--data", "aeon:airline", "--horizon", "4", "--model", str(bad),
                 "--output", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no model.safetensors" in err[0]


def test_when_a_hub_id_is_a_ttm_and_granite_tsfm_is_missing_then_the_error_names_the_install_line(monkeypatch):
    config = {"model_type": "tinytimemixer"}
    monkeypatch.setattr(hub, "fetch_repository", lambda name: hub.HubRepository(name, config, ("config.json",)))
    assert hub._FAMILIES["ttm"].available is ttm.ttm_available
    monkeypatch.setitem(hub._FAMILIES, "ttm", dataclasses.replace(hub._FAMILIES["ttm"], available=lambda: False))
    with pytest.raises(tsfm.CheckpointError, match=r"is a ttm model.*installed: pip install --no-deps granite-tsfm"):
        tsfm.load("ibm-granite/some-ttm", device="cpu")
    monkeypatch.setattr(ttm, "ttm_available", lambda: False)
    with pytest.raises(tsfm.CheckpointError, match="not installed: pip install --no-deps granite-tsfm"):
        tsfm.load("ibm-granite/granite-timeseries-ttm-r2", device="cpu")


def test_when_a_hub_id_is_a_ttm_then_it_is_routed_to_the_ttm_loader(monkeypatch, folder):
    config = json.loads((folder / "config.json").read_text())
    monkeypatch.setattr(hub, "fetch_repository", lambda name: hub.HubRepository(name, config, ("config.json",)))
    real = ttm._from_pretrained
    asked = []
    monkeypatch.setattr(ttm, "_from_pretrained", lambda source, name, local: asked.append(source) or real(
        str(folder), name, True))
    model = tsfm.load("someone/ttm-finetuned", device="cpu")
    assert asked == ["someone/ttm-finetuned"] and model.family == "ttm"


def test_when_ttm_is_imported_then_the_root_logger_is_left_as_it_was():
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    ttm.ttm_class()
    assert (list(root.handlers), root.level) == before


def test_when_rebuilt_around_a_copy_of_its_module_then_it_forecasts_with_that_module(model):
    family = training_family(model)
    module = copy.deepcopy(family.module(model))
    rebuilt = family.rebuild(model, module, "copy")
    series = [np.sin(np.arange(80) / 3.0) + 5]
    np.testing.assert_allclose(rebuilt.predict_quantiles(series, 4).mean, model.predict_quantiles(series, 4).mean)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.5)
    assert not np.allclose(rebuilt.predict_quantiles(series, 4).mean, model.predict_quantiles(series, 4).mean)
    assert family.module(rebuilt) is module and family.max_horizon(model) == 24
    assert family.lora_targets == ("fc1", "fc2")


def test_when_the_objective_is_evaluated_then_it_is_the_mse_of_the_standardised_forecast(model):
    family = training_family(model)
    objective = family.objective(model, 8, target_clamp=1e6)
    context = torch.tensor(np.stack(seasonal_panel(n_series=2, seed=1)[0][:60][None].repeat(2, 0)), dtype=torch.float32)
    target = context[:, -8:] + 1.0
    loss = objective(context, target)
    values, observed, loc, scale = ttm.standardise([c.numpy() for c in context], 64)
    with torch.no_grad():
        forecast = model.module(past_values=torch.from_numpy(values[..., None]),
                                past_observed_mask=torch.from_numpy(observed[..., None])).prediction_outputs[:, :8, 0]
    expected = ((forecast.numpy() - (target.numpy() - loc) / scale) ** 2).mean()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_when_fine_tuned_then_the_saved_model_loads_back_as_a_ttm(model, tmp_path, method):
    from tsfm.adapters.config import FinetuneConfig
    from tsfm.adapters.finetune import finetune

    panel = [50 + 10 * np.sin(np.arange(240) / 4.0 + i) + np.random.default_rng(i).normal(0, 1, 240) for i in range(4)]
    config = FinetuneConfig(steps=4, batch_size=8, eval_every=2, checkpoint_every=0, warmup_steps=1, min_context=16,
                            windows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = finetune(model, panel, 8, method=method, config=config, output_dir=tmp_path / "out", baselines=(),
                          season_length=6, progress=False, resume=False, force=True)
    assert result.report["family"] == "ttm" and method in result.report["runs"]
    if method == "lora":
        assert result.report["lora_config"]["target_modules"] == ["fc1", "fc2"]
        assert 0 < result.report["runs"]["lora"]["trainable_share"] < 1
    loaded = tsfm.load(str(tmp_path / "out"), device="cpu")
    assert loaded.predict_quantiles(panel, 8).quantiles.shape == (4, 8, 9)


def test_when_loaded_in_bfloat16_then_the_weights_are_bf16_and_the_forecast_stays_close(folder, model):
    half = tsfm.load(str(folder), device="cpu", dtype="bfloat16")
    panel = seasonal_panel(n_series=2)
    assert next(half.module.parameters()).dtype == torch.bfloat16
    np.testing.assert_allclose(half.predict_quantiles(panel, 8).mean, model.predict_quantiles(panel, 8).mean,
                               rtol=0.05)


def test_when_the_teacher_graph_is_built_then_it_matches_the_forecaster_on_full_windows(model):
    graph = training_family(model).quantile_graph(model, 8, 64)
    windows = np.stack([50 + 10 * np.sin(np.arange(64) / 3.0 + i) + np.random.default_rng(i).normal(0, 1, 64)
                        for i in range(3)])
    with torch.no_grad():
        quantiles = graph.module(torch.tensor(windows, dtype=torch.float32)).numpy()  # [3, 8, 9]
    forecast = model.predict_quantiles(list(windows), 8, graph.quantile_levels)
    assert graph.quantile_levels == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    np.testing.assert_allclose(quantiles[..., 4], forecast.mean, rtol=1e-4, atol=1e-3)
    width = quantiles[..., -1] - quantiles[..., 0]
    np.testing.assert_allclose(width, forecast.quantiles[..., -1] - forecast.quantiles[..., 0], rtol=0.05)
    padded = np.concatenate([np.full((3, 16), np.nan), windows[:, 16:]], axis=1)  # shorter series, NaN-padded
    with torch.no_grad():
        assert np.isfinite(graph.module(torch.tensor(padded, dtype=torch.float32)).numpy()).all()


@pytest.mark.parametrize(("horizon", "context", "message"), [(25, 64, "horizon must be in 1..24"),
                                                             (8, 40, "context_length must be in 41..64")])
def test_when_the_teacher_graph_shape_is_impossible_then_the_error_names_the_range(model, horizon, context, message):
    with pytest.raises(tsfm.InputError, match=message):
        training_family(model).quantile_graph(model, horizon, context)


@pytest.mark.slow
def test_when_exported_as_a_teacher_then_the_onnx_file_matches_the_graph(folder, tmp_path):
    from tsfm.distill.teacher_export import export_bolt_teacher

    report = export_bolt_teacher(str(folder), tmp_path / "ttm.onnx", horizon=8, context_length=64)
    assert (tmp_path / "ttm.onnx").is_file() and report is not None
