"""The released TinyTimeMixer R2 (512-96) through the contract, read from ``../shared/models``.

Skipped with the reason when the checkpoint, the M4 data or granite-tsfm is absent. The README's
figures for this checkpoint (``../shared/models/README.md``): on M4 Hourly's official test (414
series, horizon 48 cut from its 96, the last 512 values as context) mean MASE 2.783, median 1.171,
with the in-sample seasonal-naive scale (season 24).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tsfm_public", reason="granite-tsfm is not installed (pip install --no-deps granite-tsfm)")

import torch  # noqa: E402

import tsfm  # noqa: E402
from tests.conftest import shared_data  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "granite-ttm-r2-512-96"


@pytest.fixture(scope="module")
def released():
    if not (CHECKPOINT / "model.safetensors").is_file():
        pytest.skip(f"{CHECKPOINT} is absent (real checkpoints live in ../shared/models beside the checkout)")
    return tsfm.load(str(CHECKPOINT), device="cpu")


@pytest.fixture(scope="module")
def m4_hourly():
    from tsfm.datasets import load_m4

    _, train, test = load_m4(shared_data("m4"))
    return train, test


def test_when_the_released_checkpoint_loads_then_it_is_ttm_r2_512_96(released):
    assert released.family == "ttm"
    assert (released.context_length, released.prediction_length) == (512, 96)
    assert sum(p.numel() for p in released.module.parameters()) == 805_280
    assert released.embed([np.sin(np.arange(600) / 4.0)]).shape == (1, 192)


def test_when_m4_series_are_forecast_then_the_mean_is_upstreams_forward_on_the_last_512_values(released, m4_hourly):
    train, _ = m4_hourly
    series = list(train[:16])
    mean = released.predict_quantiles(series, 48).mean
    batch = torch.tensor(np.stack([s[-512:] for s in series]), dtype=torch.float32)[..., None]
    with torch.no_grad():
        own = released.module(past_values=batch).prediction_outputs[:, :48, 0].numpy()
    np.testing.assert_allclose(mean, own, rtol=1e-4, atol=1e-3 * np.abs(own).max())


def test_when_m4_hourly_is_forecast_through_the_contract_then_the_readme_figures_are_reproduced(released, m4_hourly):
    from tsfm.metrics import mase

    train, test = m4_hourly
    forecast = released.predict_quantiles(list(train), 48, (0.1, 0.5, 0.9))
    scores = np.array([mase(y[:48], f, x, 24) for y, f, x in zip(test, forecast.quantiles[..., 1], train, strict=True)])
    assert np.mean(scores) == pytest.approx(2.783, rel=0.01)
    assert np.median(scores) == pytest.approx(1.171, rel=0.01)
    inside = [(y[:48] >= q[:, 0]) & (y[:48] <= q[:, 2]) for y, q in zip(test, forecast.quantiles, strict=True)]
    assert 0.7 < np.mean(inside) < 0.9  # the backtest quantiles' 80% interval: 0.799 measured
