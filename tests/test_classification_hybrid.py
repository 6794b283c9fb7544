"""Hybrid classification (MiniRocket + TSFM embeddings), its saving, the default's validation, few-shot curves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.test_classification import CLASSES, _labelled, shapes
from tsfm.errors import InputError
from tsfm.tasks.classification.hybrid import AUTO_MIXES, HYBRID_MIXES, HybridClassifier, check_mixes
from tsfm.tasks.classification.rocket import RocketFeatures

KERNELS = 840  # a tenth of MiniRocket's default: fast, still separates the shapes task


@pytest.fixture(scope="module")
def bolt_mini():
    import tsfm

    return tsfm.load("tsfm-bolt-mini", device="cpu")


@pytest.fixture(scope="module")
def task():
    train, y_train = shapes(6, seed=0)
    test, y_test = shapes(8, seed=1)
    return train, y_train, test, y_test


# ----------------------------------------------------------------------------- MiniRocket as arrays


def test_when_rocket_state_is_rebuilt_then_features_equal_aeons_minirocket():
    from aeon.transformations.collection.convolution_based import MiniRocket

    from tsfm.tasks.classification.baselines import to_panel

    rng = np.random.default_rng(0)
    series = [rng.normal(size=60) for _ in range(8)]
    fitted = RocketFeatures(n_kernels=KERNELS).fit(series)
    aeon = MiniRocket(n_kernels=KERNELS, random_state=0).fit(to_panel(series, 60)).transform(to_panel(series, 60))
    np.testing.assert_array_equal(fitted.transform(series), aeon)
    np.testing.assert_array_equal(RocketFeatures.from_state(fitted.state()).transform(series), aeon)


def test_when_rocket_series_are_multichannel_then_the_rebuilt_state_gives_the_same_features():
    rng = np.random.default_rng(1)
    series = [rng.normal(size=(3, 40)) for _ in range(6)]
    fitted = RocketFeatures(n_kernels=KERNELS).fit(series)
    assert fitted.n_channels == 3
    np.testing.assert_array_equal(RocketFeatures.from_state(fitted.state()).transform(series), fitted.transform(series))
    with pytest.raises(InputError, match="fitted on 3 channel"):
        fitted.transform([s[:2] for s in series])


@pytest.mark.parametrize(("key", "value", "message"), [
    ("biases", np.zeros(5, dtype=np.float32), "do not agree"),
    ("dilations", np.array([1.5]), "non-negative integers"),
    ("biases", np.array([np.nan], dtype=np.float32), "finite floats"),
])
def test_when_rocket_state_is_edited_then_it_is_refused(key, value, message):
    state = RocketFeatures(n_kernels=KERNELS).fit([np.sin(np.arange(30) + k) for k in range(4)]).state()
    with pytest.raises(InputError, match=message):
        RocketFeatures.from_state({**state, key: value})


# ----------------------------------------------------------------------------- the hybrid classifier


def test_when_hybrid_fits_shapes_then_it_beats_chance_with_probabilities(bolt_mini, task):
    train, y_train, test, y_test = task
    clf = HybridClassifier(bolt_mini, n_kernels=KERNELS).fit(train, y_train)
    assert clf.mix_ == HYBRID_MIXES[0] and clf.cv_scores_ == {}  # one validated mix: nothing to choose
    proba = clf.predict_proba(test)
    assert list(clf.classes_) == list(CLASSES) and proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert clf.score(test, y_test) >= 0.8  # chance is 1/3


def test_when_auto_has_folds_then_it_scores_every_mix_and_keeps_the_best(bolt_mini, task):
    train, y_train, _, _ = task
    clf = HybridClassifier(bolt_mini, mixes=AUTO_MIXES, n_kernels=KERNELS).fit(train, y_train)
    assert list(clf.cv_scores_) == list(AUTO_MIXES)
    assert all(0.0 <= s <= 1.0 for s in clf.cv_scores_.values())
    assert clf.cv_scores_[clf.mix_] == max(clf.cv_scores_.values())
    best = [m for m in AUTO_MIXES if clf.cv_scores_[m] == clf.cv_scores_[clf.mix_]]
    assert clf.mix_ == best[0]  # ties go to the earlier mix


def test_when_a_class_has_one_example_then_auto_falls_back_to_the_first_mix(bolt_mini, task):
    train, y_train, _, _ = task
    keep = [list(y_train).index(c) for c in CLASSES]  # one series per class
    clf = HybridClassifier(bolt_mini, mixes=AUTO_MIXES, n_kernels=KERNELS, min_per_class=1)
    clf.fit([train[i] for i in keep], y_train[keep])
    assert clf.mix_ == AUTO_MIXES[0] and clf.cv_scores_ == {}


def test_when_the_mix_has_no_embedding_weight_then_no_model_is_needed(task):
    train, y_train, test, y_test = task
    clf = HybridClassifier(None, mixes=[(1, 0)], n_kernels=KERNELS).fit(train, y_train)
    assert clf.score(test, y_test) >= 0.8


@pytest.mark.parametrize(("mixes", "message"), [
    ([], "one or more pairs"), ([(0, 0)], "not both 0"), ([(1, -1)], ">= 0"), ("ab", "pairs"),
])
def test_when_mixes_are_bad_then_input_error_names_them(mixes, message):
    with pytest.raises(InputError, match=message):
        check_mixes(mixes)


def test_when_embeddings_are_weighted_but_no_model_is_given_then_it_says_so():
    with pytest.raises(InputError, match="model is None"):
        HybridClassifier(None, mixes=[(1, 0.25)])


def test_when_a_channel_is_constant_in_every_series_then_fit_refuses_it(task):
    train, y_train, _, _ = task
    flat = [np.stack([s, np.full_like(s, 3.0)]) for s in train]
    with pytest.raises(InputError, match="channel 1 is constant in every training series"):
        HybridClassifier(None, mixes=[(1, 0)], n_kernels=KERNELS).fit(flat, y_train)


def test_when_make_classifier_gets_hybrid_or_auto_then_the_mixes_match(bolt_mini):
    from tsfm.tasks.classification.classifier import DEFAULT_METHOD, METHODS, make_classifier

    assert DEFAULT_METHOD in METHODS
    assert make_classifier("hybrid", bolt_mini).mixes == HYBRID_MIXES
    assert make_classifier("auto", bolt_mini).mixes == AUTO_MIXES


# ----------------------------------------------------------------------------- saving


@pytest.mark.parametrize("mixes", [HYBRID_MIXES, [(1.0, 0.0)]], ids=["hybrid", "rocket-only"])
def test_when_hybrid_is_saved_and_loaded_then_predictions_are_identical(bolt_mini, task, tmp_path, mixes):
    from tsfm.tasks.classification.persist import load_classifier

    train, y_train, test, _ = task
    clf = HybridClassifier(bolt_mini if mixes[0][1] else None, mixes=mixes, n_kernels=KERNELS).fit(train, y_train)
    if mixes[0][1]:
        clf.model_spec = "tsfm-bolt-mini"
    clf.save(tmp_path / "clf")
    config = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert config["method"] == "hybrid" and config["mix"] == list(mixes[0])
    assert config["model"] == ("tsfm-bolt-mini" if mixes[0][1] else None)
    with np.load(tmp_path / "clf" / "head.npz", allow_pickle=False) as stored:  # numbers only, no objects
        assert {"head_coef", "rocket_biases", "rocket_dilations"} <= set(stored.files)
    loaded = load_classifier(tmp_path / "clf")
    np.testing.assert_array_equal(loaded.predict_proba(test), clf.predict_proba(test))


def test_when_a_saved_hybrid_is_edited_then_load_is_refused(task, tmp_path):
    from tsfm.tasks.classification.persist import load_classifier

    train, y_train, _, _ = task
    HybridClassifier(None, mixes=[(1, 0)], n_kernels=KERNELS).fit(train, y_train).save(tmp_path / "clf")
    path = tmp_path / "clf" / "classifier.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "mix": [1, 0.5]}))  # now needs a model it does not name
    with pytest.raises(InputError, match="must name the embedding model"):
        load_classifier(tmp_path / "clf")
    path.write_text(json.dumps({**config, "mix": [-1, 0]}))
    with pytest.raises(InputError, match="weights >= 0"):
        load_classifier(tmp_path / "clf")


# ----------------------------------------------------------------------------- the CLI


def _write(task, tmp_path) -> dict[str, str]:
    train, y_train, test, y_test = task
    _labelled(train, y_train, "tr").to_csv(tmp_path / "train.csv", index=False)
    _labelled(test, y_test, "te").to_csv(tmp_path / "test.csv", index=False)
    return {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}


@pytest.mark.slow  # ~20 s: auto scores five mixes on folds of a 10,000-kernel MiniRocket; fast variant above
def test_when_cli_uses_auto_then_it_says_which_mix_and_save_load_agree(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    files = _write(task, tmp_path)
    common = ["--data", files["test"], "--device", "cpu"]
    assert main(["classify", "--train", files["train"], "--method", "auto", "--save", str(tmp_path / "clf"),
                 "--output", str(tmp_path / "fit.csv"), *common]) == 0
    assert "by accuracy on folds of --train" in capsys.readouterr().out
    assert main(["classify", "--load", str(tmp_path / "clf"), "--output", str(tmp_path / "load.csv"), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fit.csv"), pd.read_csv(tmp_path / "load.csv"))


def test_when_training_column_is_constant_then_cli_names_it_and_exits_2(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    train, y_train, _, _ = task
    _labelled(train, y_train, "tr").assign(stuck=1.0).to_csv(tmp_path / "train.csv", index=False)
    code = main(["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "train.csv"),
                 "--target", "target,stuck", "--method", "minirocket", "--output", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "channel 'stuck' is constant" in err and len(err.strip().splitlines()) == 1


def test_when_query_names_columns_the_training_file_lacked_then_cli_exits_2(task, tmp_path, capsys):
    from tsfm.tasks.cli import main

    train, y_train, test, y_test = task
    rng = np.random.default_rng(0)
    frame = _labelled(train, y_train, "tr")
    frame.assign(extra=rng.normal(size=len(frame))).to_csv(tmp_path / "train.csv", index=False)
    query = _labelled(test, y_test, "te")
    query.assign(extra=1.0, volts=rng.normal(size=len(query))).to_csv(tmp_path / "query.csv", index=False)
    assert main(["classify", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "query.csv"),
                 "--target", "target,extra", "--method", "embedding", "--views", "raw", "--save", str(tmp_path / "clf"),
                 "--output", str(tmp_path / "p.csv"), "--device", "cpu"]) == 0
    capsys.readouterr()
    code = main(["classify", "--load", str(tmp_path / "clf"), "--data", str(tmp_path / "query.csv"),
                 "--target", "target,volts", "--output", str(tmp_path / "q.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "the training file lacks ['volts']" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- validation and few-shot curves


def test_when_candidates_are_validated_then_every_mix_and_auto_get_a_fold_accuracy():
    from tsfm.tasks.classification.validation import mix_name, validate_candidates

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 10)
    signal = (labels == "b")[:, None] * 2.0
    blocks = {"rocket": rng.normal(size=(20, 30)) + signal, "embedding": rng.normal(size=(20, 8))}
    scores = validate_candidates(blocks, labels, folds=5)
    assert set(scores) == {mix_name(m) for m in AUTO_MIXES} | {"auto"}
    assert scores["minirocket"] >= 0.9 and scores["embedding (ridge)"] <= 0.8  # only the rocket block has signal


def test_when_rdst_is_validated_then_it_is_refitted_on_each_training_fold(task, monkeypatch):
    from tsfm.tasks.classification import baselines
    from tsfm.tasks.classification.hybrid import stratified_folds
    from tsfm.tasks.classification.validation import rdst_fold_accuracy

    train, y_train, _, _ = task
    seen = []
    fit = baselines.RdstBaseline.fit
    monkeypatch.setattr(baselines.RdstBaseline, "fit", lambda self, s, y: seen.append(len(s)) or fit(self, s, y))
    accuracy = rdst_fold_accuracy(train, y_train, folds=4)
    folds = stratified_folds(y_train, 4)
    assert seen == [len(tr) for tr, _ in folds] and all(n < len(train) for n in seen)  # never the whole split
    assert accuracy >= 0.6  # three separable shapes: chance is 1/3
    assert stratified_folds(np.array(["a", "a", "b"]), 5) == []  # a class of one: no folds


def test_when_few_labels_are_validated_then_each_draw_is_scored_on_the_rest_of_the_training_split(bolt_mini, task):
    from tsfm.tasks.classification.validation import fewshot_validation

    train, y_train, _, _ = task  # 6 per class
    lines = []
    table = fewshot_validation(bolt_mini, {"shapes": (train, y_train)}, shots=(2, 6), draws=2, log=lines.append)
    assert list(table.index) == [(2, "shapes"), (2, "mean")]  # at 6 per class nothing is left to score
    assert any("shapes" in line and "6 per class: skipped" in line for line in lines)
    assert (table[["hybrid", "auto"]].to_numpy() >= 0.6).all()  # three separable shapes: chance is 1/3
    assert table.loc[(2, "mean"), "hybrid"] == table.loc[(2, "shapes"), "hybrid"]


def test_when_drawing_k_per_class_then_draws_are_seeded_and_small_classes_kept_whole():
    from tsfm.tasks.classification.fewshot import parse_shots, sample_per_class

    labels = np.array(["a"] * 10 + ["b"] * 3)
    first = sample_per_class(labels, 5, seed=7)
    np.testing.assert_array_equal(first, sample_per_class(labels, 5, seed=7))
    assert sorted(labels[first]) == ["a"] * 5 + ["b"] * 3
    assert not np.array_equal(first, sample_per_class(labels, 5, seed=8))
    assert len(sample_per_class(labels, None, seed=0)) == 13
    assert parse_shots("1,5,10,all") == (1, 5, 10, None)
    with pytest.raises(InputError, match="integer >= 1 or 'all'"):
        parse_shots("0,5")


def test_when_fewshot_runs_then_rows_cover_every_count_and_the_plot_is_written(task, tmp_path):
    from tsfm.tasks.classification.baselines import DtwBaseline, MiniRocketBaseline
    from tsfm.tasks.classification.fewshot import curve_table, plot_curves, run_fewshot

    train, y_train, test, y_test = task
    factories = {"minirocket": lambda: MiniRocketBaseline(n_kernels=KERNELS, min_per_class=1),
                 "dtw": lambda: DtwBaseline(min_per_class=1)}
    results = run_fewshot(factories, {"shapes": (train, y_train, test, y_test)}, (1, 2, None), draws=2,
                          log=lambda _: None)
    assert len(results) == (2 + 2 + 1) * 2  # two draws below all, one fit at all; two methods
    table = curve_table(results)
    assert list(table.index) == ["1", "2", "all"] and list(table.columns) == ["minirocket", "dtw"]
    assert table.loc["all", "minirocket"] >= 0.8
    assert plot_curves(results, tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_when_embeddings_are_cached_then_repeated_series_are_not_embedded_again(bolt_mini):
    from tsfm.tasks.classification.fewshot import CachedEmbeddings

    calls = []

    class Counting:
        context_length = 64

        def embed(self, series):
            calls.append(len(series))
            return bolt_mini.embed(series)

    cached = CachedEmbeddings(Counting())
    series = [np.sin(np.arange(40) / k) for k in range(1, 4)]
    first = cached.embed(series)
    again = cached.embed(series[::-1] + [np.cos(np.arange(40))])
    assert calls == [3, 1] and cached.context_length == 64
    np.testing.assert_array_equal(again[:3], first[::-1])
