"""Ensembles: greedy weights on constructed cases, sorted quantiles, failures, saving, bad input."""

from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pytest

import tests.test_conformance as conformance
import tsfm
from tests.conftest import seasonal_panel
from tsfm.contract import BaseForecaster
from tsfm.covariates import Covariates
from tsfm.ensemble import (
    FILE_NAME,
    EnsembleForecaster,
    combine,
    fit_ensemble,
    select_weights,
)
from tsfm.errors import CheckpointError, InputError, UnknownModelError
from tsfm.rolling import RollingWindows, score

SEASON = 12
HORIZON = 6
LEVELS = (0.1, 0.5, 0.9)
CONFIG = RollingWindows(horizon=HORIZON, windows=3)


def season(t: np.ndarray) -> np.ndarray:
    return 3.0 * np.sin(2 * np.pi * t / SEASON)


def known_panel(n_series: int = 4, length: int = 60) -> list[np.ndarray]:
    """Series ``level_i + season(t)``; ``level_i = series[0]`` since ``season(0) = 0``."""
    t = np.arange(length)
    return [10.0 * (i + 1) + season(t) for i in range(n_series)]


class KnowingForecaster(BaseForecaster):
    """Knows how :func:`known_panel` goes on: the truth plus ``offset``, with a band of ``width``.

    ``fail_on`` lists series (by level) it raises on; ``fail_all`` makes it raise always.
    """

    kind = "baseline"

    def __init__(self, name: str, offset: float = 0.0, width: float = 0.0, fail_on=(), fail_all=False) -> None:
        super().__init__(name)
        self.offset, self.width, self.fail_on, self.fail_all = offset, width, set(fail_on), fail_all
        self.got_covariates = None

    def _predict_quantiles(self, context, horizon, levels):
        if self.fail_all:
            raise RuntimeError("weights file missing")
        if any(round(c[0]) in self.fail_on for c in context):
            raise RuntimeError("cannot read this series")
        truth = np.stack([c[0] + season(len(c) + np.arange(horizon)) for c in context]) + self.offset  # [n, h]
        spread = (np.asarray(levels) - 0.5) * self.width  # [n_q]
        return truth[:, :, None] + spread, truth

    def _predict_with_covariates(self, context, horizon, levels, covariates):
        self.got_covariates = covariates
        return self._predict_quantiles(context, horizon, levels)


def weight_of(ensemble: EnsembleForecaster, name: str) -> float:
    return dict(zip([m.name for m in ensemble.members], ensemble.weights)).get(name, 0.0)


def test_when_a_member_is_exactly_right_then_it_gets_nearly_all_the_weight():
    members = [KnowingForecaster("biased", offset=2.0, width=1.0), KnowingForecaster("exact"),
               tsfm.load("naive")]
    ensemble = fit_ensemble(members, known_panel(), CONFIG, LEVELS, SEASON, method="greedy")
    assert weight_of(ensemble, "exact") > 0.95
    report = ensemble.report.set_index("member")
    assert report.loc["exact", "status"] == "selected"
    assert report.loc["naive", "status"] == "not selected" and report.loc["naive", "weight"] == 0
    assert report.loc["exact", "WQL"] == 0 and report.loc["naive", "WQL"] > 0
    assert "ensemble" in report.index


def test_when_two_members_err_in_opposite_directions_then_together_they_beat_either():
    up, down = KnowingForecaster("up", offset=1.0, width=0.5), KnowingForecaster("down", offset=-1.0, width=0.5)
    ensemble = fit_ensemble([up, down, tsfm.load("naive")], known_panel(), CONFIG, LEVELS, SEASON)
    assert weight_of(ensemble, "up") == pytest.approx(0.5) and weight_of(ensemble, "down") == pytest.approx(0.5)
    later = known_panel(length=90)  # windows after the ones the weights were chosen on
    test = RollingWindows(horizon=HORIZON, windows=2)
    scores = {m.name: score(m, later, test, LEVELS, SEASON).pooled()["WQL"] for m in (up, down, ensemble)}
    assert scores["ensemble"] < 0.2 * min(scores["up"], scores["down"])


