"""In-context forecasting: covariates, groups of related series, multivariate targets.

Tiny random-weight models say nothing about accuracy, so these tests check plumbing and
the contract: validation, that covariates and groups reach Chronos-2 and change its
forecast, and that models without covariate support warn and forecast as before.
Accuracy is measured by ``tsfm bench covariates``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tsfm
from tsfm.covariate_frames import covariates_from_frames
from tsfm.covariates import Covariates
from tsfm.errors import CovariatesIgnoredWarning, InputError
from tsfm.tasks.cli import main
from tsfm.tasks.evaluate import evaluate

HORIZON = 12
HISTORY = 72


def plant_frame(n_items: int = 4, length: int = HISTORY + HORIZON, seed: int = 0) -> pd.DataFrame:
    """Pumps of two plants whose flow follows a known schedule, plus a categorical mode."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-01-01", periods=length, freq="h")
    parts = []
    for i in range(n_items):
        schedule = (rng.random(length) < 0.5).astype(float)
        parts.append(
            pd.DataFrame(
                {
                    "item_id": f"pump{i}",
                    "timestamp": stamps,
                    "target": 10 + 5 * schedule + rng.normal(0, 0.3, length),
                    "schedule": schedule,
                    "mode": rng.choice(["eco", "full"], length),
                    "temperature": rng.normal(20, 2, length),
                    "pressure": rng.normal(3, 0.1, length),
                    "plant": "A" if i < n_items // 2 else "B",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def split(frame: pd.DataFrame, known: tuple[str, ...] = ("schedule", "mode")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History rows, and the future rows of the known covariates."""
    history = frame.groupby("item_id").head(HISTORY)
    future = frame.groupby("item_id").tail(HORIZON)[["item_id", "timestamp", *known]]
    return history, future


@pytest.fixture(scope="module")
def chronos2(tiny_checkpoints):
    return tsfm.load(str(tiny_checkpoints["chronos-2"]))


# --- validation of frames ------------------------------------------------------------


def _short_future(history, future):
    return history, future.groupby("item_id").head(HORIZON - 1), {}


def _shifted_future(history, future):
    return history, future.assign(timestamp=future["timestamp"] + pd.Timedelta(hours=1)), {}


def _future_without_column(history, future):
    return history, future.drop(columns=["mode"]), {"covariates": ["schedule", "mode"]}


def _future_with_target(history, future):
    return history, future.assign(target=1.0), {}


def _future_with_gap(history, future):
    gap = future.copy()
    gap.iloc[3, gap.columns.get_loc("schedule")] = np.nan
    return history, gap, {}


def _unknown_column(history, future):
    return history, future, {"past_covariates": ["humidity"]}


def _known_without_future(history, future):
    return history, None, {"covariates": ["schedule"]}


def _varying_static(history, future):
    return history, future, {"static": ["temperature"]}


def _varying_group(history, future):
    return history, future, {"group_by": "temperature"}


def _two_roles(history, future):
    return history, future, {"past_covariates": ["schedule"]}


def _future_extra_item(history, future):
    extra = future[future["item_id"] == "pump0"].assign(item_id="pump9")
    return history, pd.concat([future, extra], ignore_index=True), {}


def _text_second_target(history, future):
    return history, future[["item_id", "timestamp", "schedule"]], {"targets": ["target", "mode"]}


def _missing_group(history, future):
    return history, future, {"group_by": {"pump0": "A"}}


@pytest.mark.parametrize(
    "make, message",
    [
        (_short_future, "exactly 12 rows .* item 'pump0' has 11"),
        (_shifted_future, "must continue the series"),
        (_future_without_column, r"lacks known-future covariate column\(s\) \['mode'\]"),
        (_future_with_target, r"column\(s\) \['target'\] that are not known-future covariates"),
        (_future_with_gap, "'schedule' of series 0 is missing at future step 3.*allow_missing_future"),
        (_unknown_column, r"\['humidity'\] not found; columns found"),
        (_known_without_future, "need their future values: pass future_df"),
        (_varying_static, "static column 'temperature' must hold one value per item"),
        (_varying_group, "group_by column 'temperature' must hold one value per item"),
        (_two_roles, "'schedule' is named in both covariates and past_covariates"),
        (_future_extra_item, r"items \['pump9'\] that the data does not have"),
        (_text_second_target, "target column 'mode' is not numeric"),
        (_missing_group, r"no group for item\(s\) \['pump1'"),
    ],
)
def test_when_frames_are_bad_then_each_case_has_its_own_error(make, message):
    history, future, options = make(*split(plant_frame()))
    with pytest.raises(InputError, match=message):
        covariates_from_frames(history, future, horizon=HORIZON, **options)


def test_when_gaps_are_allowed_then_missing_future_values_are_accepted():
    history, future, _ = _future_with_gap(*split(plant_frame()))
    _, cov = covariates_from_frames(history, future, horizon=HORIZON, allow_missing_future=True)
    assert np.isnan(cov.future[0]["schedule"][3])


def test_when_frames_are_valid_then_covariates_align_with_the_series():
    history, future = split(plant_frame())
    frame, cov = covariates_from_frames(
        history, future, horizon=HORIZON, past_covariates=["temperature"], static=["plant"], group_by="plant"
    )
    ids, series = tsfm.data.to_series(frame)
    assert cov.known_future == ("schedule", "mode")  # in the order of future_df's columns
    assert cov.past_only == ("temperature",)
    assert cov.categorical == ("mode",)
    assert cov.group_ids == ("A", "A", "B", "B")
    assert [s["plant"] for s in cov.static] == ["A", "A", "B", "B"]
    assert [len(c["schedule"]) for c in cov.past] == [len(s) for s in series]
    expected = future[future["item_id"] == ids[2]]["schedule"].to_numpy()
    np.testing.assert_array_equal(cov.future[2]["schedule"], expected)


def test_when_several_targets_are_named_then_each_item_gives_adjacent_variates():
    frame, cov = covariates_from_frames(plant_frame(2), covariates=["schedule"], targets=["target", "pressure"])
    assert list(dict.fromkeys(frame["item_id"])) == ["pump0/target", "pump0/pressure", "pump1/target", "pump1/pressure"]
    assert cov.variate_of == ("pump0", "pump0", "pump1", "pump1")
    assert cov.future == ()  # whole histories, for backtests


# --- validation of Covariates ----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "Covariates is empty"),
        ({"past": [{"a": [1.0]}, {"b": [1.0]}]}, r"past\[1\] has covariates \['b'\] but past\[0\] has \['a'\]"),
        ({"past": [{"a": [1.0]}, {"a": ["x"]}]}, "'a' is categorical in past.1. but numeric"),
        ({"past": [{"a": [1.0, np.inf]}]}, "inf at position 1"),
        ({"past": [{"a": [[1.0]]}]}, "must be 1-D"),
        ({"past": [{"a": [1.0]}], "known_future": ("b",)}, r"\['b'\] have no past values"),
        ({"past": [{"a": [1.0]}], "group_ids": ["g", "h"]}, "different numbers of series"),
        ({"past": [{"a": [1.0]}], "future": [{"a": [np.nan]}]}, "missing at future step 0"),
        ({"static": [{"kind": [1, 2]}]}, "static values are numbers or strings"),
        ({"group_ids": "ab"}, "one label per series"),
        ({"past": [{"a": [1.0]}, {"a": [2.0]}], "variate_of": ["t", "t"]}, "different covariates"),
    ],
)
def test_when_covariates_are_malformed_then_the_field_is_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        Covariates(**kwargs)


@pytest.mark.parametrize(
    "cov, horizon, message",
    [
        (Covariates(past=[{"a": np.zeros(5)}]), 3, "describe 1 series but the context holds 2"),
        (Covariates(past=[{"a": np.zeros(5)}, {"a": np.zeros(5)}]), 3, "has 5 values but the series has 6"),
        (
            Covariates(past=[{"a": np.zeros(5)}, {"a": np.zeros(6)}], future=[{"a": np.zeros(2)}] * 2),
            3, "hold 2 future values per series but the horizon is 3",
        ),
        (
            Covariates(past=[{"a": np.zeros(5)}, {"a": np.zeros(6)}], known_future=("a",)),
            3, "have no future values",
        ),
    ],
)
def test_when_covariates_do_not_fit_the_context_then_the_forecast_is_refused(chronos2, cov, horizon, message):
    with pytest.raises(InputError, match=message):
        chronos2.predict_quantiles([np.ones(5), np.ones(6)], horizon, covariates=cov)


# --- plumbing through the models -------------------------------------------------------


def _inputs(**options):
    history, future = split(plant_frame())
    frame, cov = covariates_from_frames(history, future, horizon=HORIZON, **options)
    return tsfm.data.to_series(frame)[1], cov


def test_when_chronos2_gets_covariates_then_the_forecast_changes(chronos2):
    series, cov = _inputs(past_covariates=["temperature"])
    plain = chronos2.predict_quantiles(series, HORIZON)
    conditioned = chronos2.predict_quantiles(series, HORIZON, covariates=cov)
    assert conditioned.quantiles.shape == plain.quantiles.shape == (4, HORIZON, 9)
    assert np.all(np.isfinite(conditioned.quantiles))
    assert np.abs(conditioned.quantiles - plain.quantiles).max() > 1e-4


def test_when_chronos2_groups_series_then_only_grouped_series_change(chronos2):
    series, cov = _inputs()
    alone = chronos2.predict_quantiles(series, HORIZON, covariates=cov)
    groups = Covariates(past=cov.past, future=cov.future, group_ids=["A", "A", "B", "C"])
    grouped = chronos2.predict_quantiles(series, HORIZON, covariates=groups)
    change = np.abs(grouped.quantiles - alone.quantiles).max(axis=(1, 2))  # [n_series]
    assert change[0] > 1e-4 and change[1] > 1e-4  # learned across the pair of plant A
    np.testing.assert_allclose(grouped.quantiles[2:], alone.quantiles[2:], atol=1e-4)  # groups of one


@pytest.mark.parametrize("family", ["chronos-bolt"])
def test_when_a_model_cannot_use_covariates_then_it_warns_once_and_forecasts_as_without(tiny_checkpoints, family):
    model = tsfm.load(str(tiny_checkpoints[family]))
    series, cov = _inputs(group_by="plant")
    plain = model.predict_quantiles(series, HORIZON)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignored = model.predict_quantiles(series, HORIZON, covariates=cov)
    assert [w.category for w in caught].count(CovariatesIgnoredWarning) == 1
    np.testing.assert_array_equal(ignored.quantiles, plain.quantiles)


def test_when_grouping_a_baseline_then_its_forecast_does_not_change():
    model = tsfm.load("seasonal-naive", season_length=24)
    series, cov = _inputs(group_by="plant")
    plain = model.predict_quantiles(series, HORIZON)
    with pytest.warns(CovariatesIgnoredWarning, match="cannot use covariates"):
        grouped = model.predict_quantiles(series, HORIZON, covariates=cov)
    np.testing.assert_array_equal(grouped.quantiles, plain.quantiles)


def test_when_targets_are_multivariate_then_chronos2_forecasts_them_jointly(chronos2):
    history, future = split(plant_frame(2), known=("schedule",))
    frame, cov = covariates_from_frames(history, future, horizon=HORIZON, targets=["target", "pressure"])
    series = tsfm.data.to_series(frame)[1]
    joint = chronos2.predict_quantiles(series, HORIZON, covariates=cov)
    separate = Covariates(past=cov.past, future=cov.future)
    apart = chronos2.predict_quantiles(series, HORIZON, covariates=separate)
    assert joint.quantiles.shape == (4, HORIZON, 9)
    assert np.abs(joint.quantiles - apart.quantiles).max() > 1e-4


def test_when_backtesting_with_covariates_then_windows_get_future_values_from_the_data(chronos2):
    frame = plant_frame()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with_cov = evaluate(frame, [chronos2], HORIZON, windows=2, covariates=["schedule"], group_by="plant",
                            progress=False, plot_series=0)
    ignored = [w for w in caught if issubclass(w.category, CovariatesIgnoredWarning)]
    assert [str(w.message).split("'")[1] for w in ignored] == ["seasonal-naive"]  # once, not once per window
    without = evaluate(frame, [chronos2], HORIZON, windows=2, progress=False, plot_series=0)
    key = ["model", "item_id", "window"]
    a = with_cov.result.scores.sort_values(key).reset_index(drop=True)
    b = without.result.scores.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) == 2 * 4 * 2  # two models (with seasonal naive) x items x windows
    mine = a["model"] == chronos2.name
    assert not np.allclose(a.loc[mine, "quantile_loss"], b.loc[mine, "quantile_loss"])
    np.testing.assert_allclose(a.loc[~mine, "quantile_loss"], b.loc[~mine, "quantile_loss"])


