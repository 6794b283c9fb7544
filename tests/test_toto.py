"""Toto (toto-ts) behind the contract: loading, bad folders, hub routing, forecasts against upstream's own.

Runs on a tiny random-weight checkpoint of the real architecture
(:func:`tsfm.backends.toto_testing.build_tiny_toto`); the conformance suite (tests/test_conformance.py)
runs the shared checks on the same checkpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tsfm
from tests.conftest import seasonal_panel
from tests.family_checks import (
    check_hub_id_fetches_only_config_and_safetensors,
    check_only_family_claims,
    one_line_exit_2,
)
from tsfm.backends import toto

if not toto.toto_available():
    pytest.skip(f"toto-ts or a module it imports is missing ({toto.INSTALL})", allow_module_level=True)

LEVELS = (0.1, 0.5, 0.9)


@pytest.fixture(scope="module")
def folder(tiny_checkpoints):
    return tiny_checkpoints["toto"]


@pytest.fixture(scope="module")
def model(folder):
    return tsfm.load(str(folder), device="cpu")


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "toto"
    shutil.copytree(folder, target)
    return target


def test_when_a_series_is_forecast_then_tsfm_returns_upstreams_own_samples_quantiles(model, folder):
    toto_cls, forecaster_cls, masked_cls = toto.toto_classes()
    upstream = toto_cls.load_from_checkpoint(str(folder), map_location="cpu").eval()
    series = 5 + np.sin(np.arange(100) / 4.0)
    x = torch.tensor(series, dtype=torch.float32)[None, None]  # [batch, variate, time]
    inputs = masked_cls(series=x, padding_mask=torch.ones_like(x, dtype=torch.bool), id_mask=torch.zeros_like(x),
                        timestamp_seconds=torch.arange(100)[None, None], time_interval_seconds=torch.ones(1, 1))
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(toto.SEED)
        samples = forecaster_cls(upstream.model).forecast(inputs, prediction_length=12, num_samples=model.num_samples,
                                                          samples_per_batch=model.num_samples).samples[0, 0]
    expected = np.moveaxis(np.quantile(samples.double().numpy(), LEVELS, axis=-1), 0, -1)
    forecast = model.predict_quantiles([series], 12, LEVELS)
    np.testing.assert_allclose(forecast.quantiles[0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(forecast.mean[0], expected[:, 1], rtol=1e-5, atol=1e-5)
    assert model.family == "toto" and isinstance(model, toto.TotoTsfmForecaster)


def _upstream_alone(upstream, series: np.ndarray, horizon: int, num_samples: int) -> np.ndarray:
    """``[horizon, num_samples]``: upstream's forecast of one series in its own call, under tsfm's seed."""
    _, forecaster_cls, masked_cls = toto.toto_classes()
    inputs = masked_cls(**{k: torch.from_numpy(v) for k, v in toto.batch_inputs([series], 4096).items()})
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(toto.SEED)
        out = forecaster_cls(upstream).forecast(inputs, prediction_length=horizon, num_samples=num_samples,
                                                samples_per_batch=num_samples)
    return out.samples[0, 0].double().numpy()


def test_when_series_of_one_length_share_a_forward_pass_then_each_gets_the_draws_it_gets_alone(model):
    rng = np.random.default_rng(1)
    panel = [10 * (i + 1) + np.sin(np.arange(80) / 3) + rng.normal(0, 0.2, 80) for i in range(3)]
    assert model.batches(panel) == [[0, 1, 2]]  # one forward pass for the three
    together = model.sample(panel, 10)
    for row, series in enumerate(panel):
        np.testing.assert_allclose(together[row], _upstream_alone(model.model.model, series, 10, model.num_samples),
                                   rtol=1e-5, atol=1e-4)


def test_when_series_differ_in_length_or_exceed_the_path_budget_then_they_go_in_separate_passes(folder):
    panel = [np.ones(50), np.ones(70), np.ones(50), np.ones(50), np.ones(5000), np.ones(4096)]
    model = toto.TotoTsfmForecaster("x", object(), tsfm.registry.LoadOptions(batch_size=8), num_samples=256)
    assert model.series_per_call == 4  # 1,024 paths at most
    assert model.batches(panel) == [[0, 2, 3], [1], [4, 5]]  # both long ones are cut to the 4,096 context
    small = toto.TotoTsfmForecaster("x", object(), tsfm.registry.LoadOptions(batch_size=2), num_samples=16)
    assert small.batches(panel) == [[0, 2], [3], [1], [4, 5]]
    huge = toto.TotoTsfmForecaster("x", object(), tsfm.registry.LoadOptions(), num_samples=2048)
    assert huge.series_per_call == 1  # one series always goes, even over the budget


def test_when_a_distribution_of_an_unknown_class_is_cut_then_it_is_named():
    from tsfm.backends.toto_sampling import rows

    with pytest.raises(TypeError, match="cannot draw Toto's forecast per series from a Normal"):
        rows(torch.distributions.Normal(torch.zeros(4), torch.ones(4)), slice(0, None, 2))


def test_when_values_are_missing_or_series_short_then_they_are_masked_not_read():
    inputs = toto.batch_inputs([np.array([1.0, np.nan, 3.0]), np.arange(5.0)], context_length=4)
    assert inputs["series"].shape == (2, 1, 4)  # cut to the context, padded to the longest
    np.testing.assert_array_equal(inputs["padding_mask"][:, 0], [[False, True, False, True], [True] * 4])
    np.testing.assert_array_equal(inputs["series"][:, 0], [[0, 1, 0, 3], [1, 2, 3, 4]])


def test_when_the_same_call_is_repeated_then_the_sampled_forecast_is_the_same(model):
    panel = seasonal_panel(2)
    first, again = (model.predict_quantiles(panel, 6, LEVELS).quantiles for _ in range(2))
    np.testing.assert_array_equal(first, again)
    torch.manual_seed(123)
    untouched = torch.rand(3)
    torch.manual_seed(123)
    model.predict_quantiles(panel[:1], 2, LEVELS)  # samples under its own seed, in a forked generator
    assert torch.equal(torch.rand(3), untouched)  # the caller's random state is left alone


def test_when_options_are_bad_then_they_are_refused(folder):
    with pytest.raises(tsfm.InputError, match="dtype must be None or 'float32'"):
        tsfm.load(str(folder), device="cpu", dtype="bfloat16")
    with pytest.raises(tsfm.InputError, match="num_samples must be an integer >= 2"):
        toto.TotoTsfmForecaster("x", object(), tsfm.registry.LoadOptions(), num_samples=1)
    with pytest.raises(tsfm.InputError, match="max_paths must be an integer >= 1, got 0"):
        toto.TotoTsfmForecaster("x", object(), tsfm.registry.LoadOptions(), max_paths=0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: (f / "pytorch_model.bin").write_bytes(b""), "pytorch_model.bin beside its Toto config"),
    (lambda f: (f / "model.safetensors").unlink(), "has a Toto config.json but no model.safetensors"),
    (lambda f: (f / "config.json").write_text(json.dumps({**json.loads((f / "config.json").read_text()),
                                                          "auto_map": {}})), "asks for custom code"),
    (lambda f: (f / "config.json").write_text(json.dumps({**json.loads((f / "config.json").read_text()),
                                                          "embed_dim": 48})), "not a loadable Toto checkpoint"),
])
def test_when_a_folder_is_not_a_clean_toto_checkpoint_then_one_line_names_what_is_wrong(
    change, message, folder, tmp_path, capsys
):
    target = _copy(folder, tmp_path)
    change(target)
    with pytest.raises(tsfm.CheckpointError, match=message):
        toto.load_toto(str(target), tsfm.registry.LoadOptions(device="cpu"))
    argv = ["forecast", "--data", "aeon:airline", "--horizon", "4", "--model", str(target), "--output", "x.csv"]
    one_line_exit_2(argv, capsys)


def test_when_a_hub_repository_holds_totos_config_then_only_toto_claims_it(folder):
    check_only_family_claims(folder, "toto", "Datadog/Toto-Open-Base-1.0")


def test_when_a_toto_hub_id_is_loaded_then_only_its_config_and_safetensors_are_fetched(folder, monkeypatch):
    check_hub_id_fetches_only_config_and_safetensors(folder, "toto", "someone/toto-tuned", 1, monkeypatch)


def test_when_tsfm_is_imported_and_models_listed_then_toto_is_not_imported():
    code = "import sys, tsfm; tsfm.list_models(); assert 'toto' not in sys.modules, 'toto imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("TSFM_OVERHEAD"),
                    reason="wrapper-overhead benchmark at the released size: set TSFM_OVERHEAD=1 to run it")
def test_toto_wrapper_overhead_at_the_released_size(tmp_path):
    """Times tsfm's predict_quantiles against upstream's one batched forecast call; prints both."""
    import os
    import time

    from tsfm.backends.toto_testing import TOTO_BASE, build_tiny_toto

    sizes = {k: TOTO_BASE[k] for k in ("patch_size", "embed_dim", "num_layers", "num_heads", "mlp_hidden_dim")}
    folder = build_tiny_toto(tmp_path / "toto-base", **sizes, **TOTO_BASE["output_distribution_kwargs"])
    loaded = tsfm.load(str(folder), device="cpu")
    assert sum(p.numel() for p in loaded.model.parameters()) > 150e6
    n_series, samples, horizon = int(os.environ.get("TSFM_OVERHEAD_SERIES", 4)), 16, 8
    model = toto.TotoTsfmForecaster(str(folder), loaded.model, tsfm.registry.LoadOptions(device="cpu"),
                                    num_samples=samples)
    rng = np.random.default_rng(0)
    panel = [10 + np.sin(np.arange(512) / 4) + rng.normal(0, 0.3, 512) for _ in range(n_series)]
    _, forecaster_cls, masked_cls = toto.toto_classes()
    inputs = masked_cls(**{k: torch.from_numpy(v) for k, v in toto.batch_inputs(panel, 4096).items()})

    def upstream():
        with torch.inference_mode():
            torch.manual_seed(toto.SEED)
            return forecaster_cls(loaded.model.model).forecast(inputs, prediction_length=horizon,
                                                               num_samples=samples, samples_per_batch=samples)

    times = {"upstream": [], "tsfm": []}
    for _ in range(int(os.environ.get("TSFM_OVERHEAD_REPEATS", 5))):  # alternated: a busy machine's noise spreads
        for key, call in (("upstream", upstream), ("tsfm", lambda: model.predict_quantiles(panel, horizon, LEVELS))):
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    theirs, ours = min(times["upstream"]), min(times["tsfm"])
    print(f"\ntoto-base {n_series} series x 512, {samples} samples, h={horizon}, {torch.get_num_threads()} threads: "
          f"upstream {theirs:.3f}s tsfm {ours:.3f}s ({100 * (ours / theirs - 1):+.1f}%)")
    assert model.batches(panel) == [list(range(n_series))]  # one forward pass, as upstream's