def test_when_greedy_weights_are_shrunk_then_they_move_toward_equal_over_the_selected_members():
    up, down = KnowingForecaster("up", offset=1.0), KnowingForecaster("down", offset=-3.0)
    results = [score(m, known_panel(), CONFIG, LEVELS, SEASON) for m in (up, down)]
    greedy = select_weights(results, method="greedy", shrinkage=0.0, tolerance=0.0)
    shrunk = select_weights(results, method="greedy", shrinkage=0.5, tolerance=0.0)
    assert greedy.weights[0] == pytest.approx(0.75) and greedy.counts.tolist() == [3, 1]
    np.testing.assert_allclose(shrunk.weights, 0.5 * greedy.weights + 0.5 * np.array([0.5, 0.5]))
    assert min(greedy.trajectory) == pytest.approx(0.0, abs=1e-12)


def test_when_a_longer_prefix_gains_less_than_the_tolerance_then_the_shorter_one_is_kept():
    up, down = KnowingForecaster("up", offset=1.0, width=1.0), KnowingForecaster("down", offset=-3.0, width=1.0)
    results = [score(m, known_panel(), CONFIG, LEVELS, SEASON) for m in (up, down)]
    exact = select_weights(results, method="greedy", shrinkage=0.0, tolerance=0.0)
    loose = select_weights(results, method="greedy", shrinkage=0.0, tolerance=100.0)
    assert exact.kept == 4 and exact.counts.tolist() == [3, 1]
    assert loose.kept == 1 and loose.weights.tolist() == [1.0, 0.0], "a huge tolerance keeps the first member alone"
    trajectory = np.asarray(exact.trajectory)
    for tolerance in (0.0, 0.05, 0.5, 2.0):
        kept = select_weights(results, method="greedy", shrinkage=0.0, tolerance=tolerance).kept
        assert trajectory[kept - 1] <= trajectory.min() * (1 + tolerance) + 1e-12
        assert (trajectory[: kept - 1] > trajectory.min() * (1 + tolerance)).all()


def test_when_a_member_fails_on_every_window_then_it_is_dropped_with_its_reason():
    members = [KnowingForecaster("exact", width=1.0), KnowingForecaster("broken", fail_all=True)]
    ensemble = fit_ensemble(members, known_panel(), CONFIG, LEVELS, SEASON)
    assert [m.name for m in ensemble.members] == ["exact"]
    status = ensemble.report.set_index("member").loc["broken", "status"]
    assert status.startswith("dropped") and "RuntimeError: weights file missing" in status


def test_when_every_member_fails_then_the_error_gives_each_reason():
    members = [KnowingForecaster("a", fail_all=True), KnowingForecaster("b", fail_all=True)]
    with pytest.raises(InputError, match="every member failed on every validation window: a: .*; b: "):
        fit_ensemble(members, known_panel(), CONFIG, LEVELS, SEASON)


def test_when_a_member_fails_on_some_series_then_it_is_left_out_there_and_the_others_are_renormalised():
    partial = KnowingForecaster("partial", offset=0.5, width=0.5, fail_on={20})  # fails on series 1
    down = KnowingForecaster("down", offset=-0.5, width=0.5)
    ensemble = fit_ensemble([partial, down], known_panel(), CONFIG, LEVELS, SEASON)
    report = ensemble.report.set_index("member")
    assert report.loc["partial", "failed_series"] == "1"
    assert "left out on 1 series" in report.loc["partial", "status"]
    assert report.loc["ensemble", "failed"] == 0, "the ensemble still forecasts series 1"
    panel = known_panel()
    with pytest.warns(UserWarning, match="partial failed on 1 series; the other members forecast those"):
        forecast = ensemble.predict_quantiles(panel, HORIZON, LEVELS)
    alone = down.predict_quantiles([panel[1]], HORIZON, LEVELS)
    np.testing.assert_allclose(forecast.quantiles[1], alone.quantiles[0])  # all weight on the other member there
    assert ensemble.last_failures["series"].tolist() == [1]
    assert ensemble.last_failures["member"].tolist() == ["partial"]


