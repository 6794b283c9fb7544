"""Few-shot classification with pooled TSFM embeddings and a light head.

The model is frozen: labelled series become feature vectors through
:func:`~tsfm.tasks.classification.features.embed_features` (views, windows, pooling), and only a
small head (logistic regression, ridge or kNN) is trained on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.registry import resolve_model
from tsfm.tasks.classification.base import SeriesClassifier
from tsfm.tasks.classification.features import EmbeddingFeatures, embed_channels
from tsfm.tasks.classification.heads import Head

METHODS = ("hybrid", "auto", "embedding", "in-context", "in-context-group", "minirocket", "dtw")
# The default of tsfm classify, chosen by cross-validation on the training labels of the five
# offline UCR sets (tsfm classify-bench ucr --validate; tsfm.tasks.classification.validation).
DEFAULT_METHOD = "hybrid"


class TsfmClassifier(SeriesClassifier):
    """Embeddings of a frozen TSFM + a light head.

    Parameters
    ----------
    model
        A forecaster with ``embed`` (any Chronos family, the bundled ``tsfm-bolt-mini``, a
        tuned model) or a name/path for ``tsfm.load``.
    head
        ``logistic``, ``ridge`` or ``knn``.
    features
        Views, windows, pooling (default: raw + first difference, mean over windows, stats).
    min_per_class
        Fewest labelled series each class needs.
    batch_size
        Pieces per ``model.embed`` call.
    progress
        Show a progress bar while embedding.

    Examples
    --------
    >>> clf = TsfmClassifier("tsfm-bolt-mini", head="logistic").fit(train_series, train_labels)
    >>> clf.predict(test_series), clf.predict_proba(test_series).shape   # [n_test, n_classes]
    >>> clf.save("clf/"); load_classifier("clf/").predict(test_series)  # the same predictions

    Multivariate series (``[n_channels, length]`` each) are embedded channel by channel and
    the feature vectors concatenated in channel order.
    """

    def __init__(
        self,
        model: Any,
        head: str = "logistic",
        features: EmbeddingFeatures | dict | None = None,
        min_per_class: int = 2,
        batch_size: int = 1024,
        progress: bool = False,
    ) -> None:
        super().__init__(min_per_class)
        self.head = Head(head)  # checks the name before any model is loaded
        if isinstance(features, dict):
            features = EmbeddingFeatures(**features)
        self.features = features or EmbeddingFeatures()
        self.model = resolve_model(model, needs=("embed",))
        # what a saved folder names to reload the model: the name or path given, else the model's own name
        self.model_spec = model_spec(model) if isinstance(model, str | Path) else str(getattr(self.model, "name", ""))
        if not getattr(self.model, "has_embeddings", True):
            raise InputError(f"model {self.model.name!r} has no embeddings; pick a TSFM (e.g. tsfm-bolt-mini)")
        self.batch_size = batch_size
        self.progress = progress

    def transform(self, series: list[np.ndarray]) -> np.ndarray:
        """Feature vectors ``[n_series, D * n_channels]`` of validated series (channels concatenated)."""
        return embed_channels(self.model, series, self.features, self.batch_size, self.progress)

    def _fit(self, series: list[np.ndarray], labels: np.ndarray) -> None:
        self.head.fit(self.transform(series), labels)

    def _predict_proba(self, series: list[np.ndarray]) -> np.ndarray:
        return self.head.predict_proba(self.transform(series))

    def save(self, folder: str | Path, overwrite: bool = False, metadata: dict | None = None) -> Path:
        """Write the fitted classifier as a folder: ``classifier.json`` + ``head.npz`` (no code, no pickle).

        ``metadata`` (plain JSON, e.g. the column names of the training file) is stored beside
        the settings. Reload with :func:`~tsfm.tasks.classification.persist.load_classifier`.
        """
        from tsfm.tasks.classification.persist import save_classifier

        return save_classifier(self, folder, overwrite=overwrite, metadata=metadata)


def model_spec(model: str | Path) -> str:
    """How a saved classifier names its model: a registered name as given, a local folder as an absolute path."""
    from tsfm.registry import list_models

    path = Path(model).expanduser()
    if str(model) in {spec.name for spec in list_models()} or not path.exists():
        return str(model)
    return str(path.resolve())


def make_classifier(method: str, model: Any = None, **options: Any) -> SeriesClassifier:
    """A classifier by method name, one of :data:`METHODS`.

    ``hybrid`` and ``auto`` are :class:`~tsfm.tasks.classification.hybrid.HybridClassifier` with
    the validated mix or the per-dataset choice of mix; ``model`` is needed by every method but
    ``minirocket`` and ``dtw``; ``options`` go to the class's constructor.
    """
    if method not in METHODS:
        raise InputError(f"unknown classification method {method!r}; known: {', '.join(METHODS)}")
    if method == "embedding":
        return TsfmClassifier(model, **options)
    if method in ("hybrid", "auto"):
        from tsfm.tasks.classification.hybrid import AUTO_MIXES, HYBRID_MIXES, HybridClassifier

        return HybridClassifier(model, mixes=HYBRID_MIXES if method == "hybrid" else AUTO_MIXES, **options)
    if method in ("in-context", "in-context-group"):
        from tsfm.tasks.classification.in_context import InContextClassifier

        mode = "group" if method == "in-context-group" else "concat"
        return InContextClassifier(model, **{"mode": mode, **options})
    from tsfm.tasks.classification.baselines import DtwBaseline, MiniRocketBaseline

    return (MiniRocketBaseline if method == "minirocket" else DtwBaseline)(**options)