def test_when_a_window_reaches_past_the_covariates_then_it_is_refused():
    cov = Covariates(past=[{"a": np.zeros(10)}], known_future=("a",))
    with pytest.raises(InputError, match="window needs 12"):
        cov.window([0], [8], 4)


# --- command line ------------------------------------------------------------------------


def test_when_forecasting_with_a_future_file_then_the_cli_writes_every_item(tiny_checkpoints, tmp_path, capsys):
    history, future = split(plant_frame())
    history.to_csv(tmp_path / "data.csv", index=False)
    future.to_csv(tmp_path / "future.csv", index=False)
    out = tmp_path / "forecast.csv"
    argv = ["forecast", "--data", str(tmp_path / "data.csv"), "--future", str(tmp_path / "future.csv"),
            "--past-covariates", "temperature", "--group-by", "plant", "--horizon", str(HORIZON),
            "--model", str(tiny_checkpoints["chronos-2"]), "--output", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out, parse_dates=["timestamp"])
    assert len(table) == 4 * HORIZON
    first_future = future.groupby("item_id")["timestamp"].first()
    assert (table.groupby("item_id")["timestamp"].first() == first_future).all()
    future.head(HORIZON - 2).to_csv(tmp_path / "short.csv", index=False)
    argv[argv.index(str(tmp_path / "future.csv"))] = str(tmp_path / "short.csv")
    assert main(argv) == 2
    assert "exactly 12 rows" in capsys.readouterr().err