def test_when_every_member_fails_on_a_series_at_forecast_time_then_the_error_names_it():
    ensemble = EnsembleForecaster([KnowingForecaster("a", fail_on={20})], [1.0], LEVELS)
    with pytest.raises(InputError, match=r"failed on context\[1\]: a: RuntimeError"):
        ensemble.predict_quantiles(known_panel(), HORIZON, LEVELS)


def test_when_members_differ_in_spread_then_the_combined_quantiles_are_sorted_weighted_averages():
    narrow, wide = KnowingForecaster("narrow", width=0.1), KnowingForecaster("wide", offset=1.0, width=8.0)
    ensemble = EnsembleForecaster([narrow, wide], [3.0, 1.0], LEVELS)
    panel = known_panel()
    forecast = ensemble.predict_quantiles(panel, HORIZON, LEVELS)
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
    expected = 0.75 * narrow.predict_quantiles(panel, HORIZON, LEVELS).quantiles + 0.25 * wide.predict_quantiles(
        panel, HORIZON, LEVELS).quantiles
    np.testing.assert_allclose(forecast.quantiles, expected)
    np.testing.assert_allclose(ensemble.weights, [0.75, 0.25])


def test_when_combining_with_unusable_rows_then_weights_are_renormalised_per_row():
    values = np.array([[[1.0], [10.0]], [[3.0], [np.nan]]])  # [members=2, rows=2, 1]
    usable = np.array([[True, True], [True, False]])
    np.testing.assert_allclose(combine(values, np.array([0.5, 0.5]), usable), [[2.0], [10.0]])


