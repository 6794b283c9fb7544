"""Drift monitoring: replay a stream, track forecast error and coverage, raise alarms.

At each origin ``t = start, start + stride, ...`` the model forecasts ``horizon`` steps from
``series[:t]``; once the actuals ``series[t : t + horizon]`` have arrived the origin is
scored (MAE of the median over the scale of the reference part ``series[:start]``, and the
share inside the 80% band). Two detectors watch each series:

- **error drift**: a Page-Hinkley test on the errors, relative to their mean over the first
  ``burn_in`` origins, detects a lasting increase;
- **input shift**: a two-sample Kolmogorov-Smirnov test compares the latest ``window``
  inputs with a reference window (initially ``series[start - window : start]``). By default
  it compares step-to-step changes (``ks_on="diff"``: noise, spikes, frozen sensors, changed
  dynamics), not levels: a slowly drifting level, which forecasters rescale away, would
  otherwise alarm again and again; ``ks_on="level"`` compares the values themselves.

An alarm resets both detectors (the recent inputs become the new reference) and comes with
the data window a re-adaptation (fine-tuning, re-calibration) would use: from the estimated
change point to the time of the alarm, extended back to at least ``min_adapt`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.validation import validate_horizon


class PageHinkley:
    """Page-Hinkley test for an increase of the mean of a stream.

    ``m_T = sum_{t <= T} (x_t - mean_T - delta)``; an alarm is raised when
    ``m_T - min_{t <= T} m_t > threshold``. The change point estimate is the position of the
    minimum (the last time the stream was at or below its average).

    Parameters
    ----------
    delta
        Tolerated increase (in the units of ``x``) that does not count as drift.
    threshold
        Alarm level ``lambda``; larger = fewer false alarms, longer delay.
    min_samples
        Updates before an alarm may be raised.
    """

    def __init__(self, delta: float = 0.25, threshold: float = 6.0, min_samples: int = 5) -> None:
        if delta < 0 or threshold <= 0 or min_samples < 1:
            raise InputError(
                f"Page-Hinkley needs delta >= 0, threshold > 0, min_samples >= 1; "
                f"got delta={delta}, threshold={threshold}, min_samples={min_samples}"
            )
        self.delta, self.threshold, self.min_samples = delta, threshold, min_samples
        self.reset()

    def reset(self) -> None:
        """Forget the stream seen so far."""
        self.n, self.mean, self.cum, self.min_cum, self.argmin = 0, 0.0, 0.0, 0.0, 0

    @property
    def statistic(self) -> float:
        """``m_T - min m_t``, compared with ``threshold``."""
        return self.cum - self.min_cum

    def update(self, x: float) -> bool:
        """Add one value; True when the test raises an alarm."""
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.cum += x - self.mean - self.delta
        if self.cum < self.min_cum:
            self.min_cum, self.argmin = self.cum, self.n
        return self.n >= self.min_samples and self.statistic > self.threshold


def ks_pvalue(reference: np.ndarray, recent: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value of the observed values of two windows (1.0 if one is empty)."""
    from scipy.stats import ks_2samp

    a, b = reference[np.isfinite(reference)], recent[np.isfinite(recent)]
    if a.size < 2 or b.size < 2:
        return 1.0
    return float(ks_2samp(a, b).pvalue)


@dataclass(frozen=True)
class MonitorConfig:
    """How to replay and when to alarm.

    Attributes
    ----------
    horizon
        Steps forecast at each origin.
    start
        First origin; the reference part ``series[:start]`` sets the error scale. ``None`` = ``8 * horizon``.
    stride
        Steps between origins; ``None`` = ``horizon``.
    window
        Inputs compared by the KS test (recent vs reference); ``None`` = ``4 * horizon``.
    ks_alpha
        KS p-value below which inputs have shifted; 0 switches the test off.
    ks_on
        ``"diff"`` (step-to-step changes) or ``"level"`` (the values), see the module doc.
    ph_delta, ph_threshold
        Page-Hinkley settings on relative errors (1.0 = the burn-in error level).
    burn_in
        Origins whose mean error is the reference level of the relative errors.
    min_adapt
        Fewest values in a proposed re-adaptation window.
    """

    horizon: int
    start: int | None = None
    stride: int | None = None
    window: int | None = None
    ks_alpha: float = 1e-3
    ks_on: str = "diff"
    ph_delta: float = 0.25
    ph_threshold: float = 6.0
    burn_in: int = 3
    min_adapt: int | None = None

    def __post_init__(self) -> None:
        h = validate_horizon(self.horizon)
        for name, default in (("start", 8 * h), ("stride", h), ("window", 4 * h), ("min_adapt", 8 * h)):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, default)
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer or None, got {value!r}")
        if self.ks_on not in ("diff", "level"):
            raise InputError(f"ks_on must be 'diff' or 'level', got {self.ks_on!r}")
        if not 0.0 <= self.ks_alpha < 1.0:
            raise InputError(f"ks_alpha must lie in [0, 1), got {self.ks_alpha!r}")
        if isinstance(self.burn_in, bool) or not isinstance(self.burn_in, int) or self.burn_in < 1:
            raise InputError(f"burn_in must be a positive integer, got {self.burn_in!r}")
        PageHinkley(self.ph_delta, self.ph_threshold)  # validates


