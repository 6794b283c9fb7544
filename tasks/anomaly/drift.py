"""A drift-aware detector: per-channel scores against a reference that follows normal operation.

A short normal reference goes stale when the process drifts after it (on SKAB the temperatures
wander by several reference spreads within minutes), and a detector that compares new values with
the reference's level then alarms on the drift. :class:`DriftDetector` decides from the reference
alone, channel by channel, what the normal level is and how it may move:

- **Wandering channels**: most of the reference's variance is slow (the *low-frequency share*, the
  variance of a ``window``-step moving average over the variance, exceeds ``wander``). Such a
  channel's level is not something a short reference can calibrate, so the channel is scored by
  its one-step innovation: the distance to an exponentially smoothed level whose rate is fitted to
  the reference (least one-step squared error), in units of the reference's innovations. A drift is
  followed as it happens; a jump is still scored.
- **Stable channels**: the score is the distance to a baseline level in units of the reference's
  standard deviation. The baseline starts at the reference's mean and follows the data at rate
  ``track`` (an exponentially weighted mean, time constant ``1 / track`` steps) on points judged
  normal only: a point moves it when its ``|z|`` is within the reference's own ``1 - gate_alpha``
  quantile. A slow drift is followed; a fault, which takes the channel past that gate, is not
  absorbed and stays flagged for as long as it lasts.

Each channel's signed deviation is then smoothed by a causal exponentially weighted mean of span
``span`` (a level shift of a fraction of the noise becomes visible; a lone spike is damped) and
divided by the spread that smoothing leaves on the reference. The base class holds out the last
``calibration_fraction`` of the reference: each channel's scores there give its scale (their root
mean square, so quantised sensors, whose ``|z|`` barely varies, keep a sensible scale), channels are
fused by ``max``, and the threshold is the conformal ``1 - alpha`` quantile of the fused scores.
:meth:`Detection.drivers <tsfm.tasks.anomaly.base.Detection.drivers>` names the channels behind each
alarm, and :meth:`DriftDetector.describe_channels` says how each channel is scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import AnomalyDetector

# Rates tried when fitting a wandering channel's exponential smoothing to the reference.
_RATES = np.geomspace(0.01, 1.0, 41)
_BURN_IN = 10  # one-step errors of exponential smoothing left out while its level settles


def low_frequency_share(values: np.ndarray, window: int) -> float:
    """Share of the variance of ``values [time]`` that a ``window``-step moving average keeps, in [0, 1].

    About ``1 / window`` for white noise and near 1 for a random walk or a drift; NaNs are skipped.
    """
    finite = values[np.isfinite(values)]
    variance = finite.var() if finite.size else 0.0
    if finite.size < 2 * window or variance <= 0:
        return 0.0
    averaged = np.convolve(finite, np.ones(window) / window, mode="valid")
    return float(min(averaged.var() / variance, 1.0))


def smoothing_errors(values: np.ndarray, rate: float) -> np.ndarray:
    """One-step errors ``[time]`` of exponential smoothing at ``rate`` (NaN at the first value and at NaNs)."""
    errors = np.full(values.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0:
        return errors
    level = values[finite[0]]
    for t in finite[1:]:
        errors[t] = values[t] - level
        level += rate * errors[t]
    return errors


def fit_smoothing_rate(values: np.ndarray) -> float:
    """The exponential-smoothing rate in [0.01, 1] of least one-step squared error on ``values [time]``."""
    losses = [np.nanmean(smoothing_errors(values, rate)[_BURN_IN:] ** 2) for rate in _RATES]
    return float(_RATES[int(np.nanargmin(losses))])


def causal_ewma(values: np.ndarray, span: int) -> np.ndarray:
    """Causal exponentially weighted mean ``[time, k]`` of deviations ``values [time, k]``, rate ``2 / (span + 1)``.

    The mean starts at 0, the deviation expected of normal data (as an EWMA control chart starts at its
    target), so the first steps are not scored as if one deviation were a settled mean. A NaN leaves
    the running mean unchanged; steps before a column's first finite value stay NaN.
    """
    rate = 2.0 / (span + 1.0)
    out = np.full(values.shape, np.nan)
    running = np.zeros(values.shape[1])
    seen = np.zeros(values.shape[1], bool)
    for t in range(values.shape[0]):
        row = values[t]
        fresh = np.isfinite(row)
        running = np.where(fresh, running + rate * (np.where(fresh, row, 0.0) - running), running)
        seen |= fresh
        out[t] = np.where(seen, running, np.nan)
    return out


class DriftDetector(AnomalyDetector):
    """Per-channel z-scores against a level that follows normal operation (see the module docstring).

    Parameters
    ----------
    wander
        Low-frequency share of a channel's reference above which the channel is scored by its
        innovations; 1 scores every channel by its level.
    track
        Rate at which a stable channel's baseline follows points judged normal (0: the reference's
        mean, fixed).
    span
        Span of the causal exponentially weighted mean of each channel's signed deviation (1: none).
    gate_alpha
        A stable channel's point moves its baseline only when its ``|z|`` is at most the
        ``1 - gate_alpha`` quantile of the reference's.
    window
        Moving-average length of the low-frequency share.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options (``alpha``, ``smooth``,
        ``combine``, ``calibration_fraction``).
    """

    name = "drift"
    warmup = 2

    def __init__(
        self, *, wander: float = 0.3, track: float = 0.001, span: int = 5, gate_alpha: float = 0.01,
        window: int = 25, **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < wander <= 1.0:
            raise InputError(f"wander must be in (0, 1], got {wander!r}")
        if not 0.0 <= track < 1.0:
            raise InputError(f"track must be in [0, 1), got {track!r}")
        if not isinstance(span, int) or span < 1:
            raise InputError(f"span must be an integer >= 1, got {span!r}")
        if not 0.0 < gate_alpha < 1.0:
            raise InputError(f"gate_alpha must be in (0, 1), got {gate_alpha!r}")
        if not isinstance(window, int) or window < 2:
            raise InputError(f"window must be an integer >= 2, got {window!r}")
        self.wander, self.track, self.span, self.gate_alpha, self.window = wander, track, span, gate_alpha, window

    @property
    def min_reference(self) -> int:
        """Fewest reference steps: two moving-average windows in the fitted part, and a calibration part."""
        fitted = 2 * max(self.window, _BURN_IN, self.span)
        return max(super().min_reference, int(np.ceil(fitted / (1.0 - self.calibration_fraction))))

    def _fit(self, reference: np.ndarray) -> None:
        n_channels = reference.shape[1]
        self.share_ = np.zeros(n_channels)  # low-frequency share of each channel's reference
        self.wandering_ = np.zeros(n_channels, bool)
        self.rate_ = np.zeros(n_channels)  # exponential-smoothing rate of wandering channels
        self.level_ = np.zeros(n_channels)  # starting baseline of stable channels
        self.spread_ = np.ones(n_channels)
        self.gate_ = np.full(n_channels, np.inf)
        need = 2 * max(self.window, _BURN_IN, self.span)
        for c in range(n_channels):
            values = reference[:, c]
            finite = values[np.isfinite(values)]
            if finite.size < need:
                raise InputError(
                    f"reference channel {c} has {finite.size} values in the part the drift detector learns "
                    f"from; it needs at least {need} (two windows of {need // 2})"
                )
            if np.ptp(finite) <= 1e-12 * (abs(finite[0]) + 1.0):
                raise InputError(
                    f"reference channel {c} is constant ({finite[0]:g}): its z-score has no spread; "
                    "drop the channel or give a reference in which it moves"
                )
            self.share_[c] = low_frequency_share(values, self.window)
            self.wandering_[c] = self.share_[c] > self.wander
            if self.wandering_[c]:
                self.rate_[c] = fit_smoothing_rate(values)
                deviations = smoothing_errors(values, self.rate_[c])[_BURN_IN:]
                deviations = deviations[np.isfinite(deviations)]
            else:
                self.level_[c] = finite.mean()
                deviations = finite - self.level_[c]
            spread = float(np.sqrt(np.mean(deviations**2)))
            self.spread_[c] = spread if spread > 0 else 1.0
            self.gate_[c] = float(np.quantile(np.abs(deviations) / self.spread_[c], 1.0 - self.gate_alpha))
        self.smoothed_spread_ = np.ones(n_channels)
        if self.span > 1:
            smoothed = causal_ewma(self._deviations(reference), self.span)[self.span:]
            rms = np.sqrt(np.nanmean(smoothed**2, axis=0))
            self.smoothed_spread_ = np.where(np.isfinite(rms) & (rms > 1e-9), rms, 1.0)

    def _score(self, series: np.ndarray) -> np.ndarray:
        deviations = self._deviations(series)  # [time, channels], signed, in reference spreads
        if self.span > 1:
            deviations = causal_ewma(deviations, self.span) / self.smoothed_spread_
        return np.abs(deviations)

    def _channel_calibration(self, calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Scores are already in spreads: centre 0, scale the held-out root mean square. (A median and
        # MAD collapse on quantised sensors: a two-level flow meter gives |z| = 1 almost everywhere.)
        with np.errstate(all="ignore"):
            rms = np.sqrt(np.nanmean(calibration**2, axis=0))
        return np.zeros(calibration.shape[1]), np.where(np.isfinite(rms) & (rms > 1e-9), rms, 1.0)

    def _deviations(self, series: np.ndarray) -> np.ndarray:
        out = np.full(series.shape, np.nan)  # [time, channels]
        for c in range(series.shape[1]):
            if self.wandering_[c]:
                out[:, c] = smoothing_errors(series[:, c], self.rate_[c]) / self.spread_[c]
            else:
                out[:, c] = self._tracked(series[:, c], c)
        return out

    def _tracked(self, values: np.ndarray, c: int) -> np.ndarray:
        """Signed z ``[time]`` of a stable channel against its baseline, which follows points within the gate."""
        level, spread = self.level_[c], self.spread_[c]
        if self.track == 0.0:
            return (values - level) / spread
        out = np.full(values.shape, np.nan)
        rate, gate = self.track, self.gate_[c]
        for t in np.flatnonzero(np.isfinite(values)):
            deviation = values[t] - level
            out[t] = deviation / spread
            if abs(out[t]) <= gate:
                level += rate * deviation
        return out

    def describe_channels(self, names: Sequence[str] | None = None) -> list[str]:
        """One line per channel: scored by its level or by its innovations, and the share that decided."""
        if not hasattr(self, "wandering_"):
            raise InputError("drift detector is not fitted: call fit(reference) with normal data first")
        names = list(names) if names is not None else [f"channel {c}" for c in range(len(self.wandering_))]
        lines = []
        for c, name in enumerate(names):
            how = f"innovations (smoothing rate {self.rate_[c]:.2f})" if self.wandering_[c] else "level"
            lines.append(f"{name}: {how}, low-frequency share {self.share_[c]:.2f}")
        return lines
