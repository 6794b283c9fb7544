"""Moirai 2 (uni2ts) behind the contract: loading, bad folders, hub routing, forecasts against upstream's own.

Runs on a tiny random-weight checkpoint of the real architecture
(:func:`tsfm.backends.moirai_testing.build_tiny_moirai`); the conformance suite (tests/test_conformance.py)
runs the shared checks on the same checkpoint. The test that reads a released checkpoint from
``../shared/models`` skips when it is absent. The missing-package messages are tested in test_families.py.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uni2ts", reason="uni2ts is not installed (pip install --no-deps uni2ts==2.0.0)")

import torch  # noqa: E402

import tsfm  # noqa: E402
from tests.conftest import seasonal_panel  # noqa: E402
from tests.family_checks import (  # noqa: E402
    check_hub_id_fetches_only_config_and_safetensors,
    check_only_family_claims,
    one_line_exit_2,
)
from tsfm.backends import moirai  # noqa: E402

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
NATIVE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@pytest.fixture(scope="module")
def folder(tiny_checkpoints):
    return tiny_checkpoints["moirai"]


@pytest.fixture(scope="module")
def model(folder):
    return tsfm.load(str(folder), device="cpu")


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "moirai"
    shutil.copytree(folder, target)
    return target


# --- upstream's Moirai2Forecast, run without lightning and gluonts ---------------------------------


def _upstream_forecast_class(monkeypatch) -> type:
    """uni2ts's own ``Moirai2Forecast``, its Lightning base and gluonts names stubbed for this test only.

    ``forward`` and ``predict`` use torch, einops and uni2ts alone; lightning and gluonts give the base
    class, ``hparams``, ``device`` and names used by ``create_predictor`` (not called here). gluonts~=0.14.3
    pins numpy < 2, so the real packages cannot be installed beside this stack.
    """
    import torch.nn

    class LightningModule(torch.nn.Module):
        def save_hyperparameters(self, ignore=()):
            arguments = inspect.currentframe().f_back.f_locals
            self.hparams = types.SimpleNamespace(**{key: value for key, value in arguments.items()
                                                    if key not in (*ignore, "self", "__class__")})

        @property
        def device(self):
            return next(self.parameters()).device

    stubs = {"lightning": types.ModuleType("lightning")}
    stubs["lightning"].LightningModule = LightningModule
    for name, names in {
        "gluonts": (), "gluonts.model": ("Input", "InputSpec"), "gluonts.model.forecast_generator":
        ("QuantileForecastGenerator",), "gluonts.torch": ("PyTorchPredictor",), "gluonts.transform":
        ("AddObservedValuesIndicator", "AsNumpyArray", "CausalMeanValueImputation", "ExpandDimArray",
         "TestSplitSampler", "Transformation"), "gluonts.transform.split": ("TFTInstanceSplitter",),
    }.items():
        stubs[name] = types.ModuleType(name)
        for attribute in names:
            setattr(stubs[name], attribute, object)
    # uni2ts.transform's __init__ imports gluonts throughout; imputation.py itself needs only numpy.
    transform = types.ModuleType("uni2ts.transform")
    transform.__path__ = [str(Path(importlib.util.find_spec("uni2ts").origin).parent / "transform")]
    stubs["uni2ts.transform"] = transform
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    moirai.moirai_class()  # uni2ts.model.moirai2.module, registered under its own name
    package = types.ModuleType("uni2ts.model.moirai2")
    package.__path__ = [str(Path(sys.modules[moirai.MODULE_NAME].__file__).parent)]
    monkeypatch.setitem(sys.modules, "uni2ts.model.moirai2", package)
    before = set(sys.modules)
    from uni2ts.model.moirai2.forecast import Moirai2Forecast

    for name in set(sys.modules) - before:  # forecast.py and the imputer, imported under the stubs
        del sys.modules[name]
    return Moirai2Forecast


@pytest.mark.parametrize("horizon", [8, 30])  # one pass (2 patches of 4), and a rollout of 6 more patches
def test_when_series_are_forecast_then_tsfm_returns_upstreams_own_predict(horizon, model, monkeypatch):
    forecast_class = _upstream_forecast_class(monkeypatch)
    upstream = forecast_class(prediction_length=horizon, target_dim=1, feat_dynamic_real_dim=0,
                              past_feat_dynamic_real_dim=0, context_length=96, module=model.module)
    # Unequal lengths 60..128, without the panel's gaps: upstream's predict fills them with 0, tsfm with the
    # causal mean its imputer documents (tsfm.backends.moirai's docstring).
    panel = [series[np.isfinite(series)] for series in seasonal_panel()]
    theirs = upstream.predict([series.astype(np.float32) for series in panel])  # [n, Q, horizon]
    local = type(model)(model.name, model.module, tsfm.registry.LoadOptions(device="cpu"))
    local.context_length = 96
    ours = local.predict_quantiles(panel, horizon, NATIVE)
    np.testing.assert_allclose(ours.quantiles, np.sort(theirs.transpose(0, 2, 1), axis=-1), rtol=1e-4, atol=1e-3)


# --- loading -------------------------------------------------------------------------------------


def test_when_a_tiny_checkpoint_is_saved_then_it_loads_as_moirai_through_from_pretrained(folder, model):
    assert {"config.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert isinstance(model.module, moirai.moirai_class()) and model.family == "moirai"
    assert (model.patch_size, model.prediction_length) == (4, 8)
    assert not model.module.training


def test_when_a_sine_is_forecast_then_shapes_levels_and_median_are_sound(model):
    sine = 50 + 10 * np.sin(2 * np.pi * np.arange(240) / 24)
    levels = (0.05, 0.1, 0.5, 0.9, 0.95)
    forecast = model.predict_quantiles([sine, sine[:100]], 48, levels)
    assert forecast.quantiles.shape == (2, 48, 5) and forecast.mean.shape == (2, 48)
    assert forecast.quantile_levels == levels
    assert np.isfinite(forecast.quantiles).all()
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
    np.testing.assert_allclose(forecast.quantiles[..., 2], forecast.mean, rtol=1e-9)
    assert (forecast.quantiles[..., 0] < forecast.quantiles[..., 1]).any(), "0.05 is extrapolated, not clamped"


def test_when_the_horizon_is_past_the_native_one_then_its_first_block_is_the_native_forecast(model):
    panel = seasonal_panel(n_series=3)
    short = model.predict_quantiles(panel, 8).quantiles
    long = model.predict_quantiles(panel, 40).quantiles
    np.testing.assert_allclose(long[:, :8], short, rtol=1e-5, atol=1e-5)


def test_when_a_series_is_longer_than_the_context_then_only_its_last_values_count(model):
    rng = np.random.default_rng(0)
    tail = 20 + rng.normal(0, 1, 64)
    local = type(model)(model.name, model.module, tsfm.registry.LoadOptions(device="cpu"))
    local.context_length = 64
    short = local.predict_quantiles([tail], 8).quantiles
    long = local.predict_quantiles([np.concatenate([rng.normal(500, 50, 300), tail])], 8).quantiles
    np.testing.assert_allclose(long, short, rtol=1e-6)


def test_when_values_are_missing_then_each_takes_the_mean_of_the_values_before_it():
    filled = moirai.causal_mean_impute(np.array([np.nan, 2.0, 4.0, np.nan, 6.0, np.nan]))
    np.testing.assert_allclose(filled, [2.0, 2.0, 4.0, 8 / 3, 6.0, (2 + 2 + 4 + 4 + 6) / 5])


def test_when_a_short_series_is_padded_then_padding_repeats_its_first_value_and_is_not_real():
    values, observed, real = moirai.prepare([np.array([5.0, 6.0, 7.0]), np.arange(10.0)], 1680, 4)
    assert values.shape == (2, 12)  # the longest series, in whole patches
    np.testing.assert_array_equal(values[0], [5.0] * 10 + [6.0, 7.0])
    assert real[0].tolist() == [False] * 9 + [True] * 3 and observed[0].all()


def test_when_a_half_precision_dtype_is_asked_then_the_option_is_refused(folder):
    with pytest.raises(tsfm.InputError, match="dtype must be None or 'float32'"):
        tsfm.load(str(folder), device="cpu", dtype="bfloat16")


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: (f / "pytorch_model.bin").write_bytes(b""), "pytorch_model.bin beside its Moirai 2 config"),
    (lambda f: (f / "model.safetensors").unlink(), "has a Moirai 2 config.json but no model.safetensors"),
    (lambda f: (f / "config.json").write_text(json.dumps({**json.loads((f / "config.json").read_text()),
                                                          "auto_map": {}})), "asks for custom code"),
    (lambda f: (f / "config.json").write_text(json.dumps({**json.loads((f / "config.json").read_text()),
                                                          "d_ff": 96})), "not a loadable Moirai 2 checkpoint"),
])
def test_when_a_folder_is_not_a_clean_moirai_checkpoint_then_one_line_names_what_is_wrong(
    change, message, folder, tmp_path, capsys
):
    target = _copy(folder, tmp_path)
    change(target)
    with pytest.raises(tsfm.CheckpointError, match=message):
        moirai.load_moirai(str(target), tsfm.registry.LoadOptions(device="cpu"))
    argv = ["forecast", "--data", "aeon:airline", "--horizon", "4", "--model", str(target), "--output", "x.csv"]
    one_line_exit_2(argv, capsys)


# --- hub routing ---------------------------------------------------------------------------------


def test_when_a_hub_repository_holds_moirai_2s_config_then_only_moirai_claims_it(folder):
    check_only_family_claims(folder, "moirai", "Salesforce/moirai-2.0-R-small")


def test_when_a_moirai_hub_id_is_loaded_then_only_its_config_and_safetensors_are_fetched(folder, monkeypatch):
    check_hub_id_fetches_only_config_and_safetensors(folder, "moirai", "someone/moirai-2.0-tuned", 2, monkeypatch)


def test_when_tsfm_is_imported_and_models_listed_then_uni2ts_is_not_imported():
    code = "import sys, tsfm; tsfm.list_models(); assert 'uni2ts' not in sys.modules, 'uni2ts imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- the released checkpoint (../shared/models) -----------------------------------------------------


def test_when_the_released_moirai_2_small_is_present_then_it_loads_and_forecasts():
    folder = SHARED_MODELS / "moirai-2.0-R-small"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (a released Moirai 2 checkpoint is read from ../shared/models; "
                    "none is there yet)")
    model = tsfm.load(str(folder), device="cpu")
    assert sum(p.numel() for p in model.module.parameters()) > 10e6
    hours = np.arange(24 * 30)
    series = 100 + 20 * np.sin(2 * np.pi * hours / 24)
    forecast = model.predict_quantiles([series], 48)
    truth = 100 + 20 * np.sin(2 * np.pi * np.arange(len(hours), len(hours) + 48) / 24)
    assert np.abs(forecast.mean[0] - truth).mean() < 5.0, "a clean daily sine is continued"
    assert torch.isfinite(torch.from_numpy(forecast.quantiles)).all()


# --- wrapper overhead at the released size (slow: an 11.4M random-weight model) ----------------------


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("TSFM_OVERHEAD"),
                    reason="wrapper-overhead benchmark at the released size: set TSFM_OVERHEAD=1 to run it")
@pytest.mark.parametrize("length", ["panel", 2000])  # the conftest panel (60-128 values), and past the context
def test_moirai_wrapper_overhead_at_the_released_size(tmp_path, monkeypatch, length):
    """tsfm's predict_quantiles against upstream's Moirai2Forecast.predict on one batch, one thread; prints both.

    tsfm packs the context and rolls out long horizons itself (upstream's class needs Lightning and
    gluonts), so the whole call is the overhead: end to end, against upstream's predict on the same module.
    """
    import os
    import time

    from tsfm.backends.moirai_testing import MOIRAI2_SMALL, build_tiny_moirai

    folder = build_tiny_moirai(tmp_path / "moirai-2-small", **MOIRAI2_SMALL)
    model = tsfm.load(str(folder), device="cpu")
    assert sum(p.numel() for p in model.module.parameters()) > 11e6
    forecast_class = _upstream_forecast_class(monkeypatch)
    n_series = int(os.environ.get("TSFM_OVERHEAD_SERIES", 8))
    if length == "panel":
        panel = [s[np.isfinite(s)].astype(np.float32) for s in seasonal_panel(n_series=n_series)]
    else:
        rng, t = np.random.default_rng(0), np.arange(length)
        panel = [(10 + np.sin(2 * np.pi * t / 24 + k) + 0.1 * rng.standard_normal(length)).astype(np.float32)
                 for k in range(n_series)]
    horizon, repeats = 64, int(os.environ.get("TSFM_OVERHEAD_REPEATS", 5))
    upstream = forecast_class(prediction_length=horizon, target_dim=1, feat_dynamic_real_dim=0,
                              past_feat_dynamic_real_dim=0, context_length=model.context_length, module=model.module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"upstream": [], "tsfm": []}
    try:
        for _ in range(repeats):  # alternating spreads a busy machine's noise over both
            for key, call in (("upstream", lambda: upstream.predict(panel)),
                              ("tsfm", lambda: model.predict_quantiles(panel, horizon, NATIVE))):
                start = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    theirs, ours = min(times["upstream"]), min(times["tsfm"])
    print(f"\nmoirai-2.0-small {len(panel)} series of {max(map(len, panel))} values at most, h={horizon}: "
          f"upstream predict {theirs:.3f}s tsfm {ours:.3f}s "
          f"({100 * (ours / theirs - 1):+.1f}%)")
    np.testing.assert_allclose(model.predict_quantiles(panel, horizon, NATIVE).quantiles,
                               np.sort(upstream.predict(panel).transpose(0, 2, 1), axis=-1), rtol=1e-4, atol=1e-3)