def test_when_a_member_can_use_covariates_then_only_it_receives_them():
    panel = known_panel(n_series=2)
    user, other = KnowingForecaster("user"), KnowingForecaster("other")
    user.supports_covariates = True
    ensemble = EnsembleForecaster([user, other], [1.0, 1.0], LEVELS)
    covariates = Covariates(past=[{"x": np.zeros(len(s))} for s in panel], future=[{"x": np.zeros(HORIZON)}] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CovariatesIgnoredWarning from the member that cannot use them
        ensemble.predict_quantiles(panel, HORIZON, LEVELS, covariates=covariates)
    assert user.got_covariates is not None and other.got_covariates is None


def test_when_saved_then_tsfm_load_gives_back_the_same_forecasts_weights_and_scores(tmp_path):
    panel = seasonal_panel(n_series=4, season=SEASON)
    ensemble = fit_ensemble(["seasonal-naive", "naive"], panel, CONFIG, LEVELS, SEASON, shrinkage=0.0, method="greedy")
    folder = ensemble.save(tmp_path / "ens")
    loaded = tsfm.load(str(folder))
    assert isinstance(loaded, EnsembleForecaster) and loaded.kind == "ensemble"
    assert loaded.refs == ensemble.refs and loaded.config == CONFIG and loaded.season_length == SEASON
    np.testing.assert_allclose(loaded.weights, ensemble.weights)
    again, before = loaded.predict_quantiles(panel, HORIZON, LEVELS), ensemble.predict_quantiles(panel, HORIZON, LEVELS)
    np.testing.assert_array_equal(again.quantiles, before.quantiles)
    assert loaded.report["member"].tolist() == ensemble.report["member"].tolist()
    spec = json.loads((folder / FILE_NAME).read_text())
    assert spec["quantile_levels"] == list(LEVELS) and spec["validation"][0]["member"] == "seasonal-naive"
    assert spec["selection"]["shrinkage"] == 0.0 and spec["selection"]["tolerance"] == 0.01
    assert loaded.selection == ensemble.selection
    ensemble.save(folder)  # the same kind of run may replace it
    assert sorted(p.name for p in folder.iterdir()) == [".tsfm-run.json", FILE_NAME]


def test_when_a_member_is_a_folder_inside_the_ensemble_folder_then_its_relative_path_loads(tmp_path):
    panel = seasonal_panel(n_series=3, season=SEASON)
    inner = EnsembleForecaster([tsfm.load("naive")], [1.0], LEVELS, refs=["naive"])
    outer_folder = tmp_path / "outer"
    inner.save(outer_folder / "inner")
    spec = {"format": "tsfm-ensemble", "version": 1, "name": "outer", "quantile_levels": list(LEVELS),
            "season_length": SEASON, "config": None, "validation": [],
            "members": [{"ref": "inner", "weight": 0.5}, {"ref": "seasonal-naive", "weight": 0.5}]}
    (outer_folder / FILE_NAME).write_text(json.dumps(spec))
    loaded = tsfm.load(str(outer_folder))
    assert [m.kind for m in loaded.members] == ["ensemble", "baseline"]
    assert loaded.predict_quantiles(panel, HORIZON, LEVELS).quantiles.shape == (3, HORIZON, 3)


def test_when_a_member_object_cannot_be_loaded_again_then_save_refuses_before_writing(tmp_path):
    ensemble = EnsembleForecaster([KnowingForecaster("in-memory")], [1.0], LEVELS)
    with pytest.raises(InputError, match="member 'in-memory' cannot be saved"):
        ensemble.save(tmp_path / "ens")
    assert not (tmp_path / "ens").exists()


def test_when_the_folder_holds_other_files_then_save_refuses_unless_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    ensemble = EnsembleForecaster([tsfm.load("naive")], [1.0], LEVELS)
    with pytest.raises(InputError, match="already holds"):
        ensemble.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ---- the conformance suite, run on an ensemble of two baselines loaded back from its folder ----

@pytest.fixture(scope="module")
def load_ensemble(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance") / "ens"
    EnsembleForecaster(
        [tsfm.load("seasonal-naive", season_length=conformance.SEASON), tsfm.load("naive")], [0.7, 0.3],
        refs=["seasonal-naive", "naive"], season_length=conformance.SEASON,
    ).save(folder)
    cache = {}

    def _load(model_id: str, batch_size: int = 256):
        if batch_size not in cache:
            cache[batch_size] = tsfm.load(str(folder), batch_size=batch_size, season_length=conformance.SEASON)
        return cache[batch_size]

    return _load


def _conformance_checks() -> list[str]:
    return [name for name, fn in inspect.getmembers(conformance, inspect.isfunction)
            if name.startswith("test_when_") and set(inspect.signature(fn).parameters) == {"model_id", "load_model"}]


def _bad_input_cases() -> list[tuple]:
    check = conformance.test_when_input_is_bad_then_a_clear_error_names_it
    marks = [m for m in check.pytestmark if m.name == "parametrize" and m.args[0][0] == "context"]
    return list(marks[0].args[1])


@pytest.mark.parametrize("check", _conformance_checks())
def test_when_an_ensemble_of_baselines_goes_through_the_conformance_checks_then_it_passes(check, load_ensemble):
    getattr(conformance, check)("ensemble", load_ensemble)


@pytest.mark.parametrize(("context", "horizon", "levels", "message"), _bad_input_cases())
def test_when_an_ensemble_gets_bad_input_then_it_fails_as_every_model_does(context, horizon, levels, message,
                                                                          load_ensemble):
    conformance.test_when_input_is_bad_then_a_clear_error_names_it(
        "ensemble", context, horizon, levels, message, load_ensemble
    )


# ---- bad input ----

def test_when_a_member_name_is_unknown_then_the_error_lists_the_known_names():
    with pytest.raises(UnknownModelError, match="no-such-model.*seasonal-naive"):
        fit_ensemble(["naive", "no-such-model"], known_panel(), CONFIG, LEVELS, SEASON)


@pytest.mark.parametrize("members", [[], ()])
def test_when_the_member_list_is_empty_then_it_says_so(members):
    with pytest.raises(InputError, match="members is empty"):
        fit_ensemble(members, known_panel(), CONFIG, LEVELS, SEASON)
    with pytest.raises(InputError, match="members is empty"):
        EnsembleForecaster(members, [], LEVELS)


def test_when_members_have_different_native_quantile_levels_then_levels_outside_one_are_refused():
    narrow = KnowingForecaster("nine-levels")
    narrow.native_levels = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    with pytest.raises(InputError, match=r"different quantile levels: 'nine-levels' .* 0.1..0.9 .*\[0.02, 0.98\]"):
        fit_ensemble([narrow, tsfm.load("naive")], known_panel(), CONFIG, (0.02, 0.5, 0.98), SEASON)
    EnsembleForecaster([narrow, tsfm.load("naive")], [1, 1], (0.1, 0.5, 0.9))  # within its levels: accepted


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1.0]}, "weights has 1 entries for 2 members"),
        ({"weights": [1.0, -1.0]}, "weights must be finite, >= 0 and not all 0"),
        ({"weights": [0.0, 0.0]}, "weights must be finite, >= 0 and not all 0"),
        ({"weights": [1.0, np.nan]}, "weights must be finite"),
    ],
)
def test_when_weights_are_bad_then_the_error_says_what_is_allowed(kwargs, message):
    with pytest.raises(InputError, match=message):
        EnsembleForecaster([tsfm.load("naive"), KnowingForecaster("k")], quantile_levels=LEVELS, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"shrinkage": 1.5}, r"shrinkage must be .* \[0, 1\]"),
        ({"tolerance": -0.1}, "tolerance must be a finite number >= 0"),
        ({"tolerance": float("inf")}, "tolerance must be a finite number >= 0"),
    ],
)
def test_when_selection_options_are_bad_then_they_are_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        fit_ensemble(["naive"], known_panel(), CONFIG, LEVELS, SEASON, **kwargs)


