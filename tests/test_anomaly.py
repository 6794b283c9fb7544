"""Anomaly detection: detectors find injected anomalies, thresholds, metrics, NAB scoring, CLI, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_data
from tsfm.errors import InputError
from tsfm.tasks.anomaly import (
    EmbeddingDetector,
    ForecastDetector,
    IsolationForestDetector,
    MatrixProfileDetector,
    ZScoreDetector,
    best_f1_threshold,
    conformal_threshold,
    residual_detector,
)
from tsfm.tasks.anomaly.metrics import event_f1, point_scores, vus_pr
from tsfm.tasks.anomaly.nab_score import nab_file, nab_normalised, nab_raw_score

MODEL = "tsfm-bolt-mini"


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=n)


def _with_anomalies(n: int = 420, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A seasonal series with a spike, a level shift and a frozen stretch; labels mark them."""
    x, labels = _signal(n, seed), np.zeros(n, bool)
    x[150] += 4.0
    labels[150] = True
    x[250:290] += 2.5
    labels[250:290] = True
    x[350:380] = x[349]
    labels[350:380] = True
    return x, labels


def _with_spikes(n: int = 420, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Point anomalies only: what one-step forecast residuals are built to catch."""
    x, labels = _signal(n, seed), np.zeros(n, bool)
    for t, size in ((150, 4.0), (250, -3.0), (350, 3.5)):
        x[t] += size
        labels[t] = True
    return x, labels


# Forecast residuals flag departures from the recent past, so a sustained shift is flagged at its
# onset only (the forecast adapts); they are tested on point anomalies.
FORECAST_BASED = ("forecast", "residual-seasonal-naive")


@pytest.fixture(scope="module")
def bolt():
    import tsfm

    return tsfm.load(MODEL)


DETECTORS = {
    "forecast": lambda m: ForecastDetector(m, context_length=128),
    "embedding": lambda m: EmbeddingDetector(m, window=16),
    "robust-zscore": lambda m: ZScoreDetector(),
    "isolation-forest": lambda m: IsolationForestDetector(window=4, n_estimators=50),
    "matrix-profile": lambda m: MatrixProfileDetector(window=16),
    "residual-seasonal-naive": lambda m: residual_detector("seasonal-naive", season_length=24, horizon=12),
}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_when_anomalies_are_injected_then_each_detector_finds_them_well_above_chance(name, bolt):
    detector = DETECTORS[name](bolt).fit(_signal(300, seed=0))
    series, labels = _with_spikes() if name in FORECAST_BASED else _with_anomalies()
    found = detector.detect(series)
    assert found.scores.shape == labels.shape
    assert event_f1(labels, found.is_anomaly) >= 0.5
    # Random alarms at any rate give a point F1 of at most 2p / (1 + p) for anomaly share p: beat it by half.
    share = labels.mean()
    assert point_scores(labels, found.is_anomaly).f1 > 1.5 * (2 * share / (1 + share))
    assert found.scores[labels].mean() > found.scores[~labels].mean()


@pytest.mark.parametrize("name", [pytest.param("forecast", marks=pytest.mark.slow), "robust-zscore", "matrix-profile"])
def test_when_series_is_clean_then_false_alarms_stay_near_alpha(name, bolt):
    detector = DETECTORS[name](bolt)
    detector.alpha = 0.02
    detector.fit(_signal(400, seed=3))
    flagged = detector.detect(_signal(600, seed=4)).is_anomaly[64:]
    assert flagged.mean() <= 0.06


def test_when_one_channel_of_three_breaks_then_max_combination_flags_it_and_mean_dilutes_it():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(300, 3))
    series = rng.normal(size=(200, 3))
    series[100:110, 1] += 6.0
    by_max = ZScoreDetector(combine="max").fit(reference).detect(series)
    by_mean = ZScoreDetector(combine="mean").fit(reference).detect(series)
    assert by_max.is_anomaly[100:110].all()
    assert by_max.channel_scores.shape == (200, 3)
    assert by_max.channel_scores[100:110, 1].min() > by_max.channel_scores[100:110, [0, 2]].max()
    assert by_mean.scores[100:110].mean() < by_max.scores[100:110].mean()


def test_when_labels_are_given_then_the_tuned_threshold_separates_the_classes():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=300)
    series, labels = rng.normal(size=300), np.zeros(300, bool)
    series[200:220] += 2.5
    labels[200:220] = True
    detector = ZScoreDetector(smooth=5).fit(reference)
    before = point_scores(labels, detector.detect(series).is_anomaly).f1
    detector.tune_threshold(series, labels)
    after = point_scores(labels, detector.detect(series).is_anomaly).f1
    assert after >= before and after > 0.8


def test_when_scores_are_uniform_then_the_conformal_threshold_holds_its_rate():
    scores = np.arange(1, 100, dtype=float)  # 99 calibration scores
    assert conformal_threshold(scores, 0.1) == 90.0  # ceil(100 * 0.9) = 90th smallest
    fresh = np.random.default_rng(0).uniform(0, 100, 20_000)
    assert abs((fresh > conformal_threshold(scores, 0.1)).mean() - 0.1) < 0.01


def test_when_classes_are_separable_then_best_f1_threshold_lies_between_them():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    labels = np.array([0, 0, 0, 1, 1], bool)
    assert 0.3 < best_f1_threshold(scores, labels) < 0.9


def test_when_counts_are_known_then_point_metrics_match_skab_definitions():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    preds = np.array([1, 0, 0, 0, 1, 1, 0, 0], bool)
    s = point_scores(labels, preds)
    assert (s.tp, s.fp, s.tn, s.fn) == (2, 1, 3, 2)
    assert s.far == pytest.approx(25.0) and s.mar == pytest.approx(50.0)
    assert s.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    pooled = s + s
    assert pooled.f1 == pytest.approx(s.f1) and pooled.tp == 4


def test_when_one_of_two_events_is_hit_and_one_false_event_then_event_f1_is_one_half():
    labels = np.zeros(30, bool)
    labels[5:10] = labels[20:25] = True
    preds = np.zeros(30, bool)
    preds[7] = preds[15] = True  # hits event 1; 15 is a false event
    assert event_f1(labels, preds) == pytest.approx(0.5)  # precision 1/2, recall 1/2


def test_when_detections_are_placed_by_hand_then_nab_scores_match_the_definition():
    file = nab_file(100, [(50, 59)])  # probation: first 15 rows
    none = np.zeros(100, bool)
    at = lambda *rows: np.isin(np.arange(100), rows)  # noqa: E731
    assert nab_raw_score(file, none) == pytest.approx(-1.0)
    assert nab_raw_score(file, at(50)) == pytest.approx(1.0)  # left edge earns the full tp weight
    right_edge = (2 / (1 + np.exp(-0.5)) - 1) / (2 / (1 + np.exp(-5)) - 1)
    assert nab_raw_score(file, at(59)) == pytest.approx(right_edge)
    assert nab_raw_score(file, at(20)) == pytest.approx(-1.0 - 0.11)  # FP before any window costs fp_weight
    assert nab_raw_score(file, at(5)) == pytest.approx(-1.0)  # probationary rows are not scored
    assert nab_raw_score(file, at(50, 55)) == pytest.approx(1.0)  # only the earliest detection counts
    assert -0.11 < nab_raw_score(file, at(50, 61)) - 1.0 < 0  # FP just after a window costs little
    assert nab_normalised(1.0, file.perfect, file.n_windows) == pytest.approx(100.0)
    assert nab_normalised(-1.0, file.perfect, file.n_windows) == pytest.approx(0.0)


def test_when_scores_rank_anomalies_first_then_vus_pr_beats_random_scores():
    labels = np.zeros(300, bool)
    labels[100:120] = True
    good = labels + 0.01 * np.random.default_rng(0).normal(size=300)
    noise = np.random.default_rng(1).normal(size=300)
    assert vus_pr(labels, good, 20) > vus_pr(labels, noise, 20) + 0.3


BAD_INPUTS = [
    (lambda: ZScoreDetector().fit(np.ones(5)), "needs at least"),
    (lambda: EmbeddingDetector("naive"), "has no embeddings"),
    (lambda: ZScoreDetector().detect(np.ones(50)), "not fitted"),
    (lambda: ZScoreDetector().fit(np.ones((400, 2))).detect(np.ones((50, 3))), "fitted on 2"),
    (lambda: ZScoreDetector().fit(np.c_[np.ones(400), np.full(400, np.nan)]), "entirely NaN"),
    (lambda: ZScoreDetector().fit([1.0, np.inf] * 200), "inf"),
    (lambda: ZScoreDetector(alpha=1.5), "alpha"),
    (lambda: ZScoreDetector(combine="median"), "combine"),
    (lambda: ForecastDetector("naive", band=(0.6, 0.9)), "band"),
    (lambda: best_f1_threshold(np.ones(4), np.zeros(4)), "both normal"),
    (lambda: nab_file(10, [(5, 20)]), "outside"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS)
def test_when_input_is_bad_then_a_clear_input_error_is_raised(call, message):
    with pytest.raises(InputError, match=message):
        call()


def _write_plant(path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for item in ("pump-1", "pump-2"):
        a, b = rng.normal(size=400), rng.normal(size=400)
        a[300:320] += 8.0
        frames.append(pd.DataFrame({"item_id": item, "timestamp": pd.date_range("2024", periods=400, freq="min"),
                                    "a": a, "b": b}))
    pd.concat(frames).to_csv(path, index=False)


@pytest.mark.parametrize("detector", ["drift", "robust-zscore", pytest.param("embedding", marks=pytest.mark.slow)])
def test_when_detect_runs_then_it_writes_scores_with_the_contract_columns_and_a_plot(tmp_path, detector):
    from tsfm.tasks.cli import main

    data, out = tmp_path / "plant.csv", tmp_path / "out" / "scores.csv"
    _write_plant(data)
    code = main(["detect", "--data", str(data), "--target", "a,b", "--detector", detector,
                 "--reference-fraction", "0.7", "--output", str(out)])
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["item_id", "timestamp", "score", "is_anomaly", "channels"]
    assert len(table) == 800 and set(table["item_id"]) == {"pump-1", "pump-2"}
    flagged = table[table["is_anomaly"] == 1]
    assert flagged["timestamp"].isin(table["timestamp"].iloc[300:330]).mean() > 0.5
    assert flagged["channels"].str.startswith("a").mean() > 0.5  # the fault is on a
    assert (tmp_path / "out" / "scores.png").stat().st_size > 0


@pytest.mark.parametrize(("sep", "decimal"), [(";", "."), (";", ","), ("\t", ".")])
def test_when_a_csv_uses_another_separator_then_detect_reads_its_columns(tmp_path, sep, decimal):
    """SKAB's files are semicolon-separated; read as commas they were one text column."""
    from tsfm.tasks.cli import main

    comma, other, out = tmp_path / "comma.csv", tmp_path / "other.csv", tmp_path / "o"
    _write_plant(comma)
    pd.read_csv(comma).to_csv(other, index=False, sep=sep, decimal=decimal)
    for data in (comma, other):
        args = ["detect", "--data", str(data), "--target", "a,b", "--detector", "robust-zscore",
                "--reference-fraction", "0.7", "--no-plot", "--output", str(out / f"{data.stem}.csv")]
        assert main(args) == 0
    expected, got = pd.read_csv(out / "comma.csv"), pd.read_csv(out / "other.csv")
    assert len(got) == 800
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--target", "a,zz"], "unknown target"), ([], "no target or y column"),
     (["--target", "a", "--reference-fraction", "0.01"], "needs at least")],
)
def test_when_detect_gets_bad_input_then_it_exits_2_with_one_line(tmp_path, capsys, extra, message):
    from tsfm.tasks.cli import main

    data = tmp_path / "plant.csv"
    _write_plant(data)
    code = main(["detect", "--data", str(data), "--detector", "zscore", "--output", str(tmp_path / "s.csv"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_when_benchmark_data_is_absent_then_the_benchmark_is_skipped_with_a_reason(tmp_path, capsys):
    from tsfm.tasks.anomaly.bench_run import run_benchmark

    assert run_benchmark("skab", tmp_path, ["zscore"], MODEL) is None
    assert run_benchmark("nab", tmp_path, ["zscore"], MODEL) is None
    assert capsys.readouterr().out.count("skipped") == 2


def test_when_skab_is_present_then_its_experiments_load_with_the_leaderboard_reference():
    from tsfm.tasks.anomaly.benchmarks import SKAB_REFERENCE_ROWS, load_skab

    corpus = load_skab(shared_data("skab"))
    assert len(corpus) >= 16
    for item in corpus:
        assert item.values.shape[1] == 8 and item.n_reference == SKAB_REFERENCE_ROWS
        assert not item.labels[:SKAB_REFERENCE_ROWS].any() and item.labels.any()


def test_the_throughput_benchmark_reports_every_detector_and_batch_it_is_given():
    import tsfm
    from tsfm.tasks.throughput import detector_latency, embedding_throughput

    latency = detector_latency("tsfm-bolt-mini", ["zscore", "matrix-profile"], repeats=1)
    assert list(latency["detector"]) == ["zscore", "matrix-profile"] and (latency["us_per_point"] > 0).all()
    model = tsfm.load("tsfm-bolt-mini", device="cpu")
    speed = embedding_throughput(model, lengths=(64,), batches=(1, 4), repeats=1)
    assert list(speed["batch"]) == [1, 4] and (speed["series_per_s"] > 0).all()


def test_when_a_channel_rarely_moves_then_scores_stay_in_sensible_units():
    from tsfm.tasks.anomaly.base import robust_spread

    rng = np.random.default_rng(0)
    reference = np.zeros((600, 2))
    reference[:, 0] = rng.normal(0, 1, 600)
    reference[::50, 1] = 1.0  # a sensor that is flat except for rare blips: its MAD is 0
    spread = robust_spread(reference, np.median(reference, axis=0))
    assert 0.8 < spread[0] < 1.2 and 0.01 < spread[1] < 0.1  # mean absolute deviation, not 1e-12
    assert robust_spread(np.ones((10, 1)), np.ones(1))[0] == 1.0  # never moves: data units
    detector = ZScoreDetector(robust=True).fit(reference)
    series = reference.copy()
    series[300, 1] = 1.0
    assert np.nanmax(detector.score(series)) < 1e3
