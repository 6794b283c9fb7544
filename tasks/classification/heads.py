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

    After :meth:`fit` the head is plain arrays (:meth:`state`): the scaler's ``mean [D]`` and
    ``scale [D]``, then ``coef [n_classes or 1, D]`` and ``intercept`` for the linear heads or
    the standardised training ``features [n, D]`` and their class ``codes [n]`` for ``knn``.
    Predictions are computed from those arrays, so a head rebuilt by :meth:`from_state` (from a
    saved classifier folder) predicts exactly as the one that was fitted.

    Parameters
    ----------
    name
        One of :data:`HEADS`.
    """

    def __init__(self, name: str) -> None:
        if name not in HEADS:
            raise InputError(f"unknown head {name!r}; known heads: {', '.join(HEADS)}")
        self.name = name
        self.arrays: dict[str, np.ndarray] = {}
        self._knn: Any = None

    def fit(self, features: np.ndarray, labels: np.ndarray) -> Head:
        """Fit on ``features [n, D]`` and string ``labels [n]``; classes are sorted as in sklearn."""
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(features)
        scaled = scaler.transform(features)  # [n, D]
        arrays = {"mean": scaler.mean_, "scale": scaler.scale_}
        if self.name == "knn":
            classes = np.array(sorted(set(labels)), dtype=object)
            arrays |= {"features": scaled, "codes": np.searchsorted(classes, labels)}
        else:
            estimator = self._estimator().fit(scaled, labels)
            arrays |= {"coef": np.atleast_2d(estimator.coef_), "intercept": np.atleast_1d(estimator.intercept_)}
        self._set(arrays)
        return self

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays (float64; ``codes`` int64), enough to rebuild the head."""
        if not self.arrays:
            raise InputError("the head is not fitted; call fit(features, labels) first")
        return dict(self.arrays)

    @classmethod
    def from_state(cls, name: str, arrays: dict[str, np.ndarray], n_classes: int) -> Head:
        """A fitted head from :meth:`state`'s arrays; shapes and values are checked first."""
        head = cls(name)
        check_state(name, arrays, n_classes)
        head._set(arrays)
        return head

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``[n, n_classes]`` probabilities, columns in sorted class order."""
        width = self.arrays["mean"].shape[0]
        if features.ndim != 2 or features.shape[1] != width:
            raise InputError(
                f"the head was fitted on {width} features per series, got {features.shape[-1]}; "
                "embed with the model, views and channels it was fitted with"
            )
        scaled = (features - self.arrays["mean"]) / self.arrays["scale"]  # [n, D]
        if self.name == "knn":
            return self._knn.predict_proba(scaled)
        scores = scaled @ self.arrays["coef"].T + self.arrays["intercept"]  # [n, n_classes or 1]
        if scores.shape[1] > 1:
            return _softmax(scores)
        if self.name == "logistic":  # binary logistic regression: sklearn's sigmoid of one score
            positive = 1.0 / (1.0 + np.exp(-np.clip(scores, -500.0, 500.0)))  # no overflow warning
            return np.concatenate([1.0 - positive, positive], axis=1)
        return _softmax(np.concatenate([-scores, scores], axis=1))

    def _set(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = {k: np.asarray(v, dtype=np.int64 if k == "codes" else np.float64) for k, v in arrays.items()}
        if self.name == "knn":
            from sklearn.neighbors import KNeighborsClassifier

            codes = self.arrays["codes"]
            smallest = int(np.bincount(codes).min())
            self._knn = KNeighborsClassifier(n_neighbors=max(1, min(5, smallest)), metric="cosine", weights="distance")
            self._knn.fit(self.arrays["features"], codes)

    def _estimator(self) -> Any:
        from sklearn.linear_model import LogisticRegression, RidgeClassifierCV

        if self.name == "logistic":
            return LogisticRegression(C=1.0, max_iter=5000)
        return RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))


def check_state(name: str, arrays: dict[str, np.ndarray], n_classes: int) -> None:
    """Refuse head arrays that a fit of head ``name`` on ``n_classes`` classes cannot have produced."""
    expected = ("mean", "scale", "features", "codes") if name == "knn" else ("mean", "scale", "coef", "intercept")
    if sorted(arrays) != sorted(expected):
        raise InputError(f"head {name!r} needs the arrays {list(expected)}, got {sorted(arrays)}")
    width = np.shape(arrays["mean"])
    if len(width) != 1 or np.shape(arrays["scale"]) != width:
        raise InputError(f"head {name!r}: mean {width} and scale {np.shape(arrays['scale'])} must be one length")
    for key, value in arrays.items():
        if not np.issubdtype(np.asarray(value).dtype, np.number) or not np.isfinite(value).all():
            raise InputError(f"head {name!r}: array {key!r} must be finite numbers")
    if (np.asarray(arrays["scale"]) <= 0).any():
        raise InputError(f"head {name!r}: scale must be positive")
    if name == "knn":
        codes = np.asarray(arrays["codes"])
        if np.shape(arrays["features"]) != (len(codes), width[0]) or codes.ndim != 1:
            raise InputError(f"head 'knn': features {np.shape(arrays['features'])} do not match codes and width")
        if set(codes.tolist()) != set(range(n_classes)):
            raise InputError(f"head 'knn': class codes must cover 0..{n_classes - 1} exactly")
        return
    rows = 1 if n_classes == 2 else n_classes
    if np.shape(arrays["coef"]) != (rows, width[0]) or np.shape(arrays["intercept"]) != (rows,):
        raise InputError(
            f"head {name!r}: coef {np.shape(arrays['coef'])} and intercept {np.shape(arrays['intercept'])} "
            f"must be ({rows}, {width[0]}) and ({rows},) for {n_classes} classes"
        )


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)
