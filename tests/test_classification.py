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
    RdstBaseline,
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


class CopyExamples:
    """A forecaster that forecasts the mean of its known-future covariates: what the group mode gives it."""

    name, context_length, prediction_length, supports_covariates = "copy-examples", 512, 64, True

    def __init__(self):
        self.calls = []

    def predict_quantiles(self, context, horizon, levels, covariates=None):
        from types import SimpleNamespace

        self.calls.append(covariates)
        if covariates is None:  # concat mode: repeat the last value
            mean = np.stack([np.full(horizon, c[-1]) for c in context])
        else:
            mean = np.stack([np.mean(list(f.values()), axis=0) for f in covariates.future])
        return SimpleNamespace(quantiles=np.repeat(mean[:, :, None], len(levels), axis=2))


def ramps(n_per_class: int, seed: int, length: int = 128, turn: int = 96) -> tuple[list[np.ndarray], np.ndarray]:
    """The same noisy cycle in both classes until ``turn``, then a ramp up or down: only the future differs."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for label, sign in (("up", 1), ("down", -1)):
        for _ in range(n_per_class):
            t = np.arange(length)
            x = np.sin(2 * np.pi * t / 16 + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.1, length)
            x[turn:] += sign * 0.2 * (t[turn:] - turn)
            series.append(x)
            labels.append(label)
    return series, np.array(labels)


def test_when_the_group_mode_classifies_then_each_example_continues_the_query_over_the_same_steps():
    train, y_train = ramps(5, seed=0)
    test, y_test = ramps(6, seed=1)
    model = CopyExamples()
    clf = InContextClassifier(model, shots=3, cuts=3, mode="group").fit(train, y_train)
    # the copy of the right class's continuation is right after the turn, the other class's is not
    assert clf.score(test, y_test) == 1.0
    covariates = model.calls[-1]
    assert covariates is not None and set(covariates.future[0]) == {"example_0", "example_1", "example_2"}
    h = clf.horizon
    for past, future in zip(covariates.past, covariates.future):
        assert all(len(v) == len(past["example_0"]) for v in past.values())  # aligned with the query's past
        assert all(len(v) == h for v in future.values())
    concat = CopyExamples()
    InContextClassifier(concat, shots=3, mode="concat").fit(train, y_train).predict(test[:2])
    assert all(c is None for c in concat.calls)  # only the group mode passes the examples as covariates


def test_when_shapes_task_then_the_group_mode_of_the_bundled_chronos2_beats_chance(task):
    import tsfm

    train, y_train, test, y_test = task
    clf = InContextClassifier(tsfm.load("tsfm-chronos2-mini", device="cpu"), shots=3, mode="group")
    clf.fit(train, y_train)
    # chance is 1/3: P(>= 15 of 30 right by chance) < 5%; measured 16 of 30
    assert clf.score(test, y_test) >= 0.5


@pytest.mark.parametrize(
    "baseline", [MiniRocketBaseline(n_kernels=840), RdstBaseline(max_shapelets=200), DtwBaseline(window=0.1)]
)
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
        (lambda m: InContextClassifier(m, mode="stack"), "mode='stack': allowed values"),
        (lambda m: InContextClassifier(m, mode="group"), "mode='group' needs a model that reads known-future"),
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


def test_when_classify_cli_uses_the_group_mode_then_chronos2_is_the_default_and_bolt_is_refused(
    task, tmp_path, capsys
):
    from tsfm.tasks.cli import main

    train, y_train, test, _ = task
    labelled = _long_frame(train, "tr")
    labelled["label"] = labelled["item_id"].map(dict(zip([f"tr{i}" for i in range(len(train))], y_train)))
    labelled.to_csv(tmp_path / "train.csv", index=False)
    _long_frame(test[:4], "te").to_csv(tmp_path / "data.csv", index=False)
    common = ["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "data.csv"),
              "--method", "in-context-group", "--device", "cpu"]
    assert main([*common, "--output", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 4
    code = main([*common, "--output", str(tmp_path / "q.csv"), "--model", "tsfm-bolt-mini"])
    assert code == 2 and "mode='group' needs a model that reads known-future covariates" in capsys.readouterr().err
    assert not (tmp_path / "q.csv").exists()


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


# ----------------------------------------------------------------------------- heads as arrays, save / load


@pytest.mark.parametrize("head", ["logistic", "ridge"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_when_head_predicts_from_its_arrays_then_it_equals_sklearns_own_pipeline(head, n_classes):
    from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tsfm.tasks.classification.heads import Head, _softmax

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6)) * [1, 2, 3, 4, 5, 6] + [0, 1, 2, 3, 4, 5]
    labels = np.array(list("abc"[:n_classes]) * 20)[:40]
    features[labels == "a", 0] += 2.0
    ours = Head(head).fit(features, labels).predict_proba(features)
    estimator = LogisticRegression(C=1.0, max_iter=5000) if head == "logistic" else RidgeClassifierCV(
        alphas=np.logspace(-3, 3, 10))
    reference = make_pipeline(StandardScaler(), estimator).fit(features, labels)
    if head == "logistic":
        expected = reference.predict_proba(features)
    else:
        scores = np.atleast_2d(reference.decision_function(features).T).T
        expected = _softmax(scores if scores.shape[1] > 1 else np.c_[-scores, scores])
    np.testing.assert_allclose(ours, expected, atol=1e-8)


@pytest.mark.parametrize("head", ["logistic", "ridge", "knn"])
def test_when_classifier_is_saved_and_loaded_then_predictions_are_identical(bolt_mini, task, head, tmp_path):
    from tsfm.tasks.classification.persist import load_classifier

    train, y_train, test, _ = task
    config = EmbeddingFeatures(views=("raw",), pooling="mean-max", segments=2)
    fitted = TsfmClassifier(bolt_mini, head=head, features=config).fit(train, y_train)
    fitted.save(tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf", device="cpu")
    assert loaded.features == config and loaded.head.name == head
    assert list(loaded.classes_) == list(fitted.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(test), fitted.predict_proba(test))
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == [".tsfm-run.json", "classifier.json", "head.npz"]


def _edit_json(folder, change):
    import json

    path = folder / "classifier.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def _rewrite_npz(folder, arrays):
    import hashlib

    np.savez(folder / "head.npz", **arrays)
    _edit_json(folder, lambda c: c.update(sha256=hashlib.sha256((folder / "head.npz").read_bytes()).hexdigest()))


CORRUPT = [
    ("no marker", lambda f: (f / ".tsfm-run.json").unlink(), "not a saved classifier"),
    ("not json", lambda f: (f / "classifier.json").write_text("{oops"), "not readable JSON"),
    ("unknown head", lambda f: _edit_json(f, lambda c: c.update(head="svm")), "head 'svm'"),
    ("one class", lambda f: _edit_json(f, lambda c: c.update(classes=["noise"])), "two or more distinct labels"),
    ("bad views", lambda f: _edit_json(f, lambda c: c["features"].update(views=["fft"])), "views="),
    ("unknown feature", lambda f: _edit_json(f, lambda c: c["features"].update(code="x")), "features:"),
    ("newer format", lambda f: _edit_json(f, lambda c: c.update(version=99)), "version 99"),
    ("changed arrays", lambda f: (f / "head.npz").write_bytes(b"PK not a zip"), "does not match the sha256"),
    ("arrays missing", lambda f: (f / "head.npz").unlink(), "head.npz is missing"),
    ("wrong shapes", lambda f: _rewrite_npz(f, {"mean": np.zeros(3), "scale": np.ones(3), "coef": np.zeros((2, 3)),
                                                "intercept": np.zeros(2)}), r"must be \(3, 3\)"),
    ("object array", lambda f: _rewrite_npz(f, {"mean": np.array(["x"], dtype=object)}), "not a readable .npz"),
]


@pytest.mark.parametrize(("case", "corrupt", "message"), CORRUPT, ids=[c[0] for c in CORRUPT])
def test_when_saved_folder_is_edited_or_corrupt_then_load_is_refused_with_a_reason(
    bolt_mini, task, tmp_path, case, corrupt, message
):
    from tsfm.tasks.classification.persist import load_classifier

    train, y_train, _, _ = task
    TsfmClassifier(bolt_mini, features={"views": ("raw",)}).fit(train, y_train).save(tmp_path / "clf")
    corrupt(tmp_path / "clf")
    with pytest.raises(InputError, match=message):
        load_classifier(tmp_path / "clf", model=bolt_mini)


def test_when_loaded_with_a_model_of_another_width_then_predict_says_so(bolt_mini, task, tmp_path):
    from tsfm.tasks.classification.persist import load_classifier

    train, y_train, test, _ = task
    TsfmClassifier(bolt_mini, features={"views": ("raw",)}).fit(train, y_train).save(tmp_path / "clf")
    _edit_json(tmp_path / "clf", lambda c: c["features"].update(views=["raw", "diff"]))
    with pytest.raises(InputError, match="fitted on 130 features per series, got 258"):
        load_classifier(tmp_path / "clf", model=bolt_mini).predict(test)


# ----------------------------------------------------------------------------- multivariate


def test_when_series_have_channels_then_embeddings_concatenate_and_baselines_use_all(bolt_mini, task):
    train, y_train, test, y_test = task
    # channel 0 is pure noise for every class: only channel 1 tells the classes apart
    rng = np.random.default_rng(3)
    two = [np.stack([rng.normal(size=len(s)), s]) for s in train]
    two_test = [np.stack([rng.normal(size=len(s)), s]) for s in test]
    clf = TsfmClassifier(bolt_mini, features={"views": ("raw",)}).fit(two, y_train)
    assert clf.transform(two_test[:2]).shape == (2, 2 * 130)
    assert clf.score(two_test, y_test) >= 0.8
    assert MiniRocketBaseline(n_kernels=840).fit(two, y_train).score(two_test, y_test) >= 0.5
    with pytest.raises(InputError, match="fitted on 2 channel"):
        clf.predict(test)
    with pytest.raises(InputError, match=r"shape \(3, 128\)"):
        clf.predict([two_test[0], np.vstack([two_test[1], two_test[1][:1]])])
    with pytest.raises(InputError, match="univariate"):
        InContextClassifier(bolt_mini).fit(two, y_train)


# ----------------------------------------------------------------------------- CLI: save, load, accuracy, channels


def _labelled(series, labels, prefix: str) -> pd.DataFrame:
    frame = _long_frame(series, prefix)
    frame["label"] = frame["item_id"].map(dict(zip([f"{prefix}{i}" for i in range(len(series))], labels)))
    return frame


def test_when_cli_saves_then_load_classifies_without_train_and_reports_accuracy(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    train, y_train, test, y_test = task
    _labelled(train, y_train, "tr").to_csv(tmp_path / "train.csv", index=False)
    _labelled(test, y_test, "te").to_csv(tmp_path / "test.csv", index=False)
    common = ["--data", str(tmp_path / "test.csv"), "--device", "cpu"]
    assert main(["classify", "--train", str(tmp_path / "train.csv"), "--save", str(tmp_path / "clf"),
                 "--output", str(tmp_path / "fit.csv"), "--method", "embedding", "--views", "raw", "--head", "ridge",
                 *common]) == 0
    assert main(["classify", "--load", str(tmp_path / "clf"), "--output", str(tmp_path / "load.csv"), *common]) == 0
    fitted, loaded = pd.read_csv(tmp_path / "fit.csv"), pd.read_csv(tmp_path / "load.csv")
    pd.testing.assert_frame_equal(fitted, loaded)
    printed = capsys.readouterr().out
    right = int((loaded["label"] == loaded["item_id"].map(dict(zip([f"te{i}" for i in range(30)], y_test)))).sum())
    assert f"accuracy {right / 30:.3f} ({right} of 30 items)" in printed
    confusion = pd.read_csv(tmp_path / "load.confusion.csv")
    assert list(confusion.columns) == ["true", *CLASSES]
    assert confusion.set_index("true").to_numpy().sum() == 30
    assert np.trace(confusion.set_index("true").loc[list(CLASSES), list(CLASSES)].to_numpy()) == right
    (tmp_path / "clf" / "head.npz").write_bytes((tmp_path / "clf" / "head.npz").read_bytes()[:-8])  # truncated
    code = main(["classify", "--load", str(tmp_path / "clf"), "--output", str(tmp_path / "again.csv"), *common])
    err = capsys.readouterr().err
    assert code == 2 and "does not match the sha256" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "again.csv").exists()


def _channels(series, labels, prefix: str, rng) -> pd.DataFrame:
    frame = _labelled(series, labels, prefix)
    return frame.assign(noise=rng.normal(size=len(frame)), wave=frame["target"]).drop(columns="target")


def test_when_cli_gets_several_targets_then_each_item_is_one_multichannel_series(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    train, y_train, test, y_test = task
    rng = np.random.default_rng(0)
    _channels(train, y_train, "tr", rng).to_csv(tmp_path / "train.csv", index=False)
    _channels(test, y_test, "te", rng).to_csv(tmp_path / "test.csv", index=False)
    assert main(["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "test.csv"),
                 "--target", "noise,wave", "--method", "embedding", "--views", "raw", "--save", str(tmp_path / "clf"),
                 "--output", str(tmp_path / "p.csv"), "--device", "cpu"]) == 0
    assert "accuracy" in capsys.readouterr().out
    # the saved classifier remembers its columns: a query file without one of them is refused
    _channels(test, y_test, "te", rng).drop(columns="noise").to_csv(tmp_path / "short.csv", index=False)
    code = main(["classify", "--load", str(tmp_path / "clf"), "--data", str(tmp_path / "short.csv"),
                 "--output", str(tmp_path / "q.csv"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "lacks the value column(s) ['noise']" in err and len(err.strip().splitlines()) == 1


BAD_CLI = [
    ("no train nor load", [], "exactly one of --train"),
    ("nan label", ["--train", "{nan}"], "NaN labels"),
    ("load not a folder", ["--load", "{train}"], "not a folder"),
    ("save with load", ["--load", "{tmp}", "--save", "{tmp}/x"], "--save writes a classifier"),
    ("save other method", ["--train", "{train}", "--save", "{tmp}/x", "--method", "dtw"], "--save supports --method"),
    ("load other method", ["--load", "{tmp}", "--method", "dtw"], "drop --method dtw"),
    ("repeated target", ["--train", "{train}", "--target", "target,target"], "distinct"),
    ("missing target", ["--train", "{train}", "--target", "volts"], "no 'volts' column"),
]


@pytest.mark.parametrize(("case", "flags", "message"), BAD_CLI, ids=[c[0] for c in BAD_CLI])
def test_when_classify_flags_or_files_are_bad_then_one_line_and_exit_2(task, tmp_path, capsys, case, flags, message):
    from tsfm.tasks.cli import main

    train, y_train, _, _ = task
    labelled = _labelled(train[:6], y_train[:6], "tr")
    labelled.to_csv(tmp_path / "train.csv", index=False)
    labelled.assign(label=labelled["label"].where(labelled["item_id"] != "tr0")).to_csv(tmp_path / "nan.csv",
                                                                                        index=False)
    paths = {"train": str(tmp_path / "train.csv"), "nan": str(tmp_path / "nan.csv"), "tmp": str(tmp_path)}
    method = ["--method", "minirocket"] if "--train" in flags and "--method" not in flags else []  # fast to fit
    code = main(["classify", *[f.format(**paths) for f in flags], *method, "--data", paths["train"],
                 "--output", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_when_ucr_set_is_multivariate_then_benchmark_keeps_every_channel(bolt_mini):
    from tsfm.tasks.classification import benchmarks as bench

    train, y_train, test, _ = bench.load_ucr("BasicMotions")  # UEA, ships in aeon: 6 channels x 100 steps
    assert train[0].shape == (6, 100) and len(test) == 40 and len(set(y_train)) == 4
    first, _, _, _ = bench.load_ucr("BasicMotions", first_channel=True)
    np.testing.assert_array_equal(first[0], train[0][0])
    lines = []
    factories = {"minirocket": lambda: MiniRocketBaseline(n_kernels=840, min_per_class=1),
                 "tsfm-in-context": lambda: InContextClassifier(bolt_mini, min_per_class=1)}
    results = bench.run_ucr(factories, ("BasicMotions",), log=lines.append)
    assert list(results["method"]) == ["minirocket"]
    assert results["accuracy"].iloc[0] >= 0.5  # four classes: chance is 0.25
    assert any("skip BasicMotions tsfm-in-context" in line and "univariate" in line for line in lines)


def test_when_model_is_a_local_folder_then_the_saved_classifier_names_it_by_absolute_path(tmp_path, monkeypatch):
    from tsfm.tasks.classification.classifier import model_spec

    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    assert model_spec("my-model") == str((tmp_path / "my-model").resolve())  # loads from any working folder
    assert model_spec("tsfm-bolt-mini") == "tsfm-bolt-mini"  # a registered name stays a name


def test_when_sets_is_offline_then_every_classification_set_aeon_ships_loads_and_is_learnable():
    from tsfm.tasks.classification import benchmarks as bench

    assert bench.resolve_sets(None) == bench.UCR_SETS
    assert bench.resolve_sets("offline") == bench.OFFLINE_SETS and len(bench.OFFLINE_SETS) == 9
    assert bench.resolve_sets("GunPoint, offline")[:2] == ("GunPoint", "GunPoint")  # a list is taken as written
    small = {"minirocket": lambda: MiniRocketBaseline(n_kernels=840, min_per_class=1)}
    rows = bench.run_ucr(small, bench.OFFLINE_SETS, log=lambda line: None)
    assert list(rows["dataset"]) == list(bench.OFFLINE_SETS)  # none skipped: all ship inside aeon
    classes = {name: len(set(bench.load_ucr(name)[1])) for name in bench.OFFLINE_SETS}
    above = rows["accuracy"].to_numpy() > 1.5 / np.array([classes[n] for n in rows["dataset"]])
    assert above.all(), rows  # every set is learnable from its training split, well above chance


def test_when_rdst_is_asked_for_by_name_then_the_bench_builds_it_and_it_runs_silently(task, recwarn):
    from tsfm.tasks.classification import benchmarks as bench

    assert "rdst" in bench.METHODS and "rdst" not in bench.DEFAULT_METHODS  # slow on CWRU: by name only
    clf = bench.method_factories(None, ("rdst",), bench.UCR_FEATURES, "logistic")["rdst"]()
    assert isinstance(clf, RdstBaseline)
    train, y_train, test, y_test = task
    clf.fit(train, y_train)
    assert clf.score(test, y_test) >= 0.5  # chance is 1/3
    assert not [w for w in recwarn if "shapelet transformation" in str(w.message)]  # aeon's zero-fill note is muted
