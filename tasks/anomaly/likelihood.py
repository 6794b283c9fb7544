"""A streaming detector for univariate metrics with short anomalies: windowed surprise, then its likelihood.

Built for streams like NAB's (server metrics, traffic, sensor feeds): no clean reference beyond a
short probationary start, regimes that change, anomalies that last minutes. Each channel is scored
in two causal stages:

1. **Surprise**: how many standard deviations ``x_t`` lies from the mean of the ``window`` values
   before it (a windowed Gaussian).
2. **Likelihood of the recent surprise**: the mean surprise over the last ``short`` steps,
   standardised by the mean and standard deviation of the surprise over the ``long`` steps before
   them. A metric that is always noisy has a high surprise all the time, so only a change in its
   surprise stands out; this is the idea of Numenta's anomaly likelihood (Ahmad et al. 2017), here
   as a z-score rather than a tail probability, so that it does not saturate at 1.

The scores are already in standard units, so the reference is used only for the threshold, not to
rescale the channels. Alarms are onsets: after an alarm, the next ``refractory`` steps raise none
(:meth:`~tsfm.tasks.anomaly.base.AnomalyDetector.alarms`), so a long excursion is one alarm rather
than hundreds.

The settings (``window`` 6400, ``long`` 5000, ``short`` 10, ``refractory`` 100) were chosen on the
NAB corpus by two-fold validation over its files (``tsfm detect-bench nab --validate``; see the
README), among windows of 2,000 and 6,400, likelihood spans 1000/5, 2000/10, 5000/10, 2000/20 and
refractory periods of 50, 100 and 200 steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import AnomalyDetector

MIN_WINDOW_VALUES = 20  # values before t that a surprise needs
MIN_LONG_VALUES = 40  # surprises that the likelihood's long statistics need
TINY = 1e-9


class LikelihoodDetector(AnomalyDetector):
    """Windowed-Gaussian surprise of each value, standardised against the surprise's own recent past.

    Parameters
    ----------
    window
        Values before ``t`` whose mean and standard deviation give the surprise at ``t``.
    long, short
        The likelihood compares the mean surprise over the last ``short`` steps with the mean and
        standard deviation of the surprise over the ``long`` steps before them.
    refractory
        Steps after an alarm that raise none (default 100).
    **kwargs
        ``combine``, ``alpha``, ``smooth`` of :class:`~tsfm.tasks.anomaly.base.AnomalyDetector`.
    """

    name = "likelihood"
    learns = False
    warmup = MIN_WINDOW_VALUES + MIN_LONG_VALUES + 10  # the first score, at the default short span

    def __init__(self, window: int = 6400, long: int = 5000, short: int = 10, refractory: int = 100,
                 **kwargs) -> None:
        super().__init__(refractory=refractory, **kwargs)
        for label, value, low in (("window", window, MIN_WINDOW_VALUES), ("long", long, MIN_LONG_VALUES),
                                  ("short", short, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{label} must be an integer >= {low}, got {value!r}")
        self.window, self.long, self.short = window, long, short

    def _score(self, series: np.ndarray) -> np.ndarray:
        return np.column_stack([self._channel(series[:, c]) for c in range(series.shape[1])])

    def _channel(self, values: np.ndarray) -> np.ndarray:
        x = pd.Series(values)
        past = x.rolling(self.window, min_periods=MIN_WINDOW_VALUES)
        mean, std = past.mean().shift(1), past.std().shift(1)
        # a flat past makes any change a large surprise, and no change none (tiny: 1e-9 of the level)
        surprise = (x - mean).abs() / (std + TINY * (mean.abs() + 1.0))
        surprise = surprise.where(mean.isna() | x.notna(), 0.0)  # a missing value surprises no one
        before = surprise.rolling(self.long, min_periods=MIN_LONG_VALUES)
        centre, spread = before.mean().shift(self.short), before.std().shift(self.short)
        recent = surprise.rolling(self.short, min_periods=1).mean()
        return ((recent - centre) / (spread + TINY)).to_numpy(np.float64)

    def _channel_calibration(self, calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores are z-scores already: every channel keeps centre 0 and scale 1."""
        k = calibration.shape[1]
        return np.zeros(k), np.ones(k)
