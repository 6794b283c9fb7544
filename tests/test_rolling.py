"""The rolling-origin validation engine: geometry, no leakage, identical windows, failures, scores."""

from __future__ import annotations

import numpy as np
import pytest

import tsfm
from tsfm import metrics, rolling
from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.rolling import DEFAULT_MAX_HISTORY, RollingWindows, history_cap, holdout, score

LEVELS = (0.1, 0.5, 0.9)


class SpyForecaster(BaseForecaster):
    """Repeats the last value and records every context it is given, one list per call."""

    kind = "baseline"

    def __init__(self, name: str = "spy", fail_on_series: int | None = None) -> None:
        super().__init__(name)
        self.calls: list[list[np.ndarray]] = []
        self.fail_on_series = fail_on_series

    def _predict_quantiles(self, context, horizon, levels):
        self.calls.append([c.copy() for c in context])
        if any(c[0] // 1000 == self.fail_on_series for c in context):
            raise RuntimeError(f"cannot forecast series {self.fail_on_series}")
        last = np.array([c[np.isfinite(c)][-1] for c in context])  # [n]
        spread = np.asarray(levels) - 0.5  # [n_q]
        quantiles = last[:, None, None] + spread[None, None, :] * np.ones((1, horizon, 1))
        return quantiles, np.repeat(last[:, None], horizon, axis=1)


def marked_panel(lengths=(40, 23, 57, 31)) -> list[np.ndarray]:
    """Each value is 1000 * series + position, so any value says where it came from."""
    return [1000.0 * i + np.arange(n, dtype=np.float64) for i, n in enumerate(lengths)]


def test_when_windows_are_cut_then_they_end_at_the_series_ends_one_step_apart():
    series = [np.arange(30.0), np.arange(12.0)]
    windows = RollingWindows(horizon=4, windows=3).split(series)
    assert [(w.item, w.window, w.origin) for w in windows] == [(0, 0, 18), (0, 1, 22), (1, 1, 4), (0, 2, 26), (1, 2, 8)]
    for w in windows:
        np.testing.assert_array_equal(w.target, series[w.item][w.origin : w.origin + 4])
        np.testing.assert_array_equal(w.context, series[w.item][: w.origin])
        assert np.shares_memory(w.context, series[w.item]), "a context is a view, not a copy"
        assert not w.context.flags.writeable and not w.target.flags.writeable


def test_when_step_and_max_context_are_set_then_origins_move_by_step_and_contexts_are_capped():
    series = [np.arange(50.0)]
    windows = RollingWindows(horizon=6, windows=3, step=2, max_context=10).split(series)
    assert [w.origin for w in windows] == [40, 42, 44]
    for w in windows:
        np.testing.assert_array_equal(w.context, np.arange(w.origin - 10, w.origin))
        assert len(w.history) == w.origin, "MASE's scale still sees the whole history"


def test_when_a_series_is_too_short_for_some_windows_then_they_are_skipped_with_the_length_needed():
    series = [np.arange(40.0), np.arange(17.0)]
    config = RollingWindows(horizon=4, windows=3, min_train_length=10)
    skipped = config.skipped(series, item_ids=["long", "short"])
    assert [(s.item_id, s.window, s.length, s.needed, s.reason) for s in skipped] == [
        ("short", 0, 17, 22, "too short"),
        ("short", 1, 17, 18, "too short"),
    ]
    assert [(w.item, w.window) for w in config.split(series)] == [(0, 0), (0, 1), (0, 2), (1, 2)]


def test_when_no_window_fits_then_the_error_names_the_shortest_series_and_the_length_needed():
    series = [np.arange(9.0), np.arange(5.0)]
    with pytest.raises(InputError, match=r"min_train_length \(8\) \+ horizon \(4\) = 12.*'b'\) has 5"):
        RollingWindows(horizon=4, min_train_length=8).split(series, item_ids=["a", "b"])


def test_when_a_target_is_all_missing_then_that_window_is_skipped_not_scored():
    series = [np.arange(30.0)]
    series[0][26:] = np.nan
    config = RollingWindows(horizon=4, windows=2)
    assert [w.window for w in config.split(series)] == [0]
    assert config.skipped(series)[0].reason == "no observed target value"


def test_when_a_model_is_scored_then_no_value_of_a_scoring_window_reaches_its_context():
    series = marked_panel()
    config = RollingWindows(horizon=5, windows=3, step=3, min_train_length=6)
    spy = SpyForecaster()
    result = score(spy, series, config, LEVELS)
    seen = [c for call in spy.calls for c in call]  # in the order of result.windows
    assert len(seen) == len(result.windows)
    for context, w in zip(seen, result.windows):
        scored = set(w.target.tolist())
        assert not scored & set(context.tolist()), f"series {w.item} window {w.window} saw its own target"
        assert context.max() < 1000.0 * w.item + w.origin <= w.target.min()
        assert (context // 1000 == w.item).all(), "a context holds values of another series"


def test_when_holdout_is_taken_then_it_shares_no_value_with_any_scoring_window():
    series = marked_panel()
    config = RollingWindows(horizon=5, windows=3, step=3, min_train_length=6)
    train = holdout(series, config)
    windows = config.split(series)
    for i, part in enumerate(train):
        scored = {v for w in windows if w.item == i for v in w.target.tolist()}
        assert scored, "every series of this panel is scored"
        assert not scored & set(part.tolist())
        assert part.max() < min(scored), "training data ends before the earliest scoring window"
        assert len(part) == min(w.origin for w in windows if w.item == i), "and uses everything before it"


def test_when_holdout_is_split_again_then_nested_windows_stay_inside_the_training_part():
    series = marked_panel()
    outer = RollingWindows(horizon=5, windows=2)
    inner = RollingWindows(horizon=5, windows=2)
    train = holdout(series, outer)
    scored = {v for w in outer.split(series) for v in w.target.tolist()}
    for w in inner.split(train):
        assert not scored & (set(w.context.tolist()) | set(w.target.tolist()))


def test_when_two_models_are_scored_then_their_windows_and_contexts_are_identical():
    series = marked_panel()
    config = RollingWindows(horizon=4, windows=3, max_context=12)
    a, b = SpyForecaster("a"), SpyForecaster("b")
    ra, rb = score(a, series, config, LEVELS), score(b, series, config, LEVELS)
    assert [(w.item, w.window, w.origin) for w in ra.windows] == [(w.item, w.window, w.origin) for w in rb.windows]
    np.testing.assert_array_equal(ra.targets, rb.targets)
    for call_a, call_b in zip(a.calls, b.calls, strict=True):
        for ca, cb in zip(call_a, call_b, strict=True):
            np.testing.assert_array_equal(ca, cb)


def test_when_scoring_then_every_window_of_every_series_is_one_batched_call():
    spy = SpyForecaster()
    result = score(spy, marked_panel(), RollingWindows(horizon=4, windows=3), LEVELS)
    assert [len(call) for call in spy.calls] == [12], "4 series x 3 windows, one call"
    for context, w in zip(spy.calls[0], result.windows, strict=True):  # in the order of the windows
        np.testing.assert_array_equal(context, w.context)


def test_when_batched_then_forecasts_and_scores_equal_one_call_per_window_index():
    series = marked_panel()
    config = RollingWindows(horizon=4, windows=3, step=2)
    result = score(SpyForecaster(), series, config, LEVELS, season_length=2)
    reference = SpyForecaster()
    for k in range(config.windows):  # the per-window path: all series' window k in one call
        rows = [r for r, w in enumerate(result.windows) if w.window == k]
        forecast = reference.predict_quantiles([result.windows[r].context for r in rows], 4, LEVELS)
        np.testing.assert_array_equal(result.forecasts[rows], forecast.quantiles)
        np.testing.assert_array_equal(result.point[rows], forecast.median)
    assert [len(call) for call in reference.calls] == [4, 4, 4]


@pytest.mark.parametrize(
    ("name", "exact"),
    [("seasonal-naive", True), ("auto-ets", True), ("tsfm-bolt-mini", False),
     pytest.param("fracast-0", True, marks=pytest.mark.slow)],
)
def test_when_a_real_model_is_batched_then_it_forecasts_as_one_call_per_window_index(name, exact):
    rng = np.random.default_rng(4)
    series = [20 + 5 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 1, n) for n in (60, 75, 90)]
    config = RollingWindows(horizon=6, windows=4, step=3, min_train_length=24)
    model = tsfm.load(name, season_length=12, device="cpu")
    result = score(model, series, config, LEVELS, season_length=12)  # 12 windows: auto-ets fits them in workers
    for k in range(config.windows):
        rows = [r for r, w in enumerate(result.windows) if w.window == k]
        forecast = model.predict_quantiles([result.windows[r].context for r in rows], 6, LEVELS)
        if exact:  # classical fits per context, and fracast-0's fixed 2048-step padding: bit for bit
            np.testing.assert_array_equal(result.forecasts[rows], forecast.quantiles)
        else:  # float32 matrix products over batches of another shape: rounding only
            np.testing.assert_allclose(result.forecasts[rows], forecast.quantiles, rtol=0, atol=1e-5 * 30)


def test_when_a_panel_has_more_windows_than_one_batch_holds_then_whole_window_indices_share_calls(monkeypatch):
    monkeypatch.setattr(rolling, "MAX_BATCH_CONTEXTS", 9)
    spy = SpyForecaster()
    result = score(spy, marked_panel(), RollingWindows(horizon=4, windows=5), LEVELS)
    assert [len(call) for call in spy.calls] == [8, 8, 4], "two window indices of 4 series per call, never split"
    seen = [c for call in spy.calls for c in call]
    assert [len(c) for c in seen] == [len(w.context) for w in result.windows]
    monkeypatch.setattr(rolling, "MAX_BATCH_CONTEXTS", 2)  # fewer than one window index: one call per index
    spy = SpyForecaster()
    score(spy, marked_panel(), RollingWindows(horizon=4, windows=3), LEVELS)
    assert [len(call) for call in spy.calls] == [4, 4, 4]


def test_when_a_batch_fails_then_each_window_index_and_then_each_series_is_retried():
    spy = SpyForecaster(fail_on_series=2)
    result = score(spy, marked_panel(), RollingWindows(horizon=4, windows=2), LEVELS)
    assert [len(call) for call in spy.calls] == [8, 4, 1, 1, 1, 1, 4, 1, 1, 1, 1]
    assert list(result.scores["error"] != "") == [False, False, True, False] * 2


def test_when_scored_then_metrics_match_the_metrics_module_and_pooled_wql_pools_all_windows():
    rng = np.random.default_rng(0)
    series = [10 + rng.normal(size=60).cumsum() for _ in range(3)]
    result = score(SpyForecaster(), series, RollingWindows(horizon=6, windows=2), LEVELS, season_length=2)
    for r, w in enumerate(result.windows):
        row = result.scores.iloc[r]
        assert row["MASE"] == pytest.approx(metrics.mase(w.target, result.point[r], w.history, 2))
        assert row["WQL"] == pytest.approx(metrics.wql(w.target[None], result.forecasts[r][None], LEVELS))
    pooled = result.pooled()
    assert pooled["WQL"] == pytest.approx(metrics.wql(result.targets, result.forecasts, LEVELS))
    assert pooled["mean_WQL"] == pytest.approx(result.scores["WQL"].mean())
    assert pooled["MASE"] == pytest.approx(result.scores["MASE"].mean())
    assert pooled["windows"] == 6 and pooled["failed"] == 0
    assert result.forecasts.shape == (6, 6, 3)
    assert set(result.per_series()["item_id"]) == {"0", "1", "2"}
    assert list(result.per_window()["window"]) == [0, 1]


def test_when_a_model_fails_on_some_series_then_they_are_retried_alone_and_only_they_get_nan():
    series = marked_panel()
    result = score(SpyForecaster(fail_on_series=2), series, RollingWindows(horizon=4, windows=2), LEVELS)
    failed = result.scores[result.scores["error"] != ""]
    assert set(failed["item"]) == {2}
    assert failed["error"].str.contains("RuntimeError: cannot forecast series 2").all()
    assert failed["MASE"].isna().all() and np.isnan(result.forecasts[result.failed]).all()
    assert result.scores.loc[result.scores["item"] != 2, "MASE"].notna().all()
    assert result.pooled()["failed"] == 2 and result.pooled()["windows"] == 6
    assert list(result.failures.columns) == ["item", "item_id", "window", "error"]


def test_when_a_real_baseline_is_scored_then_rows_name_the_model_and_coverage_is_a_share():
    rng = np.random.default_rng(1)
    series = [np.sin(np.arange(80) * 2 * np.pi / 12) * 5 + 20 + rng.normal(size=80) for _ in range(3)]
    model = tsfm.load("seasonal-naive", season_length=12)
    result = score(model, series, RollingWindows(horizon=12, windows=2), season_length=12)
    assert (result.scores["model"] == "seasonal-naive").all()
    for r, w in enumerate(result.windows):
        np.testing.assert_allclose(result.point[r], w.history[-12:], err_msg="the last season, repeated")
    assert np.isfinite(result.scores["MASE"]).all()
    assert result.scores["coverage_80"].between(0, 1).all()


def test_when_the_levels_lack_the_80_percent_band_then_coverage_is_nan():
    result = score(SpyForecaster(), marked_panel(), RollingWindows(horizon=4), (0.5,))
    assert result.scores["coverage_80"].isna().all() and result.scores["WQL"].notna().all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, r"RollingWindows.horizon must be a positive integer, got 0"),
        ({"horizon": 4, "windows": 0}, r"RollingWindows.windows must be a positive integer, got 0"),
        ({"horizon": 4, "step": -2}, r"RollingWindows.step must be a positive integer or None, got -2"),
        ({"horizon": 4, "min_train_length": 1.5}, r"RollingWindows.min_train_length .* got 1.5"),
        ({"horizon": 4, "max_context": True}, r"RollingWindows.max_context .* got True"),
        ({"horizon": "4"}, r"RollingWindows.horizon must be a positive integer, got '4'"),
    ],
)
def test_when_a_config_field_is_bad_then_the_error_names_the_field_and_the_value(kwargs, message):
    with pytest.raises(InputError, match=message):
        RollingWindows(**kwargs)


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([], "series is empty"),
        (np.arange(10.0), "one 1-D array"),
        ([np.ones((3, 3))], r"series\[0\] has shape"),
    ],
)
def test_when_series_are_bad_then_split_says_what_is_wrong(series, message):
    with pytest.raises(InputError, match=message):
        RollingWindows(horizon=2).split(series)


