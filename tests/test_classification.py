"""Classification: TSFM embeddings + head, in-context scoring, aeon baselines, CLI, CWRU splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_data
from tsfm.errors import InputError
from tsfm.tasks.classification import (
    DtwBaseline,
    EmbeddingFeatures,
    InContextClassifier,
    MiniRocketBaseline,
    TsfmClassifier,
)
from tsfm.tasks.classification.cwru import Recording, cut_windows, load_recordings, recording_folds
from tsfm.tasks.classification.features import embed_features, feature_dim, split_windows

CLASSES = ("noise", "sine", "square")


def shapes(n_per_class: int, length: int = 128, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Sine vs square vs noise, random period, phase, level and amplitude: a separable 3-class task."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for label in CLASSES:
        for _ in range(n_per_class):
            t = np.arange(length)
            wave = np.sin(2 * np.pi * t / rng.uniform(12, 40) + rng.uniform(0, 2 * np.pi))
            clean = {"noise": rng.normal(0, 1, length), "sine": wave, "square": np.sign(wave)}[label]
            series.append(rng.uniform(-5, 5) + rng.uniform(0.5, 3) * clean + rng.normal(0, 0.05, length))
            labels.append(label)
    return series, np.array(labels)


@pytest.fixture(scope="module")
def bolt_mini():
    import tsfm

    return tsfm.load("tsfm-bolt-mini", device="cpu")


@pytest.fixture(scope="module")
def task():
    train, y_train = shapes(8, seed=0)
    test, y_test = shapes(10, seed=1)
    return train, y_train, test, y_test


@pytest.mark.parametrize("head", ["logistic", "ridge", "knn"])
def test_when_shapes_task_then_embedding_classifier_beats_chance_clearly(bolt_mini, task, head):
    train, y_train, test, y_test = task
    clf = TsfmClassifier(bolt_mini, head=head).fit(train, y_train)
    proba = clf.predict_proba(test)
    assert list(clf.classes_) == list(CLASSES)
    assert proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.score(test, y_test) >= 0.8  # chance is 1/3


def test_when_series_longer_than_window_then_windows_cover_it_and_pooling_sets_the_width(bolt_mini):
    long = [np.sin(np.arange(1300) / 5.0), np.cos(np.arange(700) / 3.0)]
    config = EmbeddingFeatures(views=("raw", "diff"), pooling="mean-max", window=512, segments=2)
    features = embed_features(bolt_mini, long, config)
    assert features.shape == (2, feature_dim(config, 128))
    assert np.isfinite(features).all()
    windows = split_windows(np.arange(1300.0), 512)
    assert [len(w) for w in windows] == [512, 512, 512]
    assert windows[-1][-1] == 1299.0  # the tail is covered, no value is dropped


def test_when_shapes_task_then_in_context_classifier_beats_chance(bolt_mini, task):
    train, y_train, test, y_test = task
    clf = InContextClassifier(bolt_mini, shots=3).fit(train, y_train)
    assert clf.predict_proba(test).shape == (len(test), 3)
    # chance is 1/3 (P(>= 17 of 30 right by chance) < 0.5%); the model is frozen, only its context changes
    assert clf.score(test, y_test) >= 0.55


@pytest.mark.parametrize("baseline", [MiniRocketBaseline(n_kernels=840), DtwBaseline(window=0.1)])
def test_when_baseline_fits_then_it_predicts_known_classes_with_probabilities(task, baseline):
    train, y_train, test, y_test = task
    baseline.fit(train, y_train)
    proba = baseline.predict_proba(test)
    assert proba.shape == (len(test), 3)
    assert set(baseline.predict(test)) <= set(CLASSES)
    assert baseline.score(test, y_test) >= 0.5  # plumbing check; chance is 1/3


def test_when_unequal_lengths_and_gaps_then_minirocket_still_runs(task):
    train, y_train, test, _ = task
    ragged = [s[: 100 + i % 20].copy() for i, s in enumerate(train)]
    ragged[0][10:15] = np.nan
    clf = MiniRocketBaseline(n_kernels=840).fit(ragged, y_train)
    assert clf.predict(test[:4]).shape == (4,)


BAD_FIT = [
    ("mismatched", lambda s, y: (s, y[:-1]), "one label per series"),
    ("single class", lambda s, y: (s, np.array(["a"] * len(s))), "single class"),
    ("too few per class", lambda s, y: (s, np.r_[["rare"], y[1:]]), "too few labelled series per class"),
    ("too short", lambda s, y: ([x[:2] for x in s], y), "at least 3 values"),
    ("inf", lambda s, y: ([np.r_[np.inf, x[1:]] for x in s], y), "inf"),
    ("empty", lambda s, y: ([], []), "empty"),
    ("missing label", lambda s, y: (s, np.r_[[None], y[1:]]), "missing values"),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD_FIT, ids=[c[0] for c in BAD_FIT])
def test_when_fit_input_is_bad_then_input_error_says_why(task, case, mutate, message):
    train, y_train, _, _ = task
    series, labels = mutate(train, y_train)
    with pytest.raises(InputError, match=message):
        MiniRocketBaseline(n_kernels=84).fit(series, labels)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: TsfmClassifier(m, head="svm"), "unknown head 'svm'"),
        (lambda m: TsfmClassifier(m, features={"views": ("raw", "fft")}), "views="),
        (lambda m: TsfmClassifier(m, features={"pooling": "median"}), "pooling="),
        (lambda m: InContextClassifier(m, shots=0), "shots=0"),
        (lambda m: InContextClassifier(m, select="best"), "select="),
        (lambda m: MiniRocketBaseline().predict([np.arange(10.0)]), "not fitted"),
    ],
)
def test_when_options_are_bad_then_input_error_names_them(bolt_mini, build, message):
    with pytest.raises(InputError, match=message):
        build(bolt_mini)


def _recordings() -> list[Recording]:
    rng = np.random.default_rng(0)
    specs = [(c, d) for c in ("B", "IR", "OR") for d in (7, 14, 21)] + [("Normal", 0)]
    return [Recording(f"{c}_{d}", c, d, 0, rng.normal(size=5000)) for c, d in specs]


def test_when_split_by_recording_then_no_recording_has_windows_on_both_sides():
    recordings = _recordings()
    _, labels, groups = cut_windows(recordings, window=256, max_windows=10)
    folds = recording_folds(recordings, n_folds=3)
    assert folds
    tested = set()
    for train_keys, test_keys in folds:
        assert not set(train_keys) & set(test_keys)
        assert not set(groups[np.isin(groups, train_keys)]) & set(groups[np.isin(groups, test_keys)])
        assert set(labels[np.isin(groups, test_keys)]) == {"B", "IR", "OR"}  # each class tested on unseen data
        tested |= set(test_keys)
    assert tested == {r.key for r in recordings} - {"Normal_0"}  # one recording: never testable by recording


def test_when_real_cwru_present_then_windows_come_from_whole_recordings():
    folder = shared_data("cwru")
    recordings = load_recordings(folder, 0)
    windows, labels, groups = cut_windows(recordings, window=1024, max_windows=5)
    assert set(labels) == {"B", "IR", "OR", "Normal"}
    assert len(windows) == 5 * len(recordings) and all(len(w) == 1024 for w in windows)
    for train_keys, test_keys in recording_folds(recordings):
        assert not set(train_keys) & set(test_keys)


def _long_frame(series: list[np.ndarray], prefix: str) -> pd.DataFrame:
    return pd.concat(
        pd.DataFrame({"item_id": f"{prefix}{i}", "timestamp": np.arange(len(s)), "target": s})
        for i, s in enumerate(series)
    )


def test_when_classify_cli_runs_then_preds_have_item_label_and_class_probabilities(task, tmp_path):
    from tsfm.tasks.cli import main

    train, y_train, test, _ = task
    labelled = _long_frame(train, "tr")
    labelled["label"] = labelled["item_id"].map(dict(zip([f"tr{i}" for i in range(len(train))], y_train)))
    labelled.to_csv(tmp_path / "train.csv", index=False)
    _long_frame(test, "te").to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "preds.csv"
    code = main(["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "data.csv"),
                 "--output", str(out), "--chunk", "7", "--device", "cpu"])
    assert code == 0
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["item_id", "label", "p_noise", "p_sine", "p_square"]
    assert sorted(preds["item_id"]) == sorted(f"te{i}" for i in range(len(test)))  # every item once
    np.testing.assert_allclose(preds[["p_noise", "p_sine", "p_square"]].sum(axis=1), 1.0, atol=1e-6)


def test_when_training_file_has_one_class_then_cli_exits_2_with_a_clear_error(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    train, _, _, _ = task
    labelled = _long_frame(train[:4], "tr").assign(label="ok")
    labelled.to_csv(tmp_path / "train.csv", index=False)
    _long_frame(train[:2], "te").to_csv(tmp_path / "data.csv", index=False)
    code = main(["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "data.csv"),
                 "--output", str(tmp_path / "p.csv"), "--method", "minirocket"])
    assert code == 2
    assert "single class" in capsys.readouterr().err
