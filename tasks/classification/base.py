"""The interface every classifier in this package fulfils, and its input checks.

:class:`SeriesClassifier` validates once, at the boundary, and calls the private hooks
``_fit`` and ``_predict_proba`` that each classifier implements, so a TSFM classifier and
a baseline fail the same way on the same bad input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence

import numpy as np

from tsfm.errors import InputError
from tsfm.validation import ContextLike, validate_context

MIN_LENGTH = 3  # shortest series accepted: the first-difference view needs at least two values


def validate_series(series: ContextLike, argument: str = "series") -> list[np.ndarray]:
    """Check a batch of series: 1-D float arrays of at least :data:`MIN_LENGTH` values, or multivariate ones.

    A multivariate batch is a list of 2-D arrays ``[n_channels, length]`` (or one 3-D array
    ``[n_series, n_channels, length]``, aeon's layout), every series with the same channels;
    each channel is checked as a univariate series.

    Returns
    -------
    list[np.ndarray]
        One float64 array per series (copies): 1-D, or ``[n_channels, length]`` when multivariate.
    """
    if _is_multichannel(series):
        return _validate_multichannel(series, argument)
    try:
        checked = validate_context(series, min_observations=1)
    except InputError as exc:
        raise InputError(f"{argument}: {exc}".replace("context", argument)) from None
    for i, values in enumerate(checked):
        if len(values) < MIN_LENGTH:
            raise InputError(
                f"{argument}[{i}] has length {len(values)}; every series needs at least {MIN_LENGTH} values"
            )
    return checked


def n_channels(series: list[np.ndarray]) -> int:
    """Channels of a validated batch: 1 for 1-D series, else the rows of each ``[n_channels, length]``."""
    return 1 if series[0].ndim == 1 else series[0].shape[0]


def channel(series: list[np.ndarray], c: int) -> list[np.ndarray]:
    """Channel ``c`` of every series of a validated multivariate batch (1-D arrays)."""
    return [values[c] for values in series]


def _is_multichannel(series: ContextLike) -> bool:
    if isinstance(series, np.ndarray):
        return series.ndim == 3
    return isinstance(series, list | tuple) and len(series) > 0 and np.ndim(series[0]) == 2


def _validate_multichannel(series: ContextLike, argument: str) -> list[np.ndarray]:
    items = [np.array(values, dtype=np.float64) for values in series]
    width = items[0].shape[0]
    for i, values in enumerate(items):
        if values.ndim != 2 or values.shape[0] != width:
            raise InputError(
                f"{argument}[{i}] has shape {values.shape}; every multivariate series needs shape "
                f"({width}, length), the channels of the first"
            )
    per_channel = [validate_series([v[c] for v in items], f"{argument} channel {c}") for c in range(width)]
    return [np.stack([per_channel[c][i] for c in range(width)]) for i in range(len(items))]


def validate_labels(labels: Sequence, n_series: int, min_per_class: int) -> np.ndarray:
    """Check training labels against the series: same count, two classes or more, enough per class.

    Returns
    -------
    np.ndarray
        ``[n_series]`` labels as strings (the CLI and the probability columns name classes by string).
    """
    values = np.asarray(labels, dtype=object)
    if values.ndim != 1:
        raise InputError(f"labels must be 1-D (one label per series), got shape {values.shape}")
    if len(values) != n_series:
        raise InputError(f"got {n_series} series but {len(values)} labels; pass exactly one label per series")
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
        raise InputError("labels contain missing values (None/NaN); every training series needs a label")
    text = np.array([str(v) for v in values], dtype=object)
    counts = Counter(text)
    if len(counts) < 2:
        raise InputError(
            f"labels hold a single class ({next(iter(counts))!r}); a classifier needs at least two classes"
        )
    scarce = {k: n for k, n in sorted(counts.items()) if n < min_per_class}
    if scarce:
        raise InputError(
            f"too few labelled series per class: {scarce}; each class needs at least {min_per_class} "
            "(lower min_per_class for one-shot use)"
        )
    return text


def check_informative(series: list[np.ndarray], names: Sequence[str] | None = None) -> None:
    """Refuse training series of which a channel is constant (or missing) in every series: it cannot tell classes apart.

    ``names`` name the channels in the message (the CLI passes its ``--target`` columns).
    """
    for c in range(n_channels(series)):
        values = channel(series, c) if series[0].ndim == 2 else series
        with np.errstate(invalid="ignore"):
            flat = all(np.nanmax(v) == np.nanmin(v) if np.isfinite(v).any() else True for v in values)
        if flat:
            what = f"channel {names[c]!r}" if names else (f"channel {c}" if series[0].ndim == 2 else "the series")
            raise InputError(f"{what} is constant in every training series, so it cannot separate classes; "
                             "drop that channel or check the file")


class SeriesClassifier(ABC):
    """Fit on labelled series, predict labels and class probabilities for new ones.

    Parameters
    ----------
    min_per_class
        Fewest labelled series each class needs in :meth:`fit`.
    """

    def __init__(self, min_per_class: int = 2) -> None:
        if not isinstance(min_per_class, int) or min_per_class < 1:
            raise InputError(f"min_per_class must be an integer >= 1, got {min_per_class!r}")
        self.min_per_class = min_per_class
        self.classes_: np.ndarray | None = None
        self.n_channels_ = 1

    def fit(self, series: ContextLike, labels: Sequence) -> SeriesClassifier:
        """Learn from ``series`` (list of 1-D arrays) and ``labels`` (one per series); returns ``self``."""
        checked = validate_series(series)
        text = validate_labels(labels, len(checked), self.min_per_class)
        check_informative(checked)
        self.classes_ = np.array(sorted(set(text)), dtype=object)
        self.n_channels_ = n_channels(checked)
        self._fit(checked, text)
        return self

    def predict_proba(self, series: ContextLike) -> np.ndarray:
        """Class probabilities ``[n_series, n_classes]``, columns in the order of ``classes_``."""
        if self.classes_ is None:
            raise InputError(f"{type(self).__name__} is not fitted; call fit(series, labels) first")
        checked = validate_series(series)
        if n_channels(checked) != self.n_channels_:
            raise InputError(
                f"the classifier was fitted on {self.n_channels_} channel(s), got series with {n_channels(checked)}"
            )
        proba = np.asarray(self._predict_proba(checked), dtype=np.float64)
        return proba  # [n_series, n_classes]

    def predict(self, series: ContextLike) -> np.ndarray:
        """Most probable class of each series: ``[n_series]`` strings from ``classes_``."""
        proba = self.predict_proba(series)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, series: ContextLike, labels: Sequence) -> float:
        """Accuracy on labelled series."""
        truth = np.array([str(v) for v in labels], dtype=object)
        return float(np.mean(self.predict(series) == truth))

    @abstractmethod
    def _fit(self, series: list[np.ndarray], labels: np.ndarray) -> None:
        """Learn from validated series and string labels; ``classes_`` is already set."""

    @abstractmethod
    def _predict_proba(self, series: list[np.ndarray]) -> np.ndarray:
        """Return ``[n_series, n_classes]`` probabilities for validated series."""
