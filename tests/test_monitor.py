"""Drift alarms fire on a synthetic shift within a bounded delay and stay silent on stationary data."""

from __future__ import annotations

import numpy as np
import pytest

from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.tasks.monitor import MonitorConfig, PageHinkley, monitor_stream

SEASON, H, SHIFT = 12, 12, 900


class SeasonalRepeat(BaseForecaster):
    """Repeats the last season; band of ±1.3 around it (about the 80% band of unit noise differences)."""

    def __init__(self) -> None:
        super().__init__("seasonal-repeat")

    def _predict_quantiles(self, context, horizon, levels):
        mean = np.stack([np.resize(c[-SEASON:], horizon) for c in context])
        return mean[:, :, None] + (np.asarray(levels) - 0.5) * 3.3, mean


def _stream(seed: int, noise_after_shift: float = 1.0, length: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    noise = rng.normal(0, 1, length) * np.where(t < SHIFT, 1.0, noise_after_shift)
    return 10 * np.sin(2 * np.pi * t / SEASON) + noise


def test_when_page_hinkley_sees_a_mean_increase_then_it_alarms_and_not_before():
    rng = np.random.default_rng(0)
    detector = PageHinkley(delta=0.25, threshold=6.0)
    stream = np.r_[1 + 0.3 * rng.standard_normal(200), 2.5 + 0.3 * rng.standard_normal(50)]
    fired = [t for t, x in enumerate(stream) if detector.update(x)]
    assert fired and 200 <= fired[0] <= 210


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_the_stream_is_stationary_then_no_alarm(seed):
    report = monitor_stream(SeasonalRepeat(), [_stream(seed)], MonitorConfig(horizon=H), progress=False)
    assert report.alarms.empty
    assert len(report.events) > 80


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_noise_triples_then_an_alarm_fires_within_ten_origins(seed):
    report = monitor_stream(SeasonalRepeat(), [_stream(seed, 3.0)], MonitorConfig(horizon=H), progress=False)
    first = report.alarms.iloc[0]
    assert SHIFT <= first.time <= SHIFT + 10 * H
    start, end = report.adaptation["0"]
    assert end - start >= 8 * H and start <= SHIFT + H  # the window reaches back to the change


def test_when_only_the_input_level_shifts_then_the_level_ks_test_alarms():
    stream = _stream(3)
    stream[SHIFT:] += 6.0  # a level jump the seasonal repeat follows after one season
    report = monitor_stream(SeasonalRepeat(), [stream], MonitorConfig(horizon=H, ks_on="level"), progress=False)
    inputs = report.alarms[report.alarms.kind == "input"]
    assert not inputs.empty and SHIFT <= inputs.time.iloc[0] <= SHIFT + 8 * H


def test_when_a_sensor_freezes_then_the_change_ks_test_alarms():
    stream = _stream(4)
    stream[SHIFT:] = np.repeat(stream[SHIFT:][::6], 6)[: stream.size - SHIFT]  # held for 6 steps at a time
    report = monitor_stream(SeasonalRepeat(), [stream], MonitorConfig(horizon=H), progress=False)
    inputs = report.alarms[report.alarms.kind == "input"]
    assert not inputs.empty and SHIFT <= inputs.time.iloc[0] <= SHIFT + 8 * H


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: MonitorConfig(horizon=0), "horizon must be a positive integer"),
        (lambda: MonitorConfig(horizon=4, window=0), "window must be a positive integer or None, got 0"),
        (lambda: MonitorConfig(horizon=4, ks_alpha=1.0), r"ks_alpha must lie in \[0, 1\)"),
        (lambda: MonitorConfig(horizon=4, ph_threshold=0.0), "Page-Hinkley needs"),
        (lambda: MonitorConfig(horizon=4, ks_on="mean"), "ks_on must be 'diff' or 'level', got 'mean'"),
        (lambda: monitor_stream(SeasonalRepeat(), [np.zeros(20)], MonitorConfig(horizon=4), progress=False),
         "the stream is too short"),
    ],
)
def test_when_input_is_bad_then_clear_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_when_monitor_cli_replays_a_shifted_file_then_it_prints_the_alarm(tmp_path, capsys):
    import pandas as pd

    from tsfm.tasks.cli import main

    stream = _stream(0, 3.0)
    pd.DataFrame({"item_id": "a", "timestamp": np.arange(stream.size), "target": stream}).to_csv(
        tmp_path / "s.csv", index=False
    )
    code = main(["monitor", "--model", "seasonal-naive", "--season-length", "12", "--data", str(tmp_path / "s.csv"),
                 "--horizon", "12", "--output", str(tmp_path / "m")])
    out = capsys.readouterr().out
    assert code == 0 and "alarm(s)" in out and "error" in out
    alarms = pd.read_csv(tmp_path / "m" / "alarms.csv")
    assert not alarms.empty and alarms.time.iloc[0] >= SHIFT
