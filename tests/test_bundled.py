"""The models this project pretrained and ships: present, offline, upstream-loadable, and learned.

The core conformance suite runs over them too (every offline registered name joins it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tsfm
from tsfm.bundled import BUNDLED_MODELS, bundled_model_path


@pytest.mark.parametrize("name", list(BUNDLED_MODELS))
def test_when_a_bundled_model_is_installed_then_its_folder_is_small_and_documented(name):
    folder = bundled_model_path(name)
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    assert size_mb < 10, f"{name} weights are {size_mb:.1f} MB; bundled models must stay a few MB"
    card = (folder / "README.md").read_text()
    recipe = json.loads((folder / "pretrain_config.json").read_text())
    assert f"{recipe['steps']:,}" in card  # the card states the steps the weights were trained for
    assert "tsfm pretrain" in card  # and the command that reproduces them


@pytest.mark.slow  # a fresh Python process per model
@pytest.mark.parametrize("name", list(BUNDLED_MODELS))
def test_when_loaded_with_the_hub_offline_then_upstream_from_pretrained_reads_the_folder(name):
    code = (
        "import chronos, torch; from tsfm import bundled_model_path; "
        f"p = chronos.BaseChronosPipeline.from_pretrained(bundled_model_path({name!r})); "
        # a list of 1-D tensors is the input every Chronos pipeline takes; Chronos-2 returns a list
        "q, m = p.predict_quantiles([torch.arange(64.0)], prediction_length=8, quantile_levels=[0.5]); "
        "print(int(q[0].numel()))"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "8"  # one series x 8 steps x 1 quantile


def test_when_the_default_model_forecasts_a_noisy_seasonal_series_then_it_beats_a_flat_forecast():
    # A random-weight or untrained model forecasts roughly flat; a learned one follows the cycle.
    rng = np.random.default_rng(3)
    t = np.arange(24 * 20 + 48)
    series = [10 + 0.02 * t + 3 * np.sin(2 * np.pi * t / 24 + phase) + rng.normal(0, 0.3, t.size)
              for phase in rng.uniform(0, 2 * np.pi, size=8)]
    context, future = [s[:-48] for s in series], np.stack([s[-48:] for s in series])
    forecast = tsfm.load(tsfm.DEFAULT_MODEL, device="cpu").predict_quantiles(context, 48, (0.1, 0.5, 0.9))

    model_mae = np.abs(forecast.quantiles[:, :, 1] - future).mean()
    flat_mae = np.abs(np.stack([c[-24:].mean() for c in context])[:, None] - future).mean()
    assert model_mae < 0.35 * flat_mae, (model_mae, flat_mae)
    inside = (future >= forecast.quantiles[:, :, 0]) & (future <= forecast.quantiles[:, :, 2])
    assert 0.5 < inside.mean() <= 1.0


def test_when_a_name_is_not_bundled_then_the_error_lists_the_bundled_ones():
    with pytest.raises(tsfm.CheckpointError, match="tsfm-bolt-mini"):
        bundled_model_path("tsfm-bolt-huge")
