"""Ensemble selection: top-k, point weights chosen on MASE apart from the quantiles, weights per series."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tests.test_conformance as conformance
import tsfm
from tests.test_ensemble import (
    CONFIG,
    LEVELS,
    SEASON,
    KnowingForecaster,
    _conformance_checks,
    known_panel,
    season,
)
from tsfm.ensemble import FILE_NAME, EnsembleForecaster, fit_ensemble
from tsfm.ensemble_selection import SeriesWeighting, select_weights
from tsfm.errors import CheckpointError, InputError
from tsfm.rolling import RollingWindows, score


class PartlyRight(KnowingForecaster):
    """Exact on the series whose level is in ``right_on``, ``miss`` off on the others."""

    def __init__(self, name: str, right_on, miss: float = 4.0) -> None:
        super().__init__(name, width=1.0)
        self.right_on, self.miss = set(right_on), miss

    def _predict_quantiles(self, context, horizon, levels):
        quantiles, mean = super()._predict_quantiles(context, horizon, levels)
        off = np.array([0.0 if round(c[0]) in self.right_on else self.miss for c in context])[:, None]  # [n, 1]
        return quantiles + off[:, :, None], mean + off


def sharp_but_biased_and_centred_but_wide():
    """``sharp`` has the better quantiles (WQL), ``centred`` the exact median (MASE)."""
    return [KnowingForecaster("sharp", offset=0.3, width=1.0), KnowingForecaster("centred", width=60.0)]


def test_when_top_k_selects_then_the_k_best_members_share_the_weight_equally():
    members = [KnowingForecaster("off-by-3", offset=3.0, width=1.0), KnowingForecaster("exact", width=1.0),
               KnowingForecaster("off-by-1", offset=1.0, width=1.0)]
    ensemble = fit_ensemble(members, known_panel(), CONFIG, LEVELS, SEASON, method="top-k", top_k=2)

    assert dict(zip([m.name for m in ensemble.members], ensemble.weights.tolist())) == {"exact": 0.5, "off-by-1": 0.5}
    report = ensemble.report.set_index("member")
    assert report.loc["off-by-3", "weight"] == 0.0 and report.loc["off-by-3", "status"] == "not selected"
    assert ensemble.selection["method"] == "top-k" and ensemble.selection["top_k"] == 2


def test_when_one_member_has_the_sharpest_quantiles_but_a_biased_median_then_joint_top_k_ranks_on_both():
    # sharp: WQL 0.0076 but MASE 0.25; balanced: WQL 0.0079 and MASE 0.10 (scored with season 1).
    members = [KnowingForecaster("sharp", offset=0.25, width=0.3), KnowingForecaster("balanced", offset=0.1, width=3.0),
               KnowingForecaster("poor", offset=1.0, width=3.0)]
    results = [score(m, known_panel(), CONFIG, LEVELS, 1) for m in members]

    on_wql = select_weights(results, method="top-k", top_k=1)
    joint = select_weights(results, method="joint-top-k", top_k=1)
    default = select_weights(results, top_k=2)

    assert on_wql.weights.tolist() == [1.0, 0.0, 0.0]
    assert joint.weights.tolist() == [0.0, 1.0, 0.0]
    assert joint.rows < 30 and joint.point_weights is joint.weights  # too few windows for point weights apart
    assert default.weights.tolist() == [0.5, 0.5, 0.0]  # the default: joint-top-k over the best 2


def test_when_the_best_quantiles_and_the_best_median_come_from_different_members_then_each_gets_its_own_weights():
    panel = known_panel(n_series=12)  # 12 series x 3 windows = 36 validation windows >= 30
    ensemble = fit_ensemble(sharp_but_biased_and_centred_but_wide(), panel, CONFIG, LEVELS, SEASON, method="top-k",
                            top_k=1)

    names = [m.name for m in ensemble.members]
    assert dict(zip(names, ensemble.weights)) == {"sharp": 1.0, "centred": 0.0}
    assert dict(zip(names, ensemble.point_weights)) == {"sharp": 0.0, "centred": 1.0}
    contexts = [s[:48] for s in panel]
    truth = np.stack([c[0] + season(48 + np.arange(HORIZON)) for c in contexts])  # [n, horizon]
    forecast = ensemble.predict_quantiles(contexts, HORIZON, LEVELS)
    np.testing.assert_allclose(forecast.quantiles[:, :, 1], truth, atol=1e-9)  # the median: centred's
    np.testing.assert_allclose(forecast.mean, truth, atol=1e-9)
    np.testing.assert_allclose(forecast.quantiles[:, :, 2], truth + 0.3 + 0.4, atol=1e-9)  # the 0.9 level: sharp's
    assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
    assert ensemble.describe_weights() == ("sharp 1.000, centred 0.000; "
                                           "point weights (median, mean) sharp 0.000, centred 1.000")


def test_when_joint_top_k_has_windows_enough_then_the_median_gets_the_members_best_on_mase():
    # balanced ranks first on WQL and MASE together; centred has the best median but far too wide quantiles
    members = [KnowingForecaster("sharp", offset=0.25, width=0.3), KnowingForecaster("balanced", offset=0.1, width=3.0),
               KnowingForecaster("centred", offset=0.02, width=60.0)]
    results = [score(m, known_panel(n_series=12), CONFIG, LEVELS, SEASON) for m in members]  # 36 windows

    selection = select_weights(results, method="joint-top-k", top_k=1)
    assert selection.rows == 36 and selection.separate_point
    assert selection.weights.tolist() == [0.0, 1.0, 0.0] and selection.point_weights.tolist() == [0.0, 0.0, 1.0]
    one_set = select_weights(results, method="joint-top-k", top_k=1, point_min_windows=None)
    assert one_set.point_weights is one_set.weights


@pytest.mark.parametrize("point_min_windows", [None, 37])
def test_when_the_validation_is_too_small_for_point_weights_then_the_quantile_weights_serve_both(point_min_windows):
    members = sharp_but_biased_and_centred_but_wide()
    results = [score(m, known_panel(n_series=12), CONFIG, LEVELS, SEASON) for m in members]
    selection = select_weights(results, method="top-k", top_k=1, point_min_windows=point_min_windows)

    assert selection.rows == 36 and not selection.separate_point
    assert selection.point_weights is selection.weights


def test_when_series_have_different_best_members_then_per_series_weights_follow_the_evidence():
    panel = known_panel(n_series=4)  # levels 10, 20, 30, 40
    members = [PartlyRight("low", right_on={10, 20}), PartlyRight("high", right_on={30, 40})]
    ensemble = fit_ensemble(members, panel, CONFIG, LEVELS, SEASON, per_series=SeriesWeighting(), item_ids=list("abcd"))

    assert set(ensemble.series_weights) == set("abcd")
    low = [m.name for m in ensemble.members].index("low")
    assert ensemble.series_weights["a"][0][low] > 0.6 and ensemble.series_weights["d"][0][low] < 0.4
    assert ensemble.selection["per_series"]["series_with_own_weights"] == 4
    contexts = [s[:48] for s in panel]
    truth = np.stack([c[0] + season(48 + np.arange(HORIZON)) for c in contexts])
    own = ensemble.predict_quantiles(contexts, HORIZON, LEVELS, item_ids=list("abcd"))
    shared = ensemble.predict_quantiles(contexts, HORIZON, LEVELS)
    unknown = ensemble.predict_quantiles(contexts, HORIZON, LEVELS, item_ids=list("wxyz"))
    assert np.abs(own.median - truth).mean() < 0.75 * np.abs(shared.median - truth).mean()
    np.testing.assert_array_equal(unknown.quantiles, shared.quantiles)


def test_when_a_series_has_too_few_windows_or_no_clear_gain_then_it_keeps_the_global_weights():
    panel = known_panel(n_series=4)
    members = [PartlyRight("low", right_on={10, 20}), PartlyRight("high", right_on={30, 40})]
    few = fit_ensemble(members, panel, CONFIG, LEVELS, SEASON, per_series=SeriesWeighting(min_windows=4))
    same = fit_ensemble([KnowingForecaster("a", width=1.0), KnowingForecaster("b", width=1.0)], panel, CONFIG,
                        LEVELS, SEASON, per_series=SeriesWeighting())

    assert few.series_weights == {} and same.series_weights == {}


def test_when_saved_with_point_and_series_weights_then_tsfm_load_gives_back_the_same_forecasts(tmp_path):
    panel = known_panel(n_series=3)
    stand_in = EnsembleForecaster(
        [tsfm.load("seasonal-naive", season_length=SEASON), tsfm.load("naive")], [0.6, 0.4],
        refs=["seasonal-naive", "naive"], season_length=SEASON, point_weights=[0.2, 0.8],
        series_weights={"s0": ([1.0, 0.0], [0.0, 1.0])},
    )
    stand_in.save(tmp_path / "ens")
    loaded = tsfm.load(str(tmp_path / "ens"))
    contexts = [s[:48] for s in panel[:3]]
    for item_ids in (None, ["s0", "s1", "s2"]):
        before = stand_in.predict_quantiles(contexts, HORIZON, LEVELS, item_ids=item_ids)
        after = loaded.predict_quantiles(contexts, HORIZON, LEVELS, item_ids=item_ids)
        np.testing.assert_array_equal(after.quantiles, before.quantiles)
    np.testing.assert_allclose(loaded.point_weights, [0.2, 0.8])
    spec = json.loads((tmp_path / "ens" / FILE_NAME).read_text())
    assert spec["members"][1] == {"ref": "naive", "weight": 0.4, "point_weight": 0.8}
    assert spec["series_weights"] == {"s0": {"weights": [1.0, 0.0], "point_weights": [0.0, 1.0]}}


HORIZON = CONFIG.horizon


def _saved(tmp_path, **extra):
    folder = tmp_path / "ens"
    EnsembleForecaster(
        [tsfm.load("seasonal-naive", season_length=SEASON), tsfm.load("naive")], [0.5, 0.5],
        refs=["seasonal-naive", "naive"], season_length=SEASON, **extra,
    ).save(folder)
    return folder, json.loads((folder / FILE_NAME).read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s["members"][0].update(point_weight=0.9), r"members\[\]\.point_weight' sums to 1\.4"),
    (lambda s: s["members"][0].update(point_weight="a lot"), r"members\[0\]\.point_weight' must be a number"),
    (lambda s: s.update(series_weights=[1, 2]), r"'series_weights' must be an object"),
    (lambda s: s.update(series_weights={"x": {"weights": [1.0], "point_weights": [1.0]}}),
     r"series_weights\['x'\]\.weights' must be 2 numbers"),
    (lambda s: s.update(series_weights={"x": {"weights": [0.5, 0.5], "point_weights": [0.9, 0.9]}}),
     r"series_weights\['x'\]\.point_weights'"),
])
def test_when_point_or_series_weights_are_edited_by_hand_then_loading_names_the_key(tmp_path, edit, message):
    folder, spec = _saved(tmp_path, point_weights=[0.5, 0.5], series_weights={"x": ([0.5, 0.5], [0.5, 0.5])})
    edit(spec)
    (folder / FILE_NAME).write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match=message):
        tsfm.load(str(folder))


def test_when_a_file_predates_point_weights_then_the_weights_serve_both(tmp_path):
    folder, spec = _saved(tmp_path)
    for member in spec["members"]:
        del member["point_weight"]
    del spec["series_weights"]
    (folder / FILE_NAME).write_text(json.dumps(spec))
    loaded = tsfm.load(str(folder))
    assert loaded.point_weights is loaded.weights and loaded.series_weights == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "best"}, r"method must be one of \['joint-top-k', 'top-k', 'greedy'\], got 'best'"),
    ({"top_k": 0}, r"top_k must be a positive integer, got 0"),
    ({"point_min_windows": 0}, r"point_min_windows must be a positive integer or None, got 0"),
    ({"per_series": "yes"}, r"per_series must be a SeriesWeighting or None, got str"),
])
def test_when_selection_options_are_bad_then_the_error_names_the_option(kwargs, message):
    with pytest.raises(InputError, match=message):
        fit_ensemble(["naive"], known_panel(), CONFIG, LEVELS, SEASON, **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_windows": 0}, "min_windows must be a positive integer, got 0"),
    ({"strength": 0.0}, "strength must be a finite number > 0, got 0.0"),
    ({"min_gain": 1.0}, r"min_gain must be a number in \[0, 1\), got 1.0"),
])
def test_when_series_weighting_is_bad_then_the_error_names_the_field(kwargs, message):
    with pytest.raises(InputError, match=message):
        SeriesWeighting(**kwargs)


def test_when_item_ids_do_not_match_the_series_then_the_ensemble_refuses():
    ensemble = EnsembleForecaster([tsfm.load("naive"), tsfm.load("seasonal-naive", season_length=SEASON)], [1, 1])
    with pytest.raises(InputError, match=r"item_ids must give one id per series: got \['a'\] for 2 series"):
        ensemble.predict_quantiles([np.arange(30.0), np.arange(30.0)], 3, item_ids=["a"])


def test_when_tsfm_ensemble_gets_an_unknown_method_then_it_fails_in_one_line(tmp_path, capsys):
    from tsfm.tasks.cli import main

    data = tmp_path / "d.csv"
    data.write_text("item_id,timestamp,target\n" + "".join(f"a,2000-01-{d:02d},{d}\n" for d in range(1, 29)))
    argv = ["ensemble", "--data", str(data), "--horizon", "2", "--models", "naive", "--method", "best",
            "--output", str(tmp_path / "out")]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a bad choice before the handler runs
        code = exc.code
    assert code == 2 and "invalid choice: 'best'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def load_split_ensemble(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance-split") / "ens"
    EnsembleForecaster(
        [tsfm.load("seasonal-naive", season_length=conformance.SEASON), tsfm.load("naive")], [0.7, 0.3],
        refs=["seasonal-naive", "naive"], season_length=conformance.SEASON, point_weights=[0.1, 0.9],
        series_weights={"0": ([0.0, 1.0], [1.0, 0.0])},
    ).save(folder)
    cache = {}

    def _load(model_id: str, batch_size: int = 256):
        if batch_size not in cache:
            cache[batch_size] = tsfm.load(str(folder), batch_size=batch_size, season_length=conformance.SEASON)
        return cache[batch_size]

    return _load


@pytest.mark.parametrize("check", _conformance_checks())
def test_when_an_ensemble_with_point_and_series_weights_goes_through_conformance_then_it_passes(
    check, load_split_ensemble
):
    getattr(conformance, check)("ensemble", load_split_ensemble)


def test_when_windows_do_not_fit_the_data_then_the_error_says_what_length_is_needed():
    with pytest.raises(InputError, match="no validation window fits"):
        fit_ensemble(["naive", "seasonal-naive"], [np.arange(10.0)], RollingWindows(horizon=12), LEVELS, SEASON)
