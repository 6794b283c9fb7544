"""The detector interface: fit on a normal reference, score a series, threshold the scores.

Every detector, TSFM-based or classical, is an :class:`AnomalyDetector`. Its public
methods are final in spirit: they validate the input once, call the private hooks a
detector implements, and do the parts every detector shares the same way:

1. ``fit(reference)``: the reference is normal operation, ``[time]`` or ``[time, channels]``.
   A detector that learns (a kNN bank, an isolation forest) learns on the first part of it
   and the rest is held out to calibrate; one that learns nothing calibrates on all of it.
2. Calibration: each channel's raw scores on the held-out part give that channel's centre
   (median) and scale (median absolute deviation), so channels with different units become
   comparable; channels are then combined by ``max`` or ``mean`` into one score per time step.
3. Threshold: without labels, the conformal ``(1 - alpha)`` quantile of the calibration
   scores, so about ``alpha`` of normal points are flagged; with labels,
   :meth:`AnomalyDetector.tune_threshold` picks the threshold of best F1 on a labelled series.

Scores are causal: the score at ``t`` uses the series up to and including ``t`` only, so
the same detector runs on a stream. Time steps with too little history score 0.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsfm.errors import InputError
from tsfm.tasks.anomaly.thresholds import best_f1_threshold, conformal_threshold

COMBINE_CHOICES = ("max", "mean")


@dataclass(frozen=True)
class Detection:
    """Scores and alarms for one series.

    Attributes
    ----------
    scores
        ``[time]`` combined, calibrated anomaly score (0 where history was too short).
    is_anomaly
        ``[time]`` bool, ``scores > threshold`` (less the steps a refractory period mutes).
    threshold
        The threshold applied.
    channel_scores
        ``[time, k]`` calibrated per-channel scores before combination (``k`` is the number
        of channels, or 1 for detectors that score all channels jointly).
    """

    scores: np.ndarray
    is_anomaly: np.ndarray
    threshold: float
    channel_scores: np.ndarray

    def drivers(self, names: Sequence[str] | None = None, top: int = 3) -> list[str]:
        """The channels behind each alarm: ``[time]`` strings, ``""`` where there is none.

        At an alarm, the channels whose calibrated score exceeds the threshold, highest first (the
        highest one alone when none does, as under ``combine="mean"``), at most ``top``, joined by
        ``"+"``. ``names`` label the channels (default ``"0"``, ``"1"``, ...). A detector that scores
        all channels jointly (one column of channel scores) names them all.
        """
        n_columns = self.channel_scores.shape[1]
        if names is None:
            names = [str(c) for c in range(n_columns)]
        names = list(names)
        if n_columns == 1 and len(names) > 1:
            joint = "+".join(names)
            return [joint if flag else "" for flag in self.is_anomaly]
        if len(names) != n_columns:
            raise InputError(f"{len(names)} channel names for {n_columns} channels of scores")
        out = [""] * len(self.is_anomaly)
        for t in np.flatnonzero(self.is_anomaly):
            row = self.channel_scores[t]
            order = np.argsort(-row, kind="stable")
            above = [c for c in order if row[c] > self.threshold] or [int(order[0])]
            out[t] = "+".join(names[c] for c in above[:top])
        return out


def robust_spread(values: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Per-column spread ``[k]`` of ``values [time, k]`` around ``centre [k]``, never zero.

    The median absolute deviation (x 1.4826, the standard deviation under normality). Where
    more than half the values equal the centre (a score that is 0 inside a forecast band, a
    sensor that rarely moves) the MAD is 0, and the mean absolute deviation (x 1.2533) is used
    instead; a column that never moves gets 1, so its scores stay in the data's own units.
    """
    deviation = np.abs(values - centre)
    with warnings.catch_warnings():  # all-NaN columns: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mad = 1.4826 * np.nanmedian(deviation, axis=0)
        mean_dev = 1.2533 * np.nanmean(deviation, axis=0)
    tiny = 1e-12 * (np.abs(np.nan_to_num(centre)) + 1.0)
    spread = np.where(np.isfinite(mad) & (mad > tiny), mad, mean_dev)
    return np.where(np.isfinite(spread) & (spread > tiny), spread, 1.0)


