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
    """Check a batch of series: a list of 1-D float arrays of at least :data:`MIN_LENGTH` values.

    Returns
    -------
    list[np.ndarray]
        One float64 1-D array per series (copies).
    """
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

    def fit(self, series: ContextLike, labels: Sequence) -> SeriesClassifier:
        """Learn from ``series`` (list of 1-D arrays) and ``labels`` (one per series); returns ``self``."""
        checked = validate_series(series)
        text = validate_labels(labels, len(checked), self.min_per_class)
        self.classes_ = np.array(sorted(set(text)), dtype=object)
        self._fit(checked, text)
        return self

    def predict_proba(self, series: ContextLike) -> np.ndarray:
        """Class probabilities ``[n_series, n_classes]``, columns in the order of ``classes_``."""
        if self.classes_ is None:
            raise InputError(f"{type(self).__name__} is not fitted; call fit(series, labels) first")
        proba = np.asarray(self._predict_proba(validate_series(series)), dtype=np.float64)
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