def test_when_member_names_repeat_then_the_ensemble_refuses():
    with pytest.raises(InputError, match=r"member names must be unique, got \['naive'\]"):
        fit_ensemble(["naive", "naive"], known_panel(), CONFIG, LEVELS, SEASON)


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "ens"
    EnsembleForecaster([tsfm.load("naive"), tsfm.load("seasonal-naive", season_length=SEASON)], [0.5, 0.5],
                       LEVELS, season_length=SEASON, config=CONFIG).save(folder)
    return folder


def _edit(spec: dict, path: str, value) -> dict:
    keys = path.split(".")
    target = spec
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return spec


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "tsfm-calibrated-forecaster", "key 'format' must be 'tsfm-ensemble'"),
        ("version", 7, "key 'version' must be 1"),
        ("members", [], "key 'members' must be a non-empty list"),
        ("members", KeyError, "lacks 'members'; a ensemble folder needs format, version"),
        ("members.0.weight", 0.9, r"key 'members\[\].weight' sums to 1.4, not 1; the file was edited by hand"),
        ("members.0.weight", "half", r"key 'members\[0\].weight' must be a number >= 0"),
        ("members.1.weight", -0.5, r"key 'members\[1\].weight' must be a number >= 0"),
        ("members.0.ref", 3, r"key 'members\[0\].ref' must be a non-empty string"),
        ("members.0.ref", "../elsewhere", r"members\[0\].ref '../elsewhere' points outside the folder"),
        ("members.0.ref", "/no/such/model", r"members\[0\].ref '/no/such/model' does not exist"),
        ("members.0.ref", ".", "refers back to itself"),
        ("quantile_levels", [0.9, 0.1], "key 'quantile_levels' must be an increasing list"),
        ("quantile_levels", [0.0, 0.5], "key 'quantile_levels' must be an increasing list"),
        ("season_length", 0, "key 'season_length' must be a positive integer"),
        ("config", {"horizon": 4, "windowz": 3}, "key 'config' is not a RollingWindows config"),
        ("config", {"horizon": -1}, "key 'config' is not a RollingWindows config"),
        ("name", "", "key 'name' must be a non-empty string"),
        ("selection", [1], "key 'selection' must be an object"),
        ("baseline_max_history", 0, "key 'baseline_max_history' must be a positive integer or null"),
        ("baseline_max_history", "all", "key 'baseline_max_history' must be a positive integer or null"),
    ],
)
def test_when_ensemble_json_is_hand_edited_then_loading_names_the_key(saved, path, value, message):
    file = saved / FILE_NAME
    file.write_text(json.dumps(_edit(json.loads(file.read_text()), path, value)))
    with pytest.raises(CheckpointError, match=message):
        tsfm.load(str(saved))


