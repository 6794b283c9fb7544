"""Thresholds: conformal (no labels) and best-F1 (labels)."""

from __future__ import annotations

import numpy as np

from tsfm.errors import InputError


def conformal_threshold(calibration_scores: np.ndarray, alpha: float) -> float:
    """Split-conformal threshold: flags about ``alpha`` of normal points.

    Parameters
    ----------
    calibration_scores
        ``[n]`` scores of held-out normal points.
    alpha
        Target false-alarm rate in (0, 1).

    Returns
    -------
    float
        The ``ceil((n + 1)(1 - alpha)) / n`` empirical quantile; a new normal point exceeds it
        with probability at most ``alpha`` when scores are exchangeable. When ``n`` is too
        small for that level, the largest calibration score.
    """
    scores = np.asarray(calibration_scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        raise InputError("no finite calibration scores to set a threshold from")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    rank = int(np.ceil((scores.size + 1) * (1.0 - alpha)))
    return float(np.sort(scores)[min(rank, scores.size) - 1])


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold ``t`` maximising point-wise F1 of ``scores > t`` against ``labels``.

    Parameters
    ----------
    scores
        ``[time]`` anomaly scores.
    labels
        ``[time]`` bool, True for anomalous points; needs both classes.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape:
        raise InputError(f"scores {scores.shape} and labels {labels.shape} must have the same shape")
    if labels.all() or not labels.any():
        raise InputError("labels must contain both normal (0) and anomalous (1) points to tune a threshold")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    tp = np.cumsum(sorted_labels)
    fp = np.cumsum(~sorted_labels)
    # Only cut between distinct scores: flagging the first k points means threshold < scores[k-1].
    distinct = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(distinct, 2 * tp / (tp + fp + labels.sum()), -1.0)
    k = int(np.argmax(f1))
    below = sorted_scores[k + 1] if k + 1 < scores.size else sorted_scores[k] - 1.0
    return float((sorted_scores[k] + below) / 2.0)