def test_when_evaluating_with_covariates_then_the_cli_ranks_models(tiny_checkpoints, tmp_path, capsys):
    plant_frame().to_csv(tmp_path / "data.csv", index=False)
    argv = ["evaluate", "--data", str(tmp_path / "data.csv"), "--covariates", "schedule,mode", "--group-by", "plant",
            "--horizon", str(HORIZON), "--models", str(tiny_checkpoints["chronos-2"]), "--output",
            str(tmp_path / "out"), "--plot-series", "0"]
    assert main(argv) == 0
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert len(board) == 2  # the model and the seasonal-naive reference


# --- residual regression for models without covariate support ------------------------------


def test_when_the_target_is_a_known_function_of_a_covariate_then_the_regression_forecasts_it_better():
    from tsfm.adapters.covariate_regression import with_covariate_regression

    rng = np.random.default_rng(1)
    drive = [rng.normal(size=HISTORY + HORIZON) for _ in range(3)]
    series = [5.0 + 3.0 * x + rng.normal(0, 0.1, len(x)) for x in drive]
    cov = Covariates(past=[{"x": x[:HISTORY]} for x in drive], future=[{"x": x[HISTORY:]} for x in drive])
    naive = tsfm.load("naive")
    context = [s[:HISTORY] for s in series]
    truth = np.vstack([s[HISTORY:] for s in series])
    plain = naive.predict_quantiles(context, HORIZON)
    wrapped = with_covariate_regression(naive)
    regressed = wrapped.predict_quantiles(context, HORIZON, covariates=cov)
    error = np.abs(regressed.median - truth).mean()
    assert error < 0.25 * np.abs(plain.median - truth).mean()
    assert error < 0.5  # the regression recovers 5 + 3x up to the noise and the naive residual
    np.testing.assert_array_equal(wrapped.predict_quantiles(context, HORIZON).quantiles, plain.quantiles)


