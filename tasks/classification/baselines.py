"""Classical baselines behind the classifier interface: aeon's MiniRocket, RDST and 1-NN DTW.

All need equal-length, gap-free input, so every series is first brought to one common
length (the longest training series) by linear interpolation over its observed values;
equal-length data without gaps passes through unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tsfm.tasks.classification.base import SeriesClassifier


def to_panel(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[n_series, n_channels, length]`` array: NaN filled by interpolation, each channel resampled to ``length``.

    1-D series are one channel; multivariate ones are ``[n_channels, length]`` each.
    """
    rows = [np.atleast_2d(values) for values in series]
    panel = np.empty((len(rows), rows[0].shape[0], length))
    for i, channels in enumerate(rows):
        for c, values in enumerate(channels):
            t = np.arange(len(values))
            observed = np.isfinite(values)
            filled = np.interp(t, t[observed], values[observed])
            if len(filled) != length:
                filled = np.interp(np.linspace(0, len(filled) - 1, length), t, filled)
            panel[i, c] = filled
    return panel


class _AeonBaseline(SeriesClassifier):
    def __init__(self, min_per_class: int = 2) -> None:
        super().__init__(min_per_class)
        self.length = 0
        self.estimator: Any = None

    def _fit(self, series: list[np.ndarray], labels: np.ndarray) -> None:
        self.length = max(s.shape[-1] for s in series)
        self.estimator = self._make()
        self.estimator.fit(to_panel(series, self.length), labels.astype(str))

    def _predict_proba(self, series: list[np.ndarray]) -> np.ndarray:
        proba = self.estimator.predict_proba(to_panel(series, self.length))  # columns: estimator's classes
        order = [list(self.estimator.classes_).index(c) for c in self.classes_]
        return proba[:, order]

    def _make(self) -> Any:
        raise NotImplementedError


class MiniRocketBaseline(_AeonBaseline):
    """aeon's ``MiniRocketClassifier`` (10,000 kernels, ridge head), the TSC accuracy reference.

    Parameters
    ----------
    n_kernels
        Number of convolution kernels.
    random_state
        Seed of the kernel biases (results vary a little with it).
    min_per_class
        Fewest labelled series each class needs.
    """

    def __init__(self, n_kernels: int = 10_000, random_state: int | None = 0, min_per_class: int = 2) -> None:
        super().__init__(min_per_class)
        self.n_kernels = n_kernels
        self.random_state = random_state

    def _make(self) -> Any:
        from aeon.classification.convolution_based import MiniRocketClassifier

        return MiniRocketClassifier(n_kernels=self.n_kernels, random_state=self.random_state)


class RdstBaseline(_AeonBaseline):
    """aeon's ``RDSTClassifier``: random dilated shapelets (10,000 by default), ridge head.

    A shapelet baseline beside MiniRocket's convolutions: on the five default UCR sets it is
    the strongest classical method this project measured (README, Classification). Its shapelets
    are drawn with the training labels, so it is refitted for every fold or draw.

    Parameters
    ----------
    max_shapelets
        Most shapelets drawn.
    random_state
        Seed of the shapelet draw.
    min_per_class
        Fewest labelled series each class needs.
    """

    def __init__(self, max_shapelets: int = 10_000, random_state: int | None = 0, min_per_class: int = 2) -> None:
        super().__init__(min_per_class)
        self.max_shapelets = max_shapelets
        self.random_state = random_state

    def _make(self) -> Any:
        from aeon.classification.shapelet_based import RDSTClassifier

        return RDSTClassifier(max_shapelets=self.max_shapelets, random_state=self.random_state, n_jobs=1)

    # aeon warns whenever a shapelet's features come out inf or NaN and it sets them to 0, which is
    # its designed handling (a shapelet that never matches); one warning per call says nothing to a user.
    def _fit(self, series: list[np.ndarray], labels: np.ndarray) -> None:
        with _quiet_shapelets():
            super()._fit(series, labels)

    def _predict_proba(self, series: list[np.ndarray]) -> np.ndarray:
        with _quiet_shapelets():
            return super()._predict_proba(series)


@contextmanager
def _quiet_shapelets() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some invalid values .* shapelet transformation")
        yield


class DtwBaseline(_AeonBaseline):
    """aeon's 1-nearest-neighbour classifier with dynamic time warping.

    Parameters
    ----------
    window
        Sakoe-Chiba band as a fraction of the length (0.1 = 10%; 1.0 = unconstrained). A band
        keeps long series tractable; the UCR archive's learned windows are 0-10% on these sets.
    min_per_class
        Fewest labelled series each class needs.
    """

    def __init__(self, window: float = 0.1, min_per_class: int = 2) -> None:
        super().__init__(min_per_class)
        self.window = window

    def _make(self) -> Any:
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

        return KNeighborsTimeSeriesClassifier(distance="dtw", distance_params={"window": self.window}, n_neighbors=1)
