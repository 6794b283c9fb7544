"""``--detector auto``: the choice follows the data, the held-out part never reaches fitting, bad input.

Its SKAB and NAB figures come from ``tsfm detect-bench skab|nab --detectors drift,auto`` (minutes);
here, generated data where one kind of detector is clearly right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsfm.errors import InputError
from tsfm.tasks.anomaly import auto
from tsfm.tasks.anomaly.auto import INJECTIONS, AutoDetector, inject, select_detector


def _wandering(seed: int, n: int = 600) -> np.ndarray:
    """A temperature-like sensor that wanders (a random walk) beside a steady one."""
    rng = np.random.default_rng(seed)
    return np.column_stack([np.cumsum(rng.normal(scale=0.3, size=n)) + 0.1 * rng.normal(size=n), rng.normal(size=n)])


def _stationary(seed: int, n: int = 600) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 2))


@pytest.mark.parametrize(("seed", "candidates"), [
    (0, ("drift", "likelihood", "zscore", "robust-zscore", "isolation-forest")), (1, ("drift", "zscore", "likelihood")),
])
def test_when_a_sensor_wanders_then_auto_chooses_drift(seed, candidates):
    detector = AutoDetector(candidates=candidates).fit(_wandering(seed))
    table = detector.selection_.table
    assert detector.chosen_ == "drift"
    assert table["injected_F1"].idxmax() == table.index[table["detector"] == "drift"][0]
    assert list(table["detector"]) == list(candidates) and table["chosen"].sum() == 1


def test_when_a_stationary_series_has_spikes_then_auto_chooses_a_zscore_over_detectors_blind_to_them():
    """On white noise the level detectors all fit; between the z-scores and the isolation forest (which
    judges each step by its rarity among the reference's), the z-scores are right, and the chosen one
    flags the spikes of the series."""
    reference = _stationary(0)
    series = _stationary(1, 400)
    spikes = [100, 200, 300]
    series[spikes, 1] += 8.0
    candidates = ("zscore", "robust-zscore", "isolation-forest")
    detector = AutoDetector(candidates=candidates).fit(reference)
    assert detector.chosen_ in ("zscore", "robust-zscore")
    assert detector.detect(series).is_anomaly[spikes].all()


def test_when_auto_selects_then_the_held_out_part_never_reaches_fitting(monkeypatch):
    """Held-out values are marked (>= 1000); every fit during the selection sees none of them, and the
    winner's refit sees the whole reference."""
    fitted: list[np.ndarray] = []
    real = auto.make_detector

    def recording(name, model, **options):
        detector = real(name, model, **options)
        fit = detector.fit
        detector.fit = lambda reference: (fitted.append(np.asarray(reference)), fit(reference))[1]
        return detector

    monkeypatch.setattr(auto, "make_detector", recording)
    reference = _stationary(2)
    n_held = int(round(len(reference) * 0.3))
    reference[-n_held:] += 1000.0
    detector = AutoDetector(candidates=("drift", "zscore", "isolation-forest")).fit(reference)
    *selection, refit = fitted
    assert len(selection) == 3
    assert all(part.shape[0] == len(reference) - n_held and part.max() < 1000.0 for part in selection)
    assert refit.shape == reference.shape and detector.detector_.threshold_ is not None


@pytest.mark.parametrize("kind", INJECTIONS)
def test_when_an_anomaly_is_injected_then_it_has_its_documented_size_on_one_channel(kind):
    held = _stationary(3, 120)
    copy = inject(held, kind, np.random.default_rng(0))
    changed = np.flatnonzero(np.abs(copy.values - held).max(axis=0) > 0)
    added = (copy.values - held)[copy.labels == 1, changed[0]]
    assert len(changed) == 1 and (copy.labels == 1).sum() == (1 if kind == "spike" else 24)
    spread = 1.4826 * np.median(np.abs(held[:, changed[0]] - np.median(held[:, changed[0]])))
    if kind != "variance-burst":
        assert np.abs(added).max() == pytest.approx(auto.SIZES[kind] * spread)


def test_when_the_same_seed_is_given_then_the_selection_repeats():
    first = select_detector(_wandering(4), ("drift", "zscore")).table
    pd.testing.assert_frame_equal(first, select_detector(_wandering(4), ("drift", "zscore")).table)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: select_detector(np.arange(50.0)), r"reference has 50 rows; .* at least 134"),
        (lambda: select_detector(_stationary(0), ("zscore", "prophet")),
         r"unknown candidate\(s\) \['prophet'\] for --detector auto; known: drift"),
        (lambda: AutoDetector(candidates=()), "no candidates"),
        (lambda: select_detector(_stationary(0), holdout_fraction=1.5), "holdout_fraction must be in"),
        (lambda: AutoDetector().detect(np.zeros(10)), "not fitted"),
    ],
)
def test_when_input_is_bad_then_a_clear_input_error_is_raised(call, message):
    with pytest.raises(InputError, match=message):
        call()


def _write(path, n: int = 800) -> None:
    values = _wandering(5, n)
    values[700:730, 1] += 6.0
    pd.DataFrame({"timestamp": pd.date_range("2024", periods=n, freq="min"), "a": values[:, 0],
                  "b": values[:, 1]}).to_csv(path, index=False)


def test_when_detect_runs_auto_then_it_prints_the_choice_and_writes_the_table_beside_the_scores(tmp_path, capsys):
    from tsfm.tasks.cli import main

    data, out = tmp_path / "plant.csv", tmp_path / "scores.csv"
    _write(data)
    code = main(["detect", "--data", str(data), "--target", "a,b", "--detector", "auto", "--reference-rows", "600",
                 "--auto-candidates", "drift,zscore", "--no-plot", "--output", str(out)])
    assert code == 0
    table = pd.read_csv(tmp_path / "scores.auto.csv")
    assert list(table["detector"]) == ["drift", "zscore"] and table["chosen"].sum() == 1
    chosen = table.loc[table["chosen"], "detector"].item()
    assert f"auto chose: {chosen} for 1 series" in capsys.readouterr().out
    assert pd.read_csv(out)["is_anomaly"].iloc[700:730].mean() > 0.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--reference-rows", "100"], "reference has 100 rows; --detector auto needs at least"),
     (["--auto-candidates", "drift,lstm"], "unknown candidate(s) ['lstm'] for --detector auto; known: drift")],
)
def test_when_detect_auto_gets_bad_input_then_it_exits_2_with_one_line(tmp_path, capsys, extra, message):
    from tsfm.tasks.cli import main

    data = tmp_path / "plant.csv"
    _write(data)
    code = main(["detect", "--data", str(data), "--target", "a,b", "--detector", "auto", "--no-plot",
                 "--output", str(tmp_path / "s.csv"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("budget", "expected"), [(5.0, "zscore"), (20.0, "drift"), (0.5, "likelihood")])
def test_when_candidates_exceed_the_budget_then_the_best_within_it_wins_else_the_quietest(budget, expected):
    table = pd.DataFrame({"detector": ["drift", "zscore", "likelihood", "isolation-forest"],
                          "heldout_FAR_%": [12.0, 3.0, 1.0, np.nan], "injected_F1": [0.9, 0.6, 0.2, np.nan],
                          "error": ["", "", "", "too short"]})
    assert auto.choose(table, budget) == expected


def test_when_auto_study_data_is_absent_then_it_is_skipped_with_a_reason(tmp_path, capsys):
    from tsfm.tasks.cli import main

    assert main(["detect-bench", "skab", "--shared-data", str(tmp_path), "--auto-study"]) == 0
    assert "skipped skab" in capsys.readouterr().out