def test_when_the_regression_gets_past_only_covariates_then_it_warns_that_they_are_ignored():
    from tsfm.adapters.covariate_regression import with_covariate_regression

    cov = Covariates(past=[{"x": np.arange(30.0)}])
    with pytest.warns(CovariatesIgnoredWarning, match=r"past-only covariates \['x'\]"):
        with_covariate_regression(tsfm.load("naive")).predict_quantiles([np.arange(30.0)], 4, covariates=cov)


def test_when_held_out_covariate_tasks_are_scored_then_rows_split_by_availability_and_counts_add_up():
    from tsfm.pretraining.synthetic import SyntheticConfig
    from tsfm.tasks.covariate_bench import held_out_covariate_runs

    synthetic = SyntheticConfig(length=160, missing_probability=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovariatesIgnoredWarning)
        table = held_out_covariate_runs(tsfm.load("naive"), 16, batches=6, batch_size=3, synthetic=synthetic)
    assert table.loc["all", "count"] == 18
    assert table.loc[["known-future", "past-only"], "count"].sum() == 18
    assert table.loc[["lagged_linear", "threshold", "multiplicative"], "count"].sum() == 18
    # naive ignores covariates: with and without them it forecasts the same, so every ratio is 1
    assert np.allclose(table["MASE with / alone"], 1.0)
    assert "weak effect" not in table.index  # the default config has no weak tasks


