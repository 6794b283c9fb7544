"""Stress tests score every model on the same perturbed contexts against its own clean run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.tasks.stress import StressConfig, stress_test, write_stress


class LastValue(BaseForecaster):
    """Repeats the last observed value; a ±1 band around it."""

    def __init__(self, name: str = "last-value") -> None:
        super().__init__(name)

    def _predict_quantiles(self, context, horizon, levels):
        last = np.array([c[np.isfinite(c)][-1] for c in context])
        mean = np.repeat(last[:, None], horizon, axis=1)
        offsets = (np.asarray(levels) - 0.5) * 2.5
        return mean[:, :, None] + offsets, mean


def _panel(n: int = 8, length: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [10 * i + np.cumsum(rng.normal(0, 1, length)) for i in range(n)]


def test_when_stressed_then_every_model_perturbation_and_severity_has_a_row_against_clean():
    config = StressConfig(horizon=6, windows=2, perturbations=("noise", "missing"))
    table = stress_test([LastValue("a"), LastValue("b")], _panel(), config, progress=False).table
    assert len(table) == 2 * (1 + 4 + 4)
    clean = table[table.perturbation == "clean"]
    np.testing.assert_allclose(clean[["rel_MASE", "rel_WQL"]].to_numpy(), 1.0)
    np.testing.assert_allclose(clean.coverage_change, 0.0)
    # the same perturbed contexts for every model: identical models score identically
    a, b = (table[table.model == m].drop(columns="model").reset_index(drop=True) for m in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)


def test_when_noise_grows_then_a_last_value_forecast_degrades_monotonically():
    table = stress_test([LastValue()], _panel(30), StressConfig(horizon=4, perturbations=("noise",)), progress=False)
    noisy = table.table[table.table.perturbation == "noise"].sort_values("severity", ascending=False)
    assert np.all(np.diff(noisy.rel_MASE.to_numpy()) > 0)  # 30 dB -> 5 dB: worse each time
    assert noisy.rel_MASE.iloc[-1] > 1.1


def test_when_context_length_is_set_then_models_read_the_latest_values_perturbed_to_the_stated_share():
    seen = []

    class Recording(LastValue):
        def _predict_quantiles(self, context, horizon, levels):
            seen.append([c.copy() for c in context])
            return super()._predict_quantiles(context, horizon, levels)

    config = StressConfig(horizon=4, perturbations=("missing",), context_length=50)
    stress_test([Recording()], _panel(3, 120), config, progress=False)
    clean, *perturbed = seen
    assert all(len(c) == 50 for batch in seen for c in batch)
    np.testing.assert_array_equal(clean[0], _panel(3, 120)[0][-54:-4])
    assert [int(np.isnan(c).sum()) for c in perturbed[2]] == [10, 10, 10]  # severity 0.2 of 50


def test_when_written_then_a_table_and_a_plot_exist(tmp_path):
    report = stress_test([LastValue()], _panel(), StressConfig(horizon=4, perturbations=("spikes", "stuck")),
                         progress=False)
    files = write_stress(report, tmp_path / "stress")
    assert pd.read_csv(files["table"]).shape[0] == len(report.table)
    assert files["plot"].stat().st_size > 10_000


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: StressConfig(horizon=4, perturbations=("dust",)), "unknown perturbation 'dust'"),
        (lambda: StressConfig(horizon=4, perturbations=()), "perturbations is empty"),
        (lambda: StressConfig(horizon=4, windows=0), "windows must be a positive integer"),
        (lambda: StressConfig(horizon=4, season_length=12, context_length=10), "context_length must be an integer"),
        (lambda: stress_test([LastValue()], [np.arange(5.0)], StressConfig(horizon=4), progress=False),
         "no series is long enough"),
        (lambda: stress_test([LastValue(), LastValue()], _panel(), StressConfig(horizon=4), progress=False),
         "unique names"),
    ],
)
def test_when_input_is_bad_then_clear_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_when_stress_cli_runs_then_models_are_side_by_side(tmp_path, capsys):
    from tsfm.tasks.cli import main

    rows = [{"item_id": f"s{i}", "timestamp": t, "target": v} for i, s in enumerate(_panel(4)) for t, v in enumerate(s)]
    pd.DataFrame(rows).to_csv(tmp_path / "p.csv", index=False)
    code = main(["stress", "--models", "naive,seasonal-naive", "--data", str(tmp_path / "p.csv"), "--horizon", "6",
                 "--season-length", "12", "--perturbations", "noise,stuck", "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "naive" in out and "seasonal-naive" in out and "stuck" in out
    assert (tmp_path / "out" / "stress.png").exists()
