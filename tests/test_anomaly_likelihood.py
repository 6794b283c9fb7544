"""The likelihood detector (surprise, then its likelihood; alarms at onsets) and its NAB validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import onsets
from tsfm.tasks.anomaly.likelihood import LikelihoodDetector


def test_when_steps_are_above_the_threshold_then_onsets_keep_one_per_refractory_period():
    above = np.zeros(30, bool)
    above[[3, 4, 5, 6, 12, 20, 21, 22, 23, 24, 25]] = True
    assert np.flatnonzero(onsets(above, 0)).tolist() == np.flatnonzero(above).tolist()
    assert np.flatnonzero(onsets(above, 3)).tolist() == [3, 12, 20, 24]
    assert np.flatnonzero(onsets(above, 100)).tolist() == [3]


def noisy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10 + np.sin(np.arange(n) / 20) + 0.3 * rng.standard_normal(n)


def test_when_a_noisy_stream_jumps_then_one_alarm_marks_the_start_of_the_jump():
    x = noisy(3000)
    x[2000:2100] += 6.0  # a 100-step excursion
    detector = LikelihoodDetector(refractory=200).fit(x[:600])
    found = detector.detect(x)
    alarms = np.flatnonzero(found.is_anomaly[600:]) + 600
    assert 2000 <= alarms.min() <= 2005  # found at once
    assert len(alarms[(alarms >= 2000) & (alarms < 2200)]) == 1  # one alarm, not one per step
    assert found.scores[2000:2010].max() > found.scores[600:1990].max()


def test_when_the_past_is_flat_then_a_change_is_a_large_surprise_and_no_change_none():
    x = np.full(1000, 5.0)
    x[800] = 5.5
    scores = LikelihoodDetector().fit(np.full(300, 5.0)).score(x)
    assert np.all(scores[100:800] == 0.0)
    assert scores[800] > 1e3


def test_when_a_value_is_missing_then_it_surprises_no_one_and_scores_stay_finite():
    x = noisy(1500)
    x[900:905] = np.nan
    scores = LikelihoodDetector().fit(x[:400]).score(x)
    assert np.isfinite(scores).all()
    assert scores[900:905].max() <= scores[400:900].max()


@pytest.mark.parametrize(("options", "match"), [
    ({"window": 5}, r"window must be an integer >= 20, got 5"),
    ({"long": 10}, r"long must be an integer >= 40, got 10"),
    ({"short": 0}, r"short must be an integer >= 1, got 0"),
    ({"refractory": -1}, r"refractory must be an integer >= 0, got -1"),
    ({"refractory": 2.5}, r"refractory must be an integer >= 0, got 2.5"),
])
def test_when_settings_are_bad_then_the_error_names_them(options, match):
    with pytest.raises(InputError, match=match):
        LikelihoodDetector(**options)


def test_when_the_reference_is_shorter_than_the_warm_up_then_the_error_says_how_long_it_must_be():
    with pytest.raises(InputError, match=r"reference has 50 time steps; likelihood needs at least 150"):
        LikelihoodDetector().fit(noisy(50))


def write_nab(root, n_files: int = 4, length: int = 2500) -> None:
    """A NAB-shaped folder: files with one excursion each and its labelled window."""
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "labels").mkdir()
    windows = {}
    stamps = pd.date_range("2024-01-01", periods=length, freq="5min")
    for k in range(n_files):
        x = noisy(length, seed=k)
        start = 1200 + 200 * k
        x[start:start + 30] += 5.0
        name = f"synthetic/file{k}.csv"
        pd.DataFrame({"timestamp": stamps, "value": x}).to_csv(root / "data" / name, index=False)
        windows[name] = [[str(stamps[start - 100]), str(stamps[start + 100])]]
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_when_nab_validation_runs_then_each_half_is_scored_with_the_other_halfs_choice(tmp_path, monkeypatch):
    from tsfm.tasks.anomaly import nab_validation

    write_nab(tmp_path)
    candidates = [{"window": 500, "long": 400, "short": 5, "refractory": r} for r in (0, 100)]
    monkeypatch.setattr(nab_validation, "CANDIDATES", candidates)
    table, summary = nab_validation.validate(tmp_path, progress=False)
    assert table["refractory"].tolist() == [0, 100]
    assert (table["NAB_best_threshold"] > 90).all()  # each excursion found early, few false alarms
    assert summary["step"].tolist() == [
        "chosen on half A, scored on half B", "chosen on half B, scored on half A",
        "both halves, held out, pooled", "chosen on all files (the default; in-sample)",
    ]
    assert summary.loc[3, "refractory"] in (0, 100)
    assert summary.loc[2, "NAB_held_out"] > 90