def test_when_the_synthetic_config_has_weak_tasks_then_the_bench_reports_them_on_their_own_row():
    from tsfm.pretraining.synthetic import SyntheticConfig, generate_covariate_batch
    from tsfm.tasks.covariate_bench import HELD_OUT_SEED, held_out_covariate_runs

    synthetic = SyntheticConfig(length=160, missing_probability=0.0, weak_covariate_share=0.5)
    batches = [generate_covariate_batch(synthetic, HELD_OUT_SEED, i, 4) for i in range(5)]
    expected = sum(int((batch["effect_scale"] < 1).sum()) for batch in batches)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovariatesIgnoredWarning)
        table = held_out_covariate_runs(tsfm.load("naive"), 16, batches=5, batch_size=4, synthetic=synthetic)
    assert 0 < expected < 20
    assert table.loc["weak effect", "count"] == expected


def test_when_a_chronos2_model_reads_held_out_covariates_then_its_forecast_changes(tiny_checkpoints):
    from tsfm.pretraining.synthetic import SyntheticConfig
    from tsfm.tasks.covariate_bench import held_out_covariate_runs

    synthetic = SyntheticConfig(length=160, missing_probability=0.0, covariate_known_share=1.0)
    model = tsfm.load(str(tiny_checkpoints["chronos-2"]))
    table = held_out_covariate_runs(model, 16, batches=2, batch_size=3, synthetic=synthetic)
    assert list(table.index[:2]) == ["all", "known-future"] and "past-only" not in table.index
    assert not np.isclose(table.loc["all", "MASE with / alone"], 1.0)
    assert (table["ratio 5%"] <= table["MASE with / alone"]).all()
    assert (table["MASE with / alone"] <= table["ratio 95%"]).all()
    assert table.loc["all", "ratio 95%"] > table.loc["all", "ratio 5%"]  # the tasks disagree, so a real interval


def test_ratio_interval_brackets_the_ratio_of_means_and_narrows_with_more_tasks():
    from tsfm.tasks.covariate_bench import ratio_interval

    rng = np.random.default_rng(1)
    alone = rng.gamma(2.0, 1.0, 4000)
    with_ = alone * rng.uniform(0.6, 1.0, 4000)  # each task gains 0-40%, 20% on average
    few, many = ratio_interval(alone[:100], with_[:100]), ratio_interval(alone, with_)
    assert few[0] < with_[:100].mean() / alone[:100].mean() < few[1]
    assert many[0] < 0.8 < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 3  # 40x the tasks: about 1/sqrt(40) the width


def test_ratio_interval_rejects_unpaired_scores():
    from tsfm.tasks.covariate_bench import ratio_interval

    with pytest.raises(ValueError, match="equal-length"):
        ratio_interval(np.ones(4), np.ones(3))