@dataclass
class MonitorReport:
    """``events``: one row per (series, origin); ``alarms``: one row per alarm with its adaptation window."""

    events: pd.DataFrame
    alarms: pd.DataFrame
    adaptation: dict[str, tuple[int, int]] = field(default_factory=dict)


class _SeriesState:
    """Detectors and bookkeeping of one series."""

    def __init__(self, config: MonitorConfig, values: np.ndarray) -> None:
        from tsfm.metrics import series_scale

        self.ph = PageHinkley(config.ph_delta, config.ph_threshold, min_samples=config.burn_in + 2)
        self.scale = series_scale(values[: config.start])
        self.reference = values[max(0, config.start - config.window) : config.start]
        self.baseline: list[float] = []
        self.origins: list[int] = []


def _ks_inputs(reference: np.ndarray, recent: np.ndarray, on: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.diff(reference), np.diff(recent)) if on == "diff" else (reference, recent)


def _check(state: _SeriesState, values: np.ndarray, t: int, error: float, config: MonitorConfig) -> dict | None:
    """Feed one scored origin ``t`` to the detectors; an alarm record or None."""
    now = t + config.horizon  # the actuals of origin t are known from here on
    state.origins.append(t)
    if len(state.baseline) < config.burn_in:
        state.baseline.append(error)
        return None
    level = max(float(np.mean(state.baseline)), 1e-12)
    kind, change = None, None
    if state.ph.update(error / level):
        kind, change = "error", state.origins[-(state.ph.n - state.ph.argmin)]
    recent = values[max(0, now - config.window) : now]
    p = ks_pvalue(*_ks_inputs(state.reference, recent, config.ks_on)) if config.ks_alpha > 0 else 1.0
    if kind is None and p < config.ks_alpha:
        kind, change = "input", now - config.window
    if kind is None:
        return None
    state.ph.reset()
    state.baseline = []
    state.reference = recent
    begin = max(0, min(change, now - config.min_adapt))
    return {"time": now, "kind": kind, "change_point": change, "ks_pvalue": p, "adapt_start": begin, "adapt_end": now}


def monitor_stream(
    model: Forecaster,
    series: Sequence[np.ndarray],
    config: MonitorConfig,
    item_ids: Sequence[str] | None = None,
    progress: bool = True,
) -> MonitorReport:
    """Replay ``series`` as streams (aligned on their first value) and watch for drift.

    Parameters
    ----------
    model
        Any forecaster; all series due at an origin are forecast in one batch.
    series
        1-D float arrays, each a stream.
    config
        See :class:`MonitorConfig`.
    item_ids
        Names of the series, default their positions.

    Returns
    -------
    MonitorReport
        ``events`` columns ``item_id, origin, error, coverage_80``; ``alarms`` columns
        ``item_id, time, kind, change_point, ks_pvalue, adapt_start, adapt_end``; ``adaptation``
        maps each alarmed series to its latest ``(start, end)`` window.
    """
    streams = [np.asarray(s, dtype=np.float64) for s in series]
    ids = [str(x) for x in item_ids] if item_ids is not None else [str(i) for i in range(len(streams))]
    h = config.horizon
    if not streams or max(len(s) for s in streams) < config.start + h:
        raise InputError(
            f"the stream is too short: the first origin is at {config.start} and needs {h} values after it; "
            f"the longest series has {max((len(s) for s in streams), default=0)}"
        )
    states = {i: _SeriesState(config, s) for i, s in enumerate(streams) if len(s) >= config.start + h}
    events, alarms = [], []
    origins = range(config.start, max(len(s) for s in streams) - h + 1, config.stride)
    for t in tqdm(origins, desc="monitor", disable=not progress, unit="origin"):
        due = [i for i in states if len(streams[i]) >= t + h and np.isfinite(streams[i][:t]).any()]
        if not due:
            continue
        fc = model.predict_quantiles([streams[i][:t] for i in due], h, (0.1, 0.5, 0.9))
        for j, i in enumerate(due):
            y = streams[i][t : t + h]
            ok = np.isfinite(y)
            if not ok.any():
                continue
            error = float(np.mean(np.abs(y - fc.median[j])[ok])) / states[i].scale
            inside = (y >= fc.quantile(0.1)[j]) & (y <= fc.quantile(0.9)[j])
            events.append({"item_id": ids[i], "origin": t, "error": error, "coverage_80": float(inside[ok].mean())})
            alarm = _check(states[i], streams[i], t, error, config)
            if alarm is not None:
                alarms.append({"item_id": ids[i], **alarm})
    alarm_table = pd.DataFrame(
        alarms, columns=["item_id", "time", "kind", "change_point", "ks_pvalue", "adapt_start", "adapt_end"]
    )
    adaptation = {row.item_id: (int(row.adapt_start), int(row.adapt_end)) for row in alarm_table.itertuples()}
    return MonitorReport(pd.DataFrame(events), alarm_table, adaptation)