def as_matrix(values: object, what: str, n_channels: int | None = None) -> np.ndarray:
    """Validate ``[time]`` or ``[time, channels]`` numbers into a float64 ``[time, channels]`` array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers shaped [time] or [time, channels]") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{what} must be shaped [time] or [time, channels] and non-empty, got {array.shape}")
    if np.isinf(array).any():
        raise InputError(f"{what} contains inf; use NaN for missing values")
    if np.isnan(array).all(axis=0).any():
        raise InputError(f"{what} has a channel that is entirely NaN")
    if n_channels is not None and array.shape[1] != n_channels:
        raise InputError(
            f"{what} has {array.shape[1]} channel(s) but the detector was fitted on {n_channels}; "
            "pass the same columns in the same order"
        )
    return array


class AnomalyDetector(ABC):
    """Base class: subclasses implement ``_fit`` (optional) and ``_score``.

    Parameters
    ----------
    combine
        How per-channel calibrated scores become one: ``"max"`` or ``"mean"``.
    alpha
        Target false-alarm rate of the label-free threshold, in (0, 1).
    smooth
        Length of the causal moving average applied to the combined score (1: none);
        longer values trade alarm delay for fewer isolated false alarms.
    calibration_fraction
        Share of the reference held out to calibrate, for detectors that learn
        (``learns = True``); the others calibrate on the whole reference.
    refractory
        Steps after an alarm that raise none (:meth:`alarms`); 0 (the default): every step above
        the threshold is an alarm.

    Class attributes a detector sets: ``name``, ``learns`` (whether ``_fit`` uses data),
    ``warmup`` (time steps of history the first score needs).
    """

    name: str = "detector"
    learns: bool = True
    warmup: int = 1

    def __init__(
        self, *, combine: str = "max", alpha: float = 0.01, smooth: int = 1, calibration_fraction: float = 0.3,
        refractory: int = 0,
    ) -> None:
        if combine not in COMBINE_CHOICES:
            raise InputError(f"combine must be one of {COMBINE_CHOICES}, got {combine!r}")
        if not 0.0 < alpha < 1.0:
            raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
        if not isinstance(smooth, int) or smooth < 1:
            raise InputError(f"smooth must be an integer >= 1, got {smooth!r}")
        if not 0.05 <= calibration_fraction <= 0.95:
            raise InputError(f"calibration_fraction must be in [0.05, 0.95], got {calibration_fraction!r}")
        if isinstance(refractory, bool) or not isinstance(refractory, int) or refractory < 0:
            raise InputError(f"refractory must be an integer >= 0, got {refractory!r}")
        self.refractory = refractory
        self.combine = combine
        self.alpha = alpha
        self.smooth = smooth
        self.calibration_fraction = calibration_fraction
        self.threshold_: float | None = None
        self.n_channels_: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def min_reference(self) -> int:
        """Fewest reference time steps :meth:`fit` accepts."""
        held_out = 2 * self.warmup + 10
        return int(np.ceil(held_out / self.calibration_fraction)) if self.learns else held_out

    def fit(self, reference: object) -> AnomalyDetector:
        """Learn normal behaviour from ``reference`` ``[time]`` or ``[time, channels]``; returns ``self``."""
        ref = as_matrix(reference, "reference")
        if ref.shape[0] < self.min_reference:
            raise InputError(
                f"reference has {ref.shape[0]} time steps; {self.name} needs at least {self.min_reference} "
                f"(warm-up {self.warmup} plus a held-out calibration part)"
            )
        self.n_channels_ = ref.shape[1]
        n_fit = int(round(ref.shape[0] * (1.0 - self.calibration_fraction))) if self.learns else 0
        if self.learns:
            self._fit(ref[:n_fit])
        raw = self._score(ref)  # [time, k]
        # Windows that end just after the fitted part nearly repeat its last windows: skip them.
        calibration = raw[n_fit + (self.warmup if self.learns else 0):]
        self._centre, self._scale = self._channel_calibration(calibration)
        combined = self._combine(self._calibrate(calibration))
        self.calibration_scores_ = combined[np.isfinite(combined)]
        if self.calibration_scores_.size == 0:
            raise InputError(f"reference too short for {self.name}: no time step could be scored")
        self.threshold_ = conformal_threshold(self.calibration_scores_, self.alpha)
        return self

    def score(self, series: object) -> np.ndarray:
        """Combined calibrated anomaly scores ``[time]`` of ``series`` (same channels as the reference)."""
        return self.detect(series).scores

    def detect(self, series: object) -> Detection:
        """Scores, alarms and per-channel scores of ``series`` ``[time]`` or ``[time, channels]``."""
        if self.threshold_ is None:
            raise InputError(f"{self.name} is not fitted: call fit(reference) with normal data first")
        values = as_matrix(series, "series", self.n_channels_)
        channels = self._calibrate(self._score(values))  # [time, k]
        combined = self._combine(channels)
        scores = np.nan_to_num(combined, nan=0.0)
        return Detection(
            scores=scores,
            is_anomaly=self.alarms(scores),
            threshold=float(self.threshold_),
            channel_scores=np.nan_to_num(channels, nan=0.0),
        )

    def alarms(self, scores: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Alarms ``[time]`` for combined ``scores``: steps above ``threshold`` (default the fitted one),
        less those within ``refractory`` steps after an earlier alarm (:func:`onsets`)."""
        above = np.asarray(scores) > (self.threshold_ if threshold is None else threshold)
        return onsets(above, self.refractory)

    def tune_threshold(self, series: object, labels: object) -> float:
        """Set the threshold of best point-wise F1 on a labelled series; returns it."""
        scores = self.score(series)
        truth = np.asarray(labels)
        if truth.shape != scores.shape:
            raise InputError(f"labels must have one entry per time step ({scores.shape[0]}), got shape {truth.shape}")
        self.threshold_ = best_f1_threshold(scores, truth.astype(bool))
        return self.threshold_

    def _channel_calibration(self, calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each channel's centre and scale ``[k]`` from its raw scores on the held-out part ``[time, k]``:
        the median and the robust spread, so that channels in different units become comparable."""
        centre = np.nanmedian(calibration, axis=0)  # [k]
        scale = robust_spread(calibration, centre)
        return np.where(np.isfinite(centre), centre, 0.0), scale

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self._centre) / self._scale  # [time, k]

    def _combine(self, channels: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (too little history) stay NaN
            if self.combine == "max":
                all_nan = np.isnan(channels).all(axis=1)
                combined = np.where(all_nan, np.nan, np.nanmax(np.where(np.isnan(channels), -np.inf, channels), 1))
            else:
                combined = np.nanmean(channels, axis=1)
        return causal_mean(combined, self.smooth)

    def _fit(self, reference: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Learn from the first part of the reference ``[time, channels]``."""

    @abstractmethod
    def _score(self, series: np.ndarray) -> np.ndarray:
        """Raw causal scores ``[time, k]`` of ``series [time, channels]``; NaN where history is too short."""


def onsets(above: np.ndarray, refractory: int) -> np.ndarray:
    """``above [time]`` less every step within ``refractory`` steps after a kept one (all kept for 0).

    A step is kept when it is above and more than ``refractory`` steps after the last kept step,
    so an excursion longer than ``refractory`` raises one alarm per ``refractory + 1`` steps.
    """
    above = np.asarray(above, dtype=bool)
    if refractory == 0:
        return above
    kept = np.zeros_like(above)
    last = -refractory - 1
    for t in np.flatnonzero(above):
        if t - last > refractory:
            kept[t] = True
            last = t
    return kept


def causal_mean(values: np.ndarray, length: int) -> np.ndarray:
    """Moving average of ``values [time]`` over the last ``length`` finite steps (NaN where none)."""
    if length <= 1:
        return values
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    sums[length:] = sums[length:] - sums[:-length].copy()
    counts[length:] = counts[length:] - counts[:-length].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def window_matrix(values: np.ndarray, length: int) -> np.ndarray:
    """Windows of ``values [time]`` ending at each step ``length-1 .. time-1``: ``[time - length + 1, length]``."""
    return np.lib.stride_tricks.sliding_window_view(values, length)