def test_when_the_config_round_trips_through_a_dict_then_it_is_equal():
    config = RollingWindows(horizon=8, windows=5, step=2, min_train_length=30, max_context=512)
    assert RollingWindows(**config.to_dict()) == config


class TsfmSpy(SpyForecaster):
    kind = "tsfm"


def test_when_a_baseline_is_scored_then_it_fits_only_the_last_max_history_values_and_mase_keeps_the_whole_scale():
    series = marked_panel((40, 57))
    config = RollingWindows(horizon=4, windows=2)
    baseline, pretrained = SpyForecaster("capped"), TsfmSpy("whole")
    capped = score(baseline, series, config, LEVELS, max_history=5)
    whole = score(pretrained, series, config, LEVELS, max_history=5)
    for context, w in zip(baseline.calls[0], capped.windows, strict=True):
        np.testing.assert_array_equal(context, w.context[-5:])
    for context, w in zip(pretrained.calls[0], whole.windows, strict=True):
        np.testing.assert_array_equal(context, w.context)
    uncapped = score(SpyForecaster("all"), series, config, LEVELS, max_history=None)
    np.testing.assert_array_equal(capped.scores["MASE"], uncapped.scores["MASE"])  # last value: same forecast


def test_when_the_history_cap_is_asked_then_only_baselines_get_it_and_bad_caps_are_named():
    assert history_cap(SpyForecaster()) == DEFAULT_MAX_HISTORY == 2000
    assert history_cap(SpyForecaster(), None) is None
    assert history_cap(TsfmSpy(), 10) is None
    with pytest.raises(InputError, match="max_history must be a positive integer or None, got 0"):
        history_cap(SpyForecaster(), 0)
