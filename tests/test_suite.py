"""The zero-shot suite: per-dataset ratios to seasonal naive and their geometric mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsfm
from tests.conftest import SHARED_DATA
from tsfm.tasks.suite import _median_series_mase, format_suite, run_suite


def test_when_the_suite_runs_then_ratios_divide_by_seasonal_naive_and_the_summary_is_their_gmean(tmp_path):
    rows, summary = run_suite(["naive"], datasets=["airline", "lynx"], output=tmp_path, progress=False)

    assert set(rows["dataset"]) == {"airline", "lynx"}
    reference = rows[rows["model"] == "seasonal-naive"]
    np.testing.assert_allclose(reference[["rel_MASE", "rel_WQL"]], 1.0)
    naive = rows[rows["model"] == "naive"].set_index("dataset")
    np.testing.assert_allclose(naive["rel_MASE"], naive["MASE"] / reference.set_index("dataset")["MASE"])
    # Lynx is yearly (season 1): naive and seasonal naive are the same forecast.
    assert naive.loc["lynx", "rel_MASE"] == pytest.approx(1.0)
    expected = np.exp(np.log(naive["rel_WQL"]).mean())
    assert summary.set_index("model").loc["naive", "gmean_rel_WQL"] == pytest.approx(expected)
    assert (tmp_path / "suite.csv").is_file() and (tmp_path / "suite_summary.csv").is_file()
    # airline and lynx are one series each: the median over series is that series' mean MASE.
    np.testing.assert_allclose(rows["median_MASE"], rows["MASE"])
    text = format_suite(rows, summary)
    assert "geometric mean" in text and "median per-series MASE" in text


def test_when_one_series_is_far_worse_then_the_median_series_mase_stays_with_the_typical_ones():
    scores = pd.DataFrame({
        "model": ["m"] * 4 + ["ref"] * 4,
        "item_id": ["a", "a", "b", "c"] * 2,
        "window": [0, 1, 0, 0] * 2,
        "MASE": [1.0, 3.0, 1.5, 30.0, 1.0, 1.0, 1.0, 1.0],
    })

    median = _median_series_mase(scores)

    # m: series a averages its two windows (2.0), b 1.5, c 30.0 -> median 2.0 while the mean is 11.2.
    assert median["m"] == pytest.approx(2.0)
    assert median["ref"] == pytest.approx(1.0)


def test_when_a_dataset_name_is_unknown_then_the_error_lists_the_suite():
    with pytest.raises(tsfm.InputError, match="m4_hourly"):
        run_suite(["naive"], datasets=["m5"], progress=False)


def test_when_shared_data_is_absent_then_its_datasets_are_skipped_with_a_message(tmp_path, capsys):
    rows, _ = run_suite(["naive"], shared_data=tmp_path, datasets=["etth1_ot", "lynx"], progress=False)
    assert set(rows["dataset"]) == {"lynx"}
    assert "skipping etth1_ot" in capsys.readouterr().out


@pytest.mark.skipif(not (SHARED_DATA / "ett" / "ETTh1.csv").is_file(), reason="../shared/data/ett is absent")
def test_when_etth1_is_present_then_its_oil_temperature_is_scored_over_twenty_daily_origins():
    rows, _ = run_suite(["naive"], shared_data=SHARED_DATA, datasets=["etth1_ot"], progress=False, ensemble=False)
    assert set(rows["model"]) == {"naive", "seasonal-naive"}
    assert np.isfinite(rows[["MASE", "WQL"]].to_numpy()).all()


def test_when_the_suite_runs_then_each_dataset_has_an_ensemble_row_whose_weights_sum_to_one(capsys):
    rows, summary = run_suite(["naive"], datasets=["airline", "lynx"], progress=False)

    assert set(rows["model"]) == {"naive", "seasonal-naive", "ensemble"}
    members = rows[rows["model"] != "ensemble"]
    np.testing.assert_allclose(members.groupby("dataset")["weight"].sum(), 1.0)
    assert rows.loc[rows["model"] == "ensemble", "weight"].isna().all()
    assert "ensemble" in set(summary["model"])
    assert "airline: ensemble weights" in capsys.readouterr().out


def test_when_the_ensemble_is_left_out_then_the_suite_ranks_the_members_alone():
    rows, _ = run_suite(["naive"], datasets=["lynx"], progress=False, ensemble=False)
    assert set(rows["model"]) == {"naive", "seasonal-naive"}
    assert rows["weight"].isna().all()


class RecordingNaive(tsfm.BaseForecaster):
    """Repeats the last value and records the length of every context it is given, call by call."""

    kind = "tsfm"

    def __init__(self) -> None:
        super().__init__("recording-naive")
        self.calls: list[list[int]] = []

    def _predict_quantiles(self, context, horizon, levels):
        self.calls.append([len(c) for c in context])
        last = np.array([c[np.isfinite(c)][-1] for c in context])
        quantiles = np.repeat(last[:, None, None], horizon, 1) + (levels - 0.5)[None, None, :]
        return np.repeat(quantiles, 1, 0), np.repeat(last[:, None], horizon, 1)


def test_when_evaluate_adds_the_ensemble_then_its_weights_never_see_a_scored_window():
    from tsfm.tasks.evaluate import DENSE_WINDOWS, evaluate

    length, horizon, windows = 80, 5, 2
    frame = pd.DataFrame({"item_id": "a", "timestamp": pd.date_range("2000-01-01", periods=length, freq="D"),
                          "target": np.sin(np.arange(length))})
    model = RecordingNaive()
    report = evaluate(frame, [model], horizon, windows=windows, season_length=7, plot_series=0, progress=False,
                      ensemble=True)

    earliest_scored = length - windows * horizon
    # One series: the validation windows are dense (one step apart), all forecast in one batched
    # call, and every one of them, its target included, ends before the earliest scored window starts.
    validation_call = model.calls[0]  # fit_ensemble's windows, before the backtest
    last_origin = earliest_scored - horizon
    assert validation_call == list(range(last_origin - DENSE_WINDOWS + 1, last_origin + 1))
    assert all(n + horizon <= earliest_scored for n in validation_call)
    assert all(c[0] >= earliest_scored for c in model.calls[1:]), "then only the scored windows"
    assert "ensemble" in set(report.leaderboard["model"])
    assert set(report.result.scores.loc[report.result.scores["model"] == "ensemble", "window"]) == {0, 1}
    assert report.ensemble.weights.sum() == pytest.approx(1.0)
    assert report.ensemble.selection["method"] == "joint-top-k"


def test_when_there_are_many_series_then_the_validation_windows_are_a_horizon_apart_before_the_scored_ones():
    from tsfm.tasks.evaluate import VALIDATION_WINDOWS, evaluate

    length, horizon, n_series = 60, 5, 8  # 8 series x 5 windows = 40 validation rows: no need to densify
    frame = pd.DataFrame({
        "item_id": np.repeat([f"s{i}" for i in range(n_series)], length),
        "timestamp": np.tile(pd.date_range("2000-01-01", periods=length, freq="D"), n_series),
        "target": np.concatenate([np.sin(np.arange(length) + i) for i in range(n_series)]),
    })
    model = RecordingNaive()
    evaluate(frame, [model], horizon, season_length=7, plot_series=0, progress=False, ensemble=True)

    earliest_scored = length - horizon
    validation_call = model.calls[0]  # every validation window of every series, one batched call
    origins = [earliest_scored - k * horizon for k in range(VALIDATION_WINDOWS, 0, -1)]
    assert validation_call == [origin for origin in origins for _ in range(n_series)]
    assert all(c[0] >= earliest_scored for c in model.calls[1:])


def test_dense_validation_steps_divide_the_step_so_every_horizon_apart_origin_is_among_them():
    from tsfm.tasks.evaluate import dense_step

    assert [dense_step(s) for s in (1, 6, 8, 12, 24, 48)] == [1, 1, 2, 3, 6, 12]


def test_when_no_validation_window_fits_before_the_scored_ones_then_members_are_ranked_alone():
    from tsfm.tasks.evaluate import evaluate

    frame = pd.DataFrame({"item_id": "a", "timestamp": pd.date_range("2000-01-01", periods=9, freq="D"),
                          "target": np.arange(9.0)})  # 5 values before the scored window, 2 + 4 needed
    report = evaluate(frame, ["naive"], 4, season_length=1, plot_series=0, progress=False, ensemble=True)

    assert report.ensemble is None and report.ensemble_note.startswith("no ensemble: ")
    assert "ensemble" not in set(report.leaderboard["model"])


def test_when_a_member_needs_long_contexts_then_the_ensembles_validation_windows_give_them_to_it():
    from tsfm.tasks.evaluate import evaluate

    frame = pd.DataFrame({"item_id": "a", "timestamp": pd.date_range("2000-01-01", periods=60, freq="D"),
                          "target": np.sin(np.arange(60.0))})
    model = RecordingNaive()
    model.min_observations = 45
    report = evaluate(frame, [model], 5, season_length=7, plot_series=0, progress=False, ensemble=True)

    # 55 values precede the scored window: dense validation origins 31 .. 50, of which those before 45
    # are too early for the member's 45 observations; then the backtest scores origin 55.
    assert model.calls[0] == [45, 46, 47, 48, 49, 50] and model.calls[1] == [55]
    assert report.ensemble is not None