@pytest.mark.parametrize("text", ['{"format": "tsfm-ensemble", "members": [', "[1, 2]", "\xff\xfe"])
def test_when_ensemble_json_is_corrupt_then_loading_says_so(saved, text):
    (saved / FILE_NAME).write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match="ensemble.json"):
        tsfm.load(str(saved))


def test_when_a_saved_member_is_unknown_then_loading_names_the_key_and_the_value(saved):
    file = saved / FILE_NAME
    file.write_text(json.dumps(_edit(json.loads(file.read_text()), "members.0.ref", "no-such-model")))
    with pytest.raises(CheckpointError, match=r"members\[0\].ref 'no-such-model' is neither a registered model"):
        tsfm.load(str(saved))


class RecordingBaseline(KnowingForecaster):
    """A baseline that records the length of every context it is given, call by call."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lengths: list[list[int]] = []

    def _predict_quantiles(self, context, horizon, levels):
        self.lengths.append([len(c) for c in context])
        last = np.array([c[-1] for c in context])  # [n]
        point = np.repeat(last[:, None], horizon, 1)  # [n, horizon]
        return point[:, :, None] + (np.asarray(levels) - 0.5), point


def test_when_a_baseline_member_is_validated_and_forecasts_then_it_fits_the_backtests_capped_history(tmp_path):
    from tsfm.rolling import DEFAULT_MAX_HISTORY

    long = [np.arange(DEFAULT_MAX_HISTORY + 500, dtype=float) + 1000.0 * i for i in range(2)]
    baseline, other = RecordingBaseline("capped"), RecordingBaseline("pretrained-like")
    other.kind = "tsfm"
    ensemble = fit_ensemble([baseline, other], long, CONFIG, LEVELS, SEASON, top_k=2)
    assert baseline.lengths == [[DEFAULT_MAX_HISTORY] * 6], "one batched call of 2 series x 3 windows, each capped"
    assert other.lengths == [[DEFAULT_MAX_HISTORY + 500 - HORIZON * k for k in (3, 3, 2, 2, 1, 1)]]
    ensemble.predict_quantiles(long, HORIZON, LEVELS)
    assert baseline.lengths[-1] == [DEFAULT_MAX_HISTORY] * 2 and other.lengths[-1] == [DEFAULT_MAX_HISTORY + 500] * 2
    assert ensemble.to_dict()["baseline_max_history"] == DEFAULT_MAX_HISTORY
    uncapped = fit_ensemble([RecordingBaseline("all")], long, CONFIG, LEVELS, SEASON, max_history=None)
    assert uncapped.members[0].lengths[0][0] == DEFAULT_MAX_HISTORY + 500 - 3 * HORIZON


def test_when_a_folder_written_before_the_cap_loads_then_its_baselines_see_the_whole_history(saved):
    file = saved / FILE_NAME
    spec = json.loads(file.read_text())
    assert spec["baseline_max_history"] == 2000
    del spec["baseline_max_history"]  # as earlier versions wrote it: fitted and forecast on everything
    file.write_text(json.dumps(spec))
    assert tsfm.load(str(saved)).max_history is None
