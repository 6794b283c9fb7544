"""A forecaster that routes each series to a primary model or a fallback, and says why.

Per series, in this order (the first condition that holds decides):

1. **validation**: fewer than ``min_length`` observed values, or more than ``max_missing``
   of the context missing -> fallback (reasons ``too_short``, ``too_many_missing``);
2. **backtest**: the primary and the fallback forecast the last ``backtest_horizon`` values
   of the series' own context from what precedes them (one window of
   :class:`tsfm.rolling.RollingWindows`); when the primary's scaled error
   exceeds ``max_backtest_ratio`` times the fallback's, or ``max_backtest_error``
   -> fallback (``backtest``);
3. **uncertainty**: the primary's mean 80% interval width over the context's scale
   (mean absolute step change) exceeds ``max_relative_width`` -> fallback (``uncertain``).

Otherwise the primary forecasts it (``ok``). The routing of the latest call is kept in
:attr:`FallbackForecaster.routing`, one row per series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsfm.contract import BaseForecaster, Forecaster
from tsfm.errors import InputError
from tsfm.metrics import series_scale
from tsfm.rolling import RollingWindows

BAND = (0.1, 0.9)


@dataclass(frozen=True)
class FallbackConfig:
    """Routing thresholds; ``None`` switches a condition off.

    Attributes
    ----------
    min_length
        Fewest observed values a series needs to go to the primary.
    max_missing
        Largest share of missing values in a context sent to the primary, in [0, 1].
    max_backtest_ratio
        Route to the fallback when the primary's backtest error exceeds this multiple of the fallback's.
    max_backtest_error
        Route to the fallback when the primary's backtest error (MAE over the scale) exceeds this.
    backtest_horizon
        Steps of the self-backtest; ``None`` = the forecast horizon.
    max_relative_width
        Route to the fallback when the primary's 80% interval is wider than this many scales.
    """

    min_length: int = 32
    max_missing: float = 0.3
    max_backtest_ratio: float | None = 1.0
    max_backtest_error: float | None = None
    backtest_horizon: int | None = None
    max_relative_width: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, int) or self.min_length < 1:
            raise InputError(f"min_length must be a positive integer, got {self.min_length!r}")
        if not 0.0 <= self.max_missing <= 1.0:
            raise InputError(f"max_missing must lie in [0, 1], got {self.max_missing!r}")
        for name in ("max_backtest_ratio", "max_backtest_error", "max_relative_width"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise InputError(f"{name} must be a positive number or None, got {value!r}")
        if self.backtest_horizon is not None and (
            isinstance(self.backtest_horizon, bool) or not isinstance(self.backtest_horizon, int)
            or self.backtest_horizon < 1
        ):
            raise InputError(f"backtest_horizon must be a positive integer or None, got {self.backtest_horizon!r}")


def _validation_reason(values: np.ndarray, config: FallbackConfig) -> str | None:
    observed = int(np.isfinite(values).sum())
    if observed < config.min_length:
        return "too_short"
    if 1.0 - observed / values.size > config.max_missing:
        return "too_many_missing"
    return None


def _scaled_errors(forecast_median: np.ndarray, targets: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``[n]`` mean absolute error over observed targets, divided by each series' scale."""
    err = np.where(np.isfinite(targets), np.abs(targets - forecast_median), np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(err, axis=1) / scales


class FallbackForecaster(BaseForecaster):
    """Routes each series to ``primary`` or ``fallback``; see the module doc for the rules.

    Parameters
    ----------
    primary, fallback
        Forecasters; the fallback must accept every series (e.g. ``seasonal-naive``, ``auto-ets``).
    config
        Thresholds, see :class:`FallbackConfig`.
    """

    min_observations = 1

    def __init__(self, primary: Forecaster, fallback: Forecaster, config: FallbackConfig | None = None,
                 name: str | None = None) -> None:
        super().__init__(name or f"{primary.name}|{fallback.name}")
        self.primary, self.fallback = primary, fallback
        self.config = config or FallbackConfig()
        self.kind = getattr(primary, "kind", "tsfm")
        self.routing: pd.DataFrame | None = None

    def _backtest(self, context: list[np.ndarray], rows: list[int], horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Scaled backtest errors ``([n], [n])`` of primary and fallback; NaN where a series is too short.

        The window is the validation engine's (:class:`tsfm.rolling.RollingWindows`, one window of
        ``backtest_horizon`` at the end of each context), so routing is judged on the same geometry
        as every other choice in the project.
        """
        hb = self.config.backtest_horizon or horizon
        primary_err, fallback_err = np.full(len(context), np.nan), np.full(len(context), np.nan)
        usable = [i for i in rows if np.isfinite(context[i][:-hb]).sum() >= self.config.min_length]
        if not usable:
            return primary_err, fallback_err
        try:
            windows = RollingWindows(hb, windows=1, min_train_length=self.config.min_length).split(
                [context[i] for i in usable]
            )
        except InputError:  # no usable series has an observed value to score: no backtest
            return primary_err, fallback_err
        scored = [usable[w.item] for w in windows]
        past = [np.asarray(w.history) for w in windows]
        targets = np.vstack([w.target for w in windows])  # [n_scored, hb]
        scales = np.array([series_scale(c) for c in past])
        for model, out in ((self.primary, primary_err), (self.fallback, fallback_err)):
            out[scored] = _scaled_errors(model.predict_quantiles(past, hb, (0.5,)).median, targets, scales)
        return primary_err, fallback_err

    def _route(self, context: list[np.ndarray], horizon: int, primary_fc: dict[int, np.ndarray]) -> pd.DataFrame:
        """One row per series: route, reason and the statistics behind it."""
        cfg = self.config
        reasons = [_validation_reason(c, cfg) for c in context]
        valid = [i for i, r in enumerate(reasons) if r is None]
        check_backtest = cfg.max_backtest_ratio is not None or cfg.max_backtest_error is not None
        bt_primary, bt_fallback = (
            self._backtest(context, valid, horizon) if check_backtest else (np.full(len(context), np.nan),) * 2
        )
        width = np.full(len(context), np.nan)
        for i in valid:
            width[i] = float(np.mean(primary_fc[i][:, -1] - primary_fc[i][:, 0])) / series_scale(context[i])
        for i in valid:
            if cfg.max_backtest_ratio is not None and bt_primary[i] > cfg.max_backtest_ratio * bt_fallback[i]:
                reasons[i] = "backtest"
            elif cfg.max_backtest_error is not None and bt_primary[i] > cfg.max_backtest_error:
                reasons[i] = "backtest"
            elif cfg.max_relative_width is not None and width[i] > cfg.max_relative_width:
                reasons[i] = "uncertain"
            else:
                reasons[i] = "ok"
        return pd.DataFrame({
            "series": np.arange(len(context)),
            "route": ["primary" if r == "ok" else "fallback" for r in reasons],
            "reason": reasons, "relative_width": width,
            "backtest_primary": bt_primary, "backtest_fallback": bt_fallback,
        })

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        valid = [i for i, c in enumerate(context) if _validation_reason(c, self.config) is None]
        asked = np.unique(np.r_[levels, BAND])
        quantiles = np.empty((len(context), horizon, len(levels)))  # [n_series, horizon, n_q]
        mean = np.empty((len(context), horizon))
        primary_fc: dict[int, np.ndarray] = {}
        if valid:
            fc = self.primary.predict_quantiles([context[i] for i in valid], horizon, asked)
            pick = np.searchsorted(asked, levels)
            band = np.searchsorted(asked, BAND)
            for j, i in enumerate(valid):
                primary_fc[i] = fc.quantiles[j][:, band]  # [horizon, 2]
                quantiles[i], mean[i] = fc.quantiles[j][:, pick], fc.mean[j]
        self.routing = self._route(context, horizon, primary_fc)
        rerouted = np.flatnonzero(self.routing.route.to_numpy() == "fallback").tolist()
        if rerouted:
            fc = self.fallback.predict_quantiles([context[i] for i in rerouted], horizon, levels)
            quantiles[rerouted], mean[rerouted] = fc.quantiles, fc.mean
        return quantiles, mean


def per_series_mase(
    model: Forecaster, series: Sequence[np.ndarray], horizon: int, season_length: int,
    item_ids: Sequence[str] | None = None,
) -> np.ndarray:
    """``[n]`` MASE of each series' last ``horizon`` values forecast from the rest (median forecast).

    The window is :class:`tsfm.rolling.RollingWindows` ``(horizon, windows=1)``, the engine every choice uses.

    Raises
    ------
    InputError
        Naming the shortest series (by ``item_ids`` when given), its length and the minimum:
        ``horizon`` plus more than ``season_length`` values for the MASE scale, and at least
        the model's ``min_observations``.
    """
    from tsfm.metrics import mase

    need = horizon + max(season_length + 1, getattr(model, "min_observations", 1))
    lengths = [len(s) for s in series]
    if lengths and min(lengths) < need:
        i = int(np.argmin(lengths))
        name = repr(str(item_ids[i])) if item_ids is not None else f"#{i}"
        raise InputError(
            f"series {name} has {lengths[i]} values; scoring its last {horizon} needs at least {need}: the horizon "
            f"plus {need - horizon} to forecast from (more than season length {season_length} for the MASE scale). "
            "Drop such series, or pass a shorter --horizon or a smaller --season-length"
        )
    # the last window of each series, cut by the validation engine; a series whose scored values are
    # all missing has no window and no MASE (NaN)
    windows = RollingWindows(horizon, windows=1, min_train_length=need - horizon).split(series, item_ids)
    fc = model.predict_quantiles([w.history for w in windows], horizon, (0.5,))
    out = np.full(len(series), np.nan)
    for j, w in enumerate(windows):
        out[w.item] = mase(w.target, fc.median[j], w.history, season_length)
    return out


def worst_decile(values: np.ndarray) -> float:
    """Mean of the worst 10% of the finite values (at least one)."""
    v = np.sort(values[np.isfinite(values)])[::-1]
    return float(v[: max(1, int(np.ceil(0.1 * v.size)))].mean())
