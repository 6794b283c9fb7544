"""The drift-aware detector: drift is followed, faults are not; alarms name their channels; bad input.

The SKAB validation that chose it as the default runs as ``tsfm detect-bench skab --validate``
(minutes); here, the shape of that validation is checked on a few candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_data
from tsfm.errors import InputError
from tsfm.tasks.anomaly import DriftDetector, ZScoreDetector
from tsfm.tasks.anomaly.drift import fit_smoothing_rate, low_frequency_share

FAULT = slice(4000, 4300)


def _plant(seed: int, n: int = 6000, fault: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Three sensors after a 400-step reference: ``a`` wanders (a random walk, like a temperature),
    ``b`` drifts slowly (4 standard deviations over the series), ``c`` is steady; the fault is a
    3-standard-deviation step on ``c``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[:, 0] = np.cumsum(rng.normal(scale=0.3, size=n)) + 0.1 * rng.normal(size=n)
    x[:, 1] += np.linspace(0.0, 4.0, n)
    labels = np.zeros(n, bool)
    if fault:
        x[FAULT, 2] += 3.0
        labels[FAULT] = True
    return x, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_the_process_drifts_then_the_drift_is_followed_and_the_fault_is_flagged_on_its_channel(seed):
    series, labels = _plant(seed)
    scored = np.arange(len(series)) >= 400
    detector = DriftDetector().fit(series[:400])
    found = detector.detect(series)
    assert list(detector.wandering_) == [True, False, False]  # a is scored by innovations, b and c by level
    assert found.is_anomaly[labels].mean() >= 0.95
    assert found.is_anomaly[scored & ~labels].mean() <= 0.15
    drivers = np.array(found.drivers(["a", "b", "c"]))
    assert np.mean([d.startswith("c") for d in drivers[labels & found.is_anomaly]]) >= 0.95
    assert set(drivers[~found.is_anomaly]) == {""}
    # The same data against a fixed reference: the drift alone keeps most normal steps flagged.
    fixed = DriftDetector(track=0.0, wander=1.0).fit(series[:400]).detect(series)
    zscore = ZScoreDetector(robust=False).fit(series[:400]).detect(series)
    assert fixed.is_anomaly[scored & ~labels].mean() >= 0.4
    assert zscore.is_anomaly[scored & ~labels].mean() >= 0.25


def test_when_a_wandering_channel_drops_steeply_then_alarms_stop_once_the_level_is_followed():
    rng = np.random.default_rng(3)
    n = 2000
    temperature = np.cumsum(rng.normal(scale=0.05, size=n)) + 0.02 * rng.normal(size=n)
    temperature[800:900] -= np.linspace(0.0, 8.0, 100)  # a cooling of many reference spreads
    temperature[900:] -= 8.0
    flow = 32.0 + rng.normal(scale=0.5, size=n)
    series = np.c_[temperature, flow]
    detector = DriftDetector().fit(series[:400])
    found = detector.detect(series)
    assert detector.wandering_[0] and not detector.wandering_[1]
    assert found.is_anomaly[1000:].mean() <= 0.02  # the new temperature level is normal now
    assert ZScoreDetector(robust=False).fit(series[:400]).detect(series).is_anomaly[1000:].mean() >= 0.9


def test_when_a_fault_outlasts_the_tracking_time_constant_then_it_is_not_absorbed():
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(400, 2))
    series = rng.normal(size=(3000, 2))
    series[1000:2500, 1] += 4.0  # 1,500 steps: longer than the baseline's time constant (1 / 0.001)
    found = DriftDetector().fit(reference).detect(series)
    assert found.is_anomaly[1000:2500].mean() >= 0.95
    assert found.is_anomaly[2600:].mean() <= 0.05  # back to normal: the baseline did not move with the fault


def test_when_the_reference_is_white_noise_or_a_walk_then_the_low_frequency_share_tells_them_apart():
    rng = np.random.default_rng(5)
    noise, walk = rng.normal(size=400), np.cumsum(rng.normal(size=400))
    assert low_frequency_share(noise, 25) < 0.15 < 0.8 < low_frequency_share(walk, 25)
    assert fit_smoothing_rate(walk) >= 0.5 and fit_smoothing_rate(noise) <= 0.05


def test_when_a_sensor_is_quantised_then_its_scale_stays_sensible_and_a_new_level_is_flagged():
    rng = np.random.default_rng(6)
    reference = np.c_[rng.integers(32, 34, 400).astype(float), rng.normal(size=400)]  # a 32/33 flow meter
    series = np.c_[rng.integers(32, 34, 1000).astype(float), rng.normal(size=1000)]
    series[500:700, 0] -= 1.0  # 31/32: one quantisation step down
    detector = DriftDetector().fit(reference)
    found = detector.detect(series)
    assert 1.0 < detector.threshold_ < 20.0  # a median/MAD calibration would divide by ~0 here
    assert found.is_anomaly[520:700].mean() >= 0.8
    assert found.is_anomaly[:500].mean() <= 0.05


BAD = [
    (lambda: DriftDetector().fit(np.random.default_rng(0).normal(size=(30, 2))), "needs at least"),
    (lambda: DriftDetector().fit(np.c_[np.random.default_rng(0).normal(size=400), np.full(400, 7.0)]),
     "channel 1 is constant"),
    (lambda: DriftDetector().fit(np.c_[np.ones(400), np.full(400, np.nan)]), "entirely NaN"),
    (lambda: DriftDetector().fit(np.random.default_rng(0).normal(size=(400, 2))).detect(np.ones((50, 3))),
     "fitted on 2"),
    (lambda: DriftDetector(wander=0.0), "wander"),
    (lambda: DriftDetector(track=1.0), "track"),
    (lambda: DriftDetector(span=0), "span"),
    (lambda: DriftDetector().describe_channels(), "not fitted"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_when_drift_input_is_bad_then_one_clear_input_error_is_raised(call, message):
    with pytest.raises(InputError, match=message):
        call()


def _write_two_sensors(path, constant: bool = False) -> None:
    rng = np.random.default_rng(0)
    flow, temperature = 32.0 + rng.normal(scale=0.5, size=900), np.cumsum(rng.normal(scale=0.05, size=900))
    flow[600:700] -= 3.0
    if constant:
        flow[:400] = 32.0
    frame = pd.DataFrame({"datetime": pd.date_range("2024", periods=900, freq="s"), "flow": flow,
                          "temperature": temperature})
    frame.to_csv(path, index=False, sep=";")


def test_when_detect_runs_with_its_defaults_then_alarms_name_their_channels(tmp_path):
    from tsfm.tasks.cli import main

    data, out = tmp_path / "skab-like.csv", tmp_path / "scores.csv"
    _write_two_sensors(data)
    code = main(["detect", "--data", str(data), "--target", "flow,temperature", "--timestamp-column", "datetime",
                 "--reference-rows", "400", "--no-plot", "--output", str(out)])
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["item_id", "timestamp", "score", "is_anomaly", "channels"]
    fault = table.iloc[610:700]
    assert fault["is_anomaly"].mean() >= 0.9 and (fault["channels"].str.startswith("flow")).all()
    assert table["is_anomaly"].iloc[400:600].mean() <= 0.05
    assert (table.loc[table["is_anomaly"] == 0, "channels"] == "").all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--reference-rows", "20"], "needs at least"), (["--reference-rows", "0"], "--reference-rows must be")],
)
def test_when_detect_gets_a_bad_reference_then_it_exits_2_with_one_line(tmp_path, capsys, extra, message):
    from tsfm.tasks.cli import main

    data = tmp_path / "skab-like.csv"
    _write_two_sensors(data)
    code = main(["detect", "--data", str(data), "--target", "flow,temperature", "--no-plot",
                 "--output", str(tmp_path / "s.csv"), *extra])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_when_a_reference_channel_is_constant_then_detect_exits_2_naming_it(tmp_path, capsys):
    from tsfm.tasks.cli import main

    data = tmp_path / "flat.csv"
    _write_two_sensors(data, constant=True)
    code = main(["detect", "--data", str(data), "--target", "flow,temperature", "--reference-rows", "400",
                 "--no-plot", "--output", str(tmp_path / "s.csv")])
    assert code == 2
    assert "channel 0 is constant" in capsys.readouterr().err


def test_the_validation_chooses_on_one_half_and_scores_on_the_other():
    from tsfm.tasks.anomaly.benchmarks import load_skab
    from tsfm.tasks.anomaly.validation import CANDIDATES, halves, load_anomaly_free, validate

    root = shared_data("skab")
    candidates = [("drift default", "drift", {}), ("zscore", "zscore", {})]
    table, summary = validate(root, candidates, progress=False)
    assert set(table["candidate"]) == {"drift default", "zscore"}
    first, second = halves(load_skab(root))
    assert [s.name for s in first][:3] == ["valve1/0", "valve1/2", "valve1/4"] and len(first) == len(second)
    assert len(load_anomaly_free(root)) == 8
    assert list(summary["step"])[2] == "two-fold held-out, pooled"
    # The product's default is one of the grid's candidates (the grid is what chose it).
    d = DriftDetector()
    assert any(name == "drift" and options == {"wander": d.wander, "track": d.track, "span": d.span,
                                              "calibration_fraction": d.calibration_fraction}
               for _, name, options in CANDIDATES)
