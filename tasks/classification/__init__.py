"""Time-series classification with pretrained TSFMs, against MiniRocket and 1-NN DTW.

Every classifier here has the same interface (:class:`~tsfm.tasks.classification.base.SeriesClassifier`):
``fit(series, labels)``, ``predict(series)``, ``predict_proba(series)`` and ``classes_``, where
``series`` is a list of 1-D float arrays of any length (NaN = missing).

- :class:`HybridClassifier`: MiniRocket features and TSFM embeddings in one ridge head, their mix
  fixed by validation (``hybrid``, the default of ``tsfm classify``) or chosen per dataset on
  training folds (``auto``).
- :class:`TsfmClassifier`: pooled TSFM embeddings (any model with ``embed``) + a light head.
- :class:`InContextClassifier`: labelled examples placed in the model's context, no training.
- :class:`MiniRocketBaseline`, :class:`RdstBaseline`, :class:`DtwBaseline`: aeon's MiniRocket, random
  dilated shapelets and 1-NN DTW.

A series may also be multivariate, ``[n_channels, length]``. A fitted :class:`TsfmClassifier`
or :class:`HybridClassifier` saves itself as a folder of JSON and arrays (``clf.save(folder)``) that
:func:`load_classifier` reads back without executing or unpickling anything.

Heavy imports (torch, aeon) happen inside methods, so importing this package is cheap.
"""

from tsfm.tasks.classification.base import SeriesClassifier
from tsfm.tasks.classification.baselines import DtwBaseline, MiniRocketBaseline, RdstBaseline
from tsfm.tasks.classification.classifier import TsfmClassifier, make_classifier
from tsfm.tasks.classification.features import EmbeddingFeatures
from tsfm.tasks.classification.hybrid import HybridClassifier
from tsfm.tasks.classification.in_context import InContextClassifier
from tsfm.tasks.classification.persist import load_classifier

__all__ = [
    "DtwBaseline",
    "EmbeddingFeatures",
    "HybridClassifier",
    "InContextClassifier",
    "MiniRocketBaseline",
    "RdstBaseline",
    "SeriesClassifier",
    "TsfmClassifier",
    "load_classifier",
    "make_classifier",
]
