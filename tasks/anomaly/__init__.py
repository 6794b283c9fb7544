"""Anomaly detection on any model behind the ``tsfm`` contract, with classical baselines.

Every detector is fitted on a normal reference and returns one score per time step::

    from tsfm.tasks.anomaly import DriftDetector
    detector = DriftDetector().fit(reference)   # [time] or [time, channels]
    result = detector.detect(series)            # scores, is_anomaly, threshold, channel_scores
    result.drivers(["flow", "temperature"])     # the channels behind each alarm

``AutoDetector().fit(reference)`` chooses the detector per dataset from its reference alone
(:mod:`tsfm.tasks.anomaly.auto`); ``.selection_.table`` says why.
"""

from tsfm.tasks.anomaly.auto import AutoDetector, select_detector
from tsfm.tasks.anomaly.base import AnomalyDetector, Detection
from tsfm.tasks.anomaly.baselines import (
    IsolationForestDetector,
    MatrixProfileDetector,
    ZScoreDetector,
    residual_detector,
)
from tsfm.tasks.anomaly.detectors import EmbeddingDetector, ForecastDetector
from tsfm.tasks.anomaly.drift import DriftDetector
from tsfm.tasks.anomaly.thresholds import best_f1_threshold, conformal_threshold

__all__ = [
    "AnomalyDetector",
    "AutoDetector",
    "Detection",
    "DriftDetector",
    "EmbeddingDetector",
    "ForecastDetector",
    "IsolationForestDetector",
    "MatrixProfileDetector",
    "ZScoreDetector",
    "best_f1_threshold",
    "conformal_threshold",
    "residual_detector",
    "select_detector",
]
