"""No silent wrong results on input data: magnitudes, quantile levels, calendars, messages.

Each case was once a forecast with exit code 0 that was wrong, or an error that sent the
user the wrong way: values near 1e300 gave NaN, a column labelled 0.999 held the 0.9
quantile, hourly and daily series shared one calendar, gaps were read as consecutive
steps, epoch seconds became one-second steps, a short series was reported as empty.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import pandas as pd
import pytest

import tsfm
from tests.conftest import seasonal_panel, shared_data
from tsfm.cli_support import season_of
from tsfm.covariates import Covariates
from tsfm.data import (
    default_season_length,
    epoch_timestamp_hint,
    future_timestamps,
    infer_frequency,
    load_frame,
    to_series,
)
from tsfm.errors import InputError
from tsfm.quantiles import empirical_quantiles, interpolate_quantiles
from tsfm.tasks.backtest import BacktestConfig, make_windows, run_backtest
from tsfm.tasks.cli import main
from tsfm.tasks.leaderboard import LEADERBOARD_COLUMNS, format_leaderboard, leaderboard
from tsfm.validation import validate_context

HORIZON = 4


@pytest.fixture(scope="module")
def load_model(tiny_checkpoints):
    cache: dict[str, tsfm.Forecaster] = {}

    def _load(name: str) -> tsfm.Forecaster:
        if name not in cache:
            source = str(tiny_checkpoints[name]) if name in tiny_checkpoints else name
            cache[name] = tsfm.load(source, device="cpu") if name != "auto-ets" else tsfm.load(name)
        return cache[name]

    return _load


def walk(length: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return 50.0 + np.cumsum(rng.normal(0, 1, length)) + 5.0 * np.sin(2 * np.pi * t / 12)


# ----------------------------------------------------------------------------- 1. magnitudes

MAGNITUDE_MODELS = ["chronos-bolt", "chronos-2", "chronos-t5", "fracast-0", "naive", "auto-ets"]
# Powers of two, so the scaled series holds the same digits and the comparison can be tight.
SCALES = [2.0**1000, 2.0**64, 2.0**-100, 2.0**-990]


@pytest.mark.parametrize("name", MAGNITUDE_MODELS)
@pytest.mark.parametrize("scale", SCALES, ids=[f"{s:.0e}" for s in SCALES])
def test_when_values_lie_outside_the_models_range_then_the_forecast_is_the_rescaled_one(name, scale, load_model):
    model = load_model(name)
    plain = model.predict_quantiles([walk()], HORIZON, (0.1, 0.5, 0.9))
    scaled = model.predict_quantiles([walk() * scale], HORIZON, (0.1, 0.5, 0.9))
    assert np.isfinite(scaled.quantiles).all() and np.isfinite(scaled.mean).all()
    np.testing.assert_allclose(scaled.quantiles / scale, plain.quantiles, rtol=1e-4)
    np.testing.assert_allclose(scaled.mean / scale, plain.mean, rtol=1e-4)


def test_when_one_series_is_huge_then_the_others_in_its_batch_are_unchanged(load_model):
    model = load_model("chronos-bolt")
    alone = model.predict_quantiles([walk(seed=1)], HORIZON)
    mixed = model.predict_quantiles([walk(seed=1), walk(seed=2) * 1e200], HORIZON)
    np.testing.assert_allclose(mixed.quantiles[0], alone.quantiles[0], rtol=1e-5)


def test_when_a_huge_series_is_embedded_then_its_embedding_is_the_rescaled_ones(load_model):
    model = load_model("chronos-bolt")
    plain, huge = model.embed([walk()]), model.embed([walk() * 2.0**600])
    assert np.isfinite(huge).all()
    np.testing.assert_allclose(huge, plain, rtol=1e-4, atol=1e-5)


def test_when_a_covariate_is_huge_then_chronos2_reads_it_like_the_rescaled_one(load_model):
    model = load_model("chronos-2")
    series = walk(80)
    driver = np.sin(np.arange(80 + HORIZON) / 3.0)

    def forecast(scale: float) -> np.ndarray:
        covariates = Covariates(
            past=({"load": driver[:80] * scale},), future=({"load": driver[80:] * scale},)
        )
        return model.predict_quantiles([series], HORIZON, (0.1, 0.5, 0.9), covariates=covariates).quantiles

    huge = forecast(2.0**900)
    assert np.isfinite(huge).all()
    np.testing.assert_allclose(huge, forecast(1.0), rtol=1e-4)


# ----------------------------------------------------------------------------- 2. quantile levels

NATIVE = np.array([0.1, 0.5, 0.9])
TAIL_CASES = [
    # (native values at 0.1/0.5/0.9, requested levels, expected)
    ("inside: interpolated", [-1.0, 0.0, 2.0], [0.3, 0.7], [-0.5, 1.0]),
    ("below: laplace tail", [-1.0, 0.0, 2.0], [0.05], [-1.0 + np.log(0.5) / np.log(5.0)]),
    ("above: laplace tail", [-1.0, 0.0, 2.0], [0.99], [2.0 + 2.0 * np.log(10.0) / np.log(5.0)]),
    ("no spread: stays flat", [3.0, 3.0, 3.0], [0.001, 0.999], [3.0, 3.0]),
]


@pytest.mark.parametrize(("case", "values", "levels", "expected"), TAIL_CASES, ids=[c[0] for c in TAIL_CASES])
def test_when_levels_lie_outside_the_native_range_then_they_are_extrapolated_not_clamped(
    case, values, levels, expected
):
    out = interpolate_quantiles(np.array([values]), NATIVE, np.array(levels))
    np.testing.assert_allclose(out[0], expected)


def test_when_the_model_emits_one_quantile_then_other_levels_are_refused():
    with pytest.raises(InputError, match=r"emits only the 0.5 quantile.*\[0.1, 0.5\]"):
        interpolate_quantiles(np.ones((2, 1)), np.array([0.5]), np.array([0.1, 0.5]))


def test_when_t5_samples_are_few_then_far_levels_are_extrapolated_beyond_the_samples():
    samples = np.random.default_rng(0).normal(size=(3, 20, 5))  # [n_series, n_samples, horizon]
    q = empirical_quantiles(samples, np.array([0.001, 0.05, 0.5, 0.95, 0.999]))
    assert (q[..., 0] < samples.min(axis=1)).all() and (q[..., -1] > samples.max(axis=1)).all()
    np.testing.assert_allclose(q[..., 1], np.quantile(samples, 0.05, axis=1))


@pytest.mark.parametrize("name", ["chronos-bolt", "chronos-t5", "fracast-0"])
def test_when_a_model_is_asked_for_tail_levels_then_no_column_repeats_its_edge(name, load_model):
    forecast = load_model(name).predict_quantiles(seasonal_panel(n_series=3), HORIZON, (0.01, 0.1, 0.9, 0.99))
    assert (forecast.quantile(0.01) < forecast.quantile(0.1)).all()
    assert (forecast.quantile(0.99) > forecast.quantile(0.9)).all()


# ----------------------------------------------------------------------------- 3. frequencies and gaps


def hourly(item: str, periods: int = 6, start: str = "2024-01-01", freq: str = "h") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=periods, freq=freq)
    return pd.DataFrame({"item_id": item, "timestamp": stamps, "target": np.arange(periods, dtype=float)})


def mixed() -> pd.DataFrame:
    return pd.concat([hourly("a"), hourly("b", freq="D"), hourly("c")])


def gappy() -> pd.DataFrame:
    return pd.concat([hourly("a").drop(index=[2, 3]), hourly("b")])


def irregular() -> pd.DataFrame:
    stamps = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 02:17",
                             "2024-01-01 03:00"])
    return pd.DataFrame({"item_id": "a", "timestamp": stamps, "target": np.arange(5.0)})


def integer_gap() -> pd.DataFrame:
    return pd.DataFrame({"item_id": "a", "timestamp": [0, 1, 2, 4, 5], "target": np.arange(5.0)})


def epoch_gap() -> pd.DataFrame:
    stamps = 1_700_000_000 + 3600 * np.array([0, 1, 2, 4, 5])
    return pd.DataFrame({"item_id": "a", "timestamp": stamps, "target": np.arange(5.0)})


CALENDAR_ERRORS = [
    ("mixed frequencies", mixed, {}, r"mixes frequencies: 'h' \(items 'a', 'c'\), 'D' \(item 'b'\).*split the file"),
    ("a gap", gappy, {}, r"item 'a' has 2 missing 'h' timestamps, the first at 2024-01-01 02:00:00.*fill_gaps='nan'"),
    ("irregular stamps", irregular, {}, r"item 'a' has timestamps on no regular grid.*02:00:00 and .*02:17"),
    ("an integer gap", integer_gap, {}, r"item 'a' has 1 missing step, the first at 3.*fill_gaps='nan'"),
    ("epoch-like gap", epoch_gap, {}, r"missing step.*look like epoch seconds.*--timestamp-unit s"),
    ("unknown fill", gappy, {"fill_gaps": "zero"}, r"fill_gaps must be None or 'nan', got 'zero'"),
    ("unit on dates", gappy, {"timestamp_unit": "s"}, r"timestamp_unit='s' applies to integer timestamps.*dates"),
    ("unknown unit", epoch_gap, {"timestamp_unit": "hours"}, r"timestamp_unit must be one of .*'ms'.*got 'hours'"),
]


@pytest.mark.parametrize(("case", "make", "kwargs", "message"), CALENDAR_ERRORS, ids=[c[0] for c in CALENDAR_ERRORS])
def test_when_the_calendar_is_broken_then_load_frame_refuses_naming_the_series(case, make, kwargs, message):
    with pytest.raises(InputError, match=message):
        load_frame(make(), **kwargs)


@pytest.mark.parametrize("make", [gappy, integer_gap])
def test_when_fill_gaps_is_nan_then_missing_rows_are_inserted_as_nan(make):
    frame = load_frame(make(), fill_gaps="nan")
    _, series = to_series(frame)
    assert len(series[0]) == 6 and np.isnan(series[0]).sum() == (2 if make is gappy else 1)
    assert not frame.duplicated(["item_id", "timestamp"]).any()
    assert frame.groupby("item_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()


def test_when_every_item_is_regular_then_nothing_changes():
    frame = pd.concat([hourly("a"), hourly("b", start="2024-03-01")], ignore_index=True)
    pd.testing.assert_frame_equal(load_frame(frame, fill_gaps="nan"), load_frame(frame))


def test_when_weekly_items_start_on_different_days_then_they_are_one_frequency_each_on_its_own_day():
    frame = load_frame(pd.concat([hourly("a", freq="W-SUN"), hourly("b", freq="W-WED"), hourly("c", freq="W-WED")]))
    assert default_season_length(infer_frequency(frame)) == 52
    a, b, _ = future_timestamps(frame, 2, infer_frequency(frame))
    assert [pd.Timestamp(t).day_name() for t in (*a, *b)] == ["Sunday"] * 2 + ["Wednesday"] * 2


# ----------------------------------------------------------------------------- 4. integer timestamps


def epochs(unit: str, factor: int) -> pd.DataFrame:
    stamps = (1_700_000_000 + 3600 * np.arange(30)) * factor
    return pd.DataFrame({"item_id": "a", "timestamp": stamps, "target": np.arange(30.0)})


@pytest.mark.parametrize(("unit", "factor"), [("s", 1), ("ms", 1000), ("us", 10**6), ("ns", 10**9)])
def test_when_a_timestamp_unit_is_given_then_integers_become_dates_and_the_frequency_is_inferred(unit, factor):
    frame = load_frame(epochs(unit, factor), timestamp_unit=unit)
    assert frame["timestamp"].dtype == "datetime64[ns]"
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert infer_frequency(frame) == "h"


def test_when_integer_timestamps_have_no_unit_then_they_are_steps_and_the_note_suggests_a_unit(capsys):
    frame = load_frame(epochs("s", 1))
    assert infer_frequency(frame) is None
    assert "--timestamp-unit s" in epoch_timestamp_hint(frame)
    args = argparse.Namespace(season_length=None)
    assert season_of(args, frame) == 1
    assert "--timestamp-unit s" in capsys.readouterr().err


def test_when_integers_are_small_steps_then_no_epoch_hint_is_given():
    frame = load_frame(pd.DataFrame({"timestamp": np.arange(30), "target": np.arange(30.0)}))
    assert epoch_timestamp_hint(frame) is None


def test_when_integer_steps_are_spaced_then_future_steps_keep_the_spacing():
    frame = load_frame(pd.DataFrame({"timestamp": np.arange(0, 50, 10), "target": np.arange(5.0)}))
    (future,) = future_timestamps(frame, 3, None)
    np.testing.assert_array_equal(future, [50, 60, 70])


# ----------------------------------------------------------------------------- 5. messages and files


def test_when_no_item_has_three_stamps_then_the_frequency_error_names_the_cli_flag():
    frame = load_frame(pd.concat([hourly("a", periods=2), hourly("b", periods=2)]))
    with pytest.raises(InputError, match=r"at least 3 timestamps.*--season-length") as caught:
        infer_frequency(frame)
    assert "pass freq= explicitly" not in str(caught.value)


SHORT_CONTEXTS = [
    ("empty series", [np.array([])], 1, r"context\[0\] is empty \(length 0\); this model needs at least 1"),
    ("all NaN", [np.full(5, np.nan)], 1, r"context\[0\] has no finite values \(length 5, all NaN\); this model needs"),
    ("short", [np.ones(10), np.ones(3)], 8, r"context\[1\] has 3 observed values \(length 3\).*at least 8"),
]


@pytest.mark.parametrize(("case", "context", "need", "message"), SHORT_CONTEXTS, ids=[c[0] for c in SHORT_CONTEXTS])
def test_when_a_series_is_short_then_the_error_gives_its_length_and_the_minimum(case, context, need, message):
    with pytest.raises(InputError, match=message):
        validate_context(context, need)


def test_when_no_series_is_long_enough_for_a_backtest_then_the_error_names_the_longest_and_the_need():
    with pytest.raises(InputError, match=r"longest series, 'b', has 10 values; each needs at least 49"):
        make_windows([np.ones(6), np.ones(10)], BacktestConfig(horizon=24, season_length=24), item_ids=["a", "b"])


def short_csv(tmp_path) -> str:
    frames = [hourly("a", periods=10), hourly("b", periods=6)]
    path = tmp_path / "short.csv"
    pd.concat(frames).to_csv(path, index=False)
    return str(path)


SHORT_COMMANDS = [
    ("calibrate", ["calibrate", "--model", "naive", "--horizon", "12"],
     r"the longest series, 'a', has 10 values; each needs at least 26: --eval-windows x --horizon"),
    ("fallback", ["fallback", "--primary", "naive", "--fallback", "naive", "--horizon", "8"],
     r"series 'b' has 6 values; scoring its last 8 needs at least 33"),
    ("stress", ["stress", "--models", "naive", "--horizon", "8"],
     r"the longest has 10 values; a window needs at least 34"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "argv", "message"), SHORT_COMMANDS, ids=[c[0] for c in SHORT_COMMANDS])
def test_when_series_are_short_on_the_command_line_then_the_error_names_one_and_the_minimum(
    case, argv, message, tmp_path, capsys
):
    out = ["--output", str(tmp_path / "out")]
    assert main([*argv, "--data", short_csv(tmp_path), *out]) == 2
    err = capsys.readouterr().err
    assert "empty" not in err and "no finite values" not in err
    assert re.search(message, err), err


def test_when_a_csv_is_not_utf8_then_the_error_names_the_file_and_an_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("item_id,timestamp,target\nM\xfcnchen,2024-01-01,1\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.csv is not UTF-8.*encoding='latin-1'"):
        load_frame(path)


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_when_a_csv_uses_another_separator_then_it_is_detected(sep, tmp_path):
    path = tmp_path / "data.csv"
    hourly("a").to_csv(path, index=False, sep=sep)
    pd.testing.assert_frame_equal(load_frame(path), load_frame(hourly("a")))


def test_when_a_skab_file_is_read_then_its_semicolons_are_detected_and_its_missing_seconds_named():
    path = next((shared_data("skab", "data", "anomaly-free")).glob("*.csv"))
    columns = {"timestamp_column": "datetime", "target_column": "Accelerometer1RMS"}
    with pytest.raises(InputError, match=r"item '0' has \d+ missing 's' timestamps, the first at 2020-02-08"):
        load_frame(path, **columns)
    frame = load_frame(path, **columns, fill_gaps="nan")
    assert frame["target"].notna().sum() > 1000 and frame["target"].isna().any()


@pytest.mark.parametrize("form", ["{m4}", "{m4}/", "{m4}:Hourly", "{m4}:hourly", "{m4}/Hourly-train.csv"])
def test_when_m4_is_named_in_any_documented_form_then_hourly_loads(form):
    folder = shared_data("m4")
    frame = load_frame("m4:" + form.format(m4=folder))
    assert frame["item_id"].nunique() == 414


def test_when_an_m4_subset_is_absent_then_the_error_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"M4 file not found: .*Weekly-train\.csv"):
        load_frame(f"m4:{tmp_path}:Weekly")


# ----------------------------------------------------------------------------- 6. all-zero series


def constant_series() -> list[np.ndarray]:
    return [np.zeros(60), walk(60)]


def test_when_a_series_is_all_zero_then_scale_free_metrics_are_nan_and_relative_columns_exist():
    models = [tsfm.load("naive"), tsfm.load("seasonal-naive", season_length=1)]
    result = run_backtest(models, constant_series(), BacktestConfig(horizon=HORIZON), ["zero", "walk"], progress=False)
    board = leaderboard(result.scores, result.seconds, "seasonal-naive")
    assert list(board.columns) == LEADERBOARD_COLUMNS
    zero = result.scores[result.scores["item_id"] == "zero"]
    assert zero["MASE"].isna().all()
    assert np.isfinite(board["rel_MASE"]).all() and np.isfinite(board["rel_WQL"]).all()
    assert "1 (series, window) pair" in format_leaderboard(board)


def test_when_every_series_is_all_zero_then_the_leaderboard_has_nan_relative_columns_not_a_key_error():
    models = [tsfm.load("naive"), tsfm.load("seasonal-naive", season_length=1)]
    result = run_backtest(models, [np.zeros(60)], BacktestConfig(horizon=HORIZON), ["zero"], progress=False)
    board = leaderboard(result.scores, result.seconds, "seasonal-naive")
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert board["rel_MASE"].isna().all() and board["rel_WQL"].isna().all()
    assert "MASE and WQL are undefined" in format_leaderboard(board)


def test_when_a_file_has_gaps_then_the_cli_refuses_it_and_fill_gaps_forecasts_across_them(tmp_path, capsys):
    stamps = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"item_id": "a", "timestamp": stamps, "target": np.sin(np.arange(200) / 4) + 5})
    data = tmp_path / "gaps.csv"
    frame.drop(index=[50, 51]).to_csv(data, index=False)
    out = tmp_path / "fc.csv"
    common = ["forecast", "--data", str(data), "--horizon", "12", "--model", "seasonal-naive", "--output", str(out)]

    assert main(common) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--fill-gaps" in err and "2 missing" in err
    assert not out.exists()

    assert main([*common, "--fill-gaps"]) == 0
    table = pd.read_csv(out)
    assert pd.Timestamp(table["timestamp"].iloc[0]) == stamps[-1] + pd.Timedelta(hours=1)
