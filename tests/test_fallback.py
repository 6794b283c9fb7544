"""The fallback forecaster routes each series on the stated condition and records why."""

from __future__ import annotations

import numpy as np
import pytest

from tsfm.adapters.fallback import FallbackConfig, FallbackForecaster, per_series_mase, worst_decile
from tsfm.contract import BaseForecaster
from tsfm.errors import InputError

H = 6


class Constant(BaseForecaster):
    """Forecasts ``value`` with a band of ±``half_width`` (spread over the levels)."""

    def __init__(self, name: str, value: float = 0.0, half_width: float = 1.0) -> None:
        super().__init__(name)
        self.value, self.half_width = value, half_width

    def _predict_quantiles(self, context, horizon, levels):
        mean = np.full((len(context), horizon), self.value)
        return mean[:, :, None] + (np.asarray(levels) - 0.5) * 2.5 * self.half_width, mean


class LastValue(BaseForecaster):
    def __init__(self) -> None:
        super().__init__("last-value")

    def _predict_quantiles(self, context, horizon, levels):
        last = np.array([c[np.isfinite(c)][-1] for c in context])
        mean = np.repeat(last[:, None], horizon, axis=1)
        return mean[:, :, None] + (np.asarray(levels) - 0.5), mean


def _noise(n: int = 80, level: float = 0.0, seed: int = 0) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, 1, n)


def test_when_input_fails_validation_then_the_fallback_takes_it_and_says_why():
    gappy = _noise(80, seed=1)
    gappy[10:50] = np.nan
    model = FallbackForecaster(Constant("zero"), LastValue(), FallbackConfig(min_length=32, max_missing=0.3))
    fc = model.predict_quantiles([_noise(80), _noise(20), gappy], H)
    assert model.routing.reason.tolist() == ["ok", "too_short", "too_many_missing"]
    assert model.routing.route.tolist() == ["primary", "fallback", "fallback"]
    np.testing.assert_allclose(fc.median[0], 0.0)
    np.testing.assert_allclose(fc.median[1], _noise(20)[-1])


def test_when_primary_backtests_worse_than_fallback_then_the_series_is_rerouted():
    # zero is right for noise around 0 and far off for noise around 100
    model = FallbackForecaster(Constant("zero"), LastValue(), FallbackConfig(max_backtest_ratio=1.0))
    fc = model.predict_quantiles([_noise(80), _noise(80, level=100.0)], H)
    routing = model.routing
    assert routing.reason.tolist() == ["ok", "backtest"]
    assert routing.backtest_primary[1] > routing.backtest_fallback[1]
    assert routing.backtest_primary[0] < routing.backtest_fallback[0]
    assert np.all(fc.median[1] > 90)


def test_when_primary_is_too_uncertain_then_the_series_is_rerouted():
    config = FallbackConfig(max_backtest_ratio=None, max_relative_width=5.0)
    calm = FallbackForecaster(Constant("zero", half_width=0.5), LastValue(), config)
    wild = FallbackForecaster(Constant("zero", half_width=50.0), LastValue(), config)
    calm.predict_quantiles([_noise()], H)
    wild.predict_quantiles([_noise()], H)
    assert calm.routing.reason[0] == "ok" and calm.routing.relative_width[0] < 5.0
    assert wild.routing.reason[0] == "uncertain" and wild.routing.relative_width[0] > 5.0


def test_when_routing_by_backtest_then_the_worst_decile_beats_both_models_alone():
    # half the series suit the primary, half the fallback: routing picks the better one for each
    series = [_noise(80, seed=s) for s in range(10)] + [_noise(80, level=50.0, seed=s) for s in range(10, 20)]
    primary, fallback = Constant("zero"), LastValue()
    routed = FallbackForecaster(primary, fallback)
    scores = {m.name: per_series_mase(m, series, H, 1) for m in (primary, fallback, routed)}
    assert worst_decile(scores[routed.name]) < min(worst_decile(scores["zero"]), worst_decile(scores["last-value"]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_length": 0}, "min_length must be a positive integer, got 0"),
        ({"max_missing": 1.5}, r"max_missing must lie in \[0, 1\], got 1.5"),
        ({"max_backtest_ratio": -1.0}, "max_backtest_ratio must be a positive number or None"),
        ({"max_relative_width": 0}, "max_relative_width must be a positive number or None"),
        ({"backtest_horizon": 0}, "backtest_horizon must be a positive integer or None"),
    ],
)
def test_when_config_is_bad_then_clear_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        FallbackConfig(**kwargs)


def test_the_self_backtest_cuts_its_window_with_the_validation_engine():
    from tsfm.rolling import RollingWindows

    class Spy(Constant):
        seen: list[list[np.ndarray]] = []

        def _predict_quantiles(self, context, horizon, levels):
            self.seen.append([np.asarray(c).copy() for c in context])
            return super()._predict_quantiles(context, horizon, levels)

    series = [np.arange(80, dtype=float), np.arange(50, dtype=float) + 1000]
    primary = Spy("spy")
    FallbackForecaster(primary, Constant("zero"), FallbackConfig(backtest_horizon=4)).predict_quantiles(series, H)
    expected = RollingWindows(4, windows=1, min_train_length=32).split(series)
    backtest = next(call for call in primary.seen if len(call[0]) == 76)
    assert [len(c) for c in backtest] == [len(w.history) for w in expected] == [76, 46]
    for c, w in zip(backtest, expected):
        np.testing.assert_array_equal(c, w.history)  # no value of the scored window in the context
