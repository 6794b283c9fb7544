"""Light classification heads on fixed-length features, chosen by name.

Each head standardises the features, then fits a scikit-learn model; all give class
probabilities, so every classifier in this package can return ``predict_proba``:

- ``logistic``: multinomial logistic regression (L2, ``C=1``);
- ``ridge``: ridge classifier with the penalty picked by leave-one-out over a log grid,
  the usual head on random-convolution features; probabilities are the softmax of its scores
  (they rank classes but are not calibrated);
- ``knn``: k nearest neighbours on cosine distance, ``k = min(5, smallest class size)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsfm.errors import InputError

HEADS = ("logistic", "ridge", "knn")


class Head:
    """A named head: ``fit(features [n, D], labels [n])``, ``predict_proba(features) -> [n, n_classes]``.

    Parameters
    ----------
    name
        One of :data:`HEADS`.
    """

    def __init__(self, name: str) -> None:
        if name not in HEADS:
            raise InputError(f"unknown head {name!r}; known heads: {', '.join(HEADS)}")
        self.name = name
        self.model: Any = None

    def fit(self, features: np.ndarray, labels: np.ndarray) -> Head:
        """Fit on ``features [n, D]`` and string ``labels [n]``; classes are sorted as in sklearn."""
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), self._estimator(labels))
        self.model.fit(features, labels)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``[n, n_classes]`` probabilities, columns in sorted class order."""
        if self.name == "ridge":
            scores = np.atleast_2d(self.model.decision_function(features))
            if scores.shape[0] != len(features):  # binary: one score column
                scores = scores.T
            if scores.shape[1] == 1:
                scores = np.concatenate([-scores, scores], axis=1)
            return _softmax(scores)
        return self.model.predict_proba(features)

    def _estimator(self, labels: np.ndarray) -> Any:
        from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
        from sklearn.neighbors import KNeighborsClassifier

        if self.name == "logistic":
            return LogisticRegression(C=1.0, max_iter=5000)
        if self.name == "ridge":
            return RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
        smallest = int(np.unique(labels, return_counts=True)[1].min())
        return KNeighborsClassifier(n_neighbors=max(1, min(5, smallest)), metric="cosine", weights="distance")


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)
