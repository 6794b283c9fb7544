"""Anomaly-detection metrics: point scores (F1 among them), event-wise F1, SKAB's FAR/MAR, and VUS-PR.

All take ``[time]`` arrays of labels (bool, True = anomalous) and predictions (bool) or
scores (float). The NAB score lives in :mod:`tsfm.tasks.anomaly.nab_score`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsfm.errors import InputError


def _pair(labels: object, predictions: object) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = np.asarray(labels).astype(bool), np.asarray(predictions).astype(bool)
    if truth.ndim != 1 or truth.shape != pred.shape:
        raise InputError(f"labels {truth.shape} and predictions {pred.shape} must be 1-D and of equal length")
    return truth, pred


@dataclass(frozen=True)
class PointScores:
    """Point-wise confusion counts and the rates built from them (SKAB's outlier-detection metrics).

    ``far`` (false-alarm rate) is ``FP / (FP + TN)`` and ``mar`` (missed-alarm rate) is
    ``FN / (FN + TP)``, both in percent as SKAB's leaderboard reports them.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    @property
    def far(self) -> float:
        return 100.0 * self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        return 100.0 * self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0

    def __add__(self, other: PointScores) -> PointScores:
        """Pool the counts of two series (SKAB pools all experiments before computing rates)."""
        return PointScores(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn)


def point_scores(labels: object, predictions: object) -> PointScores:
    """Point-wise confusion counts of ``predictions`` against ``labels`` (both ``[time]``)."""
    truth, pred = _pair(labels, predictions)
    return PointScores(
        tp=int((truth & pred).sum()), fp=int((~truth & pred).sum()),
        tn=int((~truth & ~pred).sum()), fn=int((truth & ~pred).sum()),
    )


def events(mask: object) -> np.ndarray:
    """Contiguous runs of True in ``mask [time]`` as ``[n_events, 2]`` (start, end exclusive)."""
    flags = np.asarray(mask).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.r_[0, flags, 0]))
    return edges.reshape(-1, 2)


def event_f1(labels: object, predictions: object) -> float:
    """Event-wise F1: a true event counts as found when any of its points is flagged (recall);
    a predicted event counts as correct when it overlaps a true event (precision)."""
    truth, pred = _pair(labels, predictions)
    true_events, pred_events = events(truth), events(pred)
    if len(true_events) == 0 or len(pred_events) == 0:
        return 0.0
    recall = float(np.mean([pred[s:e].any() for s, e in true_events]))
    precision = float(np.mean([truth[s:e].any() for s, e in pred_events]))
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def vus_pr(labels: object, scores: object, max_buffer_size: int = 100) -> float:
    """Volume under the range-based precision-recall surface (Paparrizos et al., 2022), via aeon.

    Parameters
    ----------
    labels
        ``[time]`` bool.
    scores
        ``[time]`` anomaly scores (any scale).
    max_buffer_size
        Largest buffer around each anomaly in the surface (aeon's default is 500).
    """
    from aeon.benchmarking.metrics.anomaly_detection import range_pr_vus_score

    truth = np.asarray(labels).astype(bool)
    values = np.asarray(scores, dtype=np.float64)
    if truth.shape != values.shape or truth.ndim != 1:
        raise InputError(f"labels {truth.shape} and scores {values.shape} must be 1-D and of equal length")
    if not truth.any():
        raise InputError("VUS-PR needs at least one anomalous point in labels")
    return float(range_pr_vus_score(truth.astype(int), values, max_buffer_size=max_buffer_size))
