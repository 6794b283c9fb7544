"""Classical detectors behind the same interface as the TSFM ones.

- :class:`ZScoreDetector`: distance to the reference's centre in units of its spread
  (mean/std, or median/MAD when ``robust``), per channel.
- :class:`IsolationForestDetector`: scikit-learn's isolation forest on all channels at once
  (optionally on a window of lags), the baseline of SKAB's leaderboard.
- :class:`MatrixProfileDetector`: the matrix-profile AB-join against the reference: the
  distance of each subsequence to its nearest neighbour among reference subsequences
  (z-normalised by default). aeon's ``STOMP`` computes the self-join of one series and needs
  ``stumpy``, which this project does not install; the AB-join is the form that uses a
  normal reference, and is computed here exactly with scikit-learn's nearest neighbours.
- :func:`residual_detector`: a :class:`~tsfm.tasks.anomaly.detectors.ForecastDetector` on a
  classical forecaster (seasonal naive by default).
"""

from __future__ import annotations

import numpy as np

from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import AnomalyDetector, robust_spread, window_matrix
from tsfm.tasks.anomaly.detectors import ForecastDetector


class ZScoreDetector(AnomalyDetector):
    """Per-channel ``|x - centre| / spread`` with the reference's centre and spread.

    Parameters
    ----------
    robust
        Median and MAD (True) or mean and standard deviation (False).
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options.
    """

    def __init__(self, *, robust: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.robust = robust
        self.name = "robust-zscore" if robust else "zscore"

    def _fit(self, reference: np.ndarray) -> None:
        if self.robust:
            self._mid = np.nanmedian(reference, axis=0)
            self._spread = robust_spread(reference, self._mid)
        else:
            self._mid = np.nanmean(reference, axis=0)
            spread = np.nanstd(reference, axis=0)
            self._spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)

    def _score(self, series: np.ndarray) -> np.ndarray:
        return np.abs(series - self._mid) / self._spread  # [time, channels]


class IsolationForestDetector(AnomalyDetector):
    """Isolation forest on the vector of all channels (and ``window - 1`` lags) at each step.

    Parameters
    ----------
    window
        Time steps per feature vector (1: the current values only).
    n_estimators, random_state
        Passed to :class:`sklearn.ensemble.IsolationForest`.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options.
    """

    name = "isolation-forest"

    def __init__(self, *, window: int = 1, n_estimators: int = 200, random_state: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if not isinstance(window, int) or window < 1:
            raise InputError(f"window must be an integer >= 1, got {window!r}")
        self.warmup, self.n_estimators, self.random_state = window, n_estimators, random_state

    def _features(self, series: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(series), self._fill, series)
        windows = np.lib.stride_tricks.sliding_window_view(filled, self.warmup, axis=0)  # [n, ch, window]
        return windows.reshape(windows.shape[0], -1)

    def _fit(self, reference: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self._fill = np.nanmedian(reference, axis=0)
        self._forest = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
        self._forest.fit(self._features(reference))

    def _score(self, series: np.ndarray) -> np.ndarray:
        scores = np.full((series.shape[0], 1), np.nan)  # [time, 1]: all channels scored jointly
        if series.shape[0] >= self.warmup:
            scores[self.warmup - 1:, 0] = -self._forest.score_samples(self._features(series))
        return scores


class MatrixProfileDetector(AnomalyDetector):
    """Matrix-profile AB-join: nearest-neighbour distance of each subsequence to the reference's.

    Parameters
    ----------
    window
        Subsequence length; the subsequence ending at ``t`` scores ``t``.
    normalize
        Z-normalise each subsequence (the classic matrix profile; blind to level shifts)
        or compare raw values.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options.
    """

    def __init__(self, *, window: int = 32, normalize: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if not isinstance(window, int) or window < 3:
            raise InputError(f"window must be an integer >= 3, got {window!r}")
        self.warmup, self.normalize = window, normalize
        self.name = "matrix-profile" if normalize else "matrix-profile-raw"

    def _subsequences(self, values: np.ndarray) -> np.ndarray:
        windows = window_matrix(values, self.warmup)
        fill = np.nanmean(windows, axis=1, keepdims=True)
        windows = np.where(np.isnan(windows), fill, windows)
        if self.normalize:
            std = windows.std(axis=1, keepdims=True)
            windows = (windows - windows.mean(axis=1, keepdims=True)) / np.where(std > 1e-8, std, 1.0)
        return windows

    def _fit(self, reference: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._banks = []
        for c in range(reference.shape[1]):
            bank = self._subsequences(reference[:, c])
            self._banks.append(NearestNeighbors(n_neighbors=1).fit(bank[np.isfinite(bank).all(axis=1)]))

    def _score(self, series: np.ndarray) -> np.ndarray:
        scores = np.full(series.shape, np.nan)  # [time, channels]
        if series.shape[0] < self.warmup:
            return scores
        for c in range(series.shape[1]):
            subsequences = self._subsequences(series[:, c])
            ok = np.flatnonzero(np.isfinite(subsequences).all(axis=1))
            if ok.size:
                distances, _ = self._banks[c].kneighbors(subsequences[ok])
                scores[ok + self.warmup - 1, c] = distances[:, 0]
        return scores


def residual_detector(
    model: str = "seasonal-naive", *, season_length: int = 1, horizon: int = 8, **kwargs: object
) -> ForecastDetector:
    """A forecast-residual detector on a classical ``tsfm`` baseline (e.g. seasonal naive, auto-ets).

    Classical models are fitted once per context, so origins are ``horizon`` steps apart.
    """
    return ForecastDetector(model, season_length=season_length, horizon=horizon, **kwargs)
