"""In-context classification: labelled examples in the model's context, no gradient step.

What it does, honestly stated. The contract gives forecasts, not class scores, so classes are
scored by *how well the frozen model forecasts the query when the context holds examples of
that class*. For each query series and each class ``c``:

1. every series is linearly interpolated over gaps, resampled to one common length ``L``
   (short enough that ``shots + 1`` series fit in the model's context) and z-normalised;
2. ``shots`` labelled examples of class ``c`` are chosen: the ones nearest to the query in
   Euclidean distance (``select="nearest"``), or a fixed random draw per class made at fit
   time (``select="random"``, a pure in-context scheme with no distance computed);
3. the examples are concatenated (nearest last, next to the query), followed by the first
   ``p`` values of the query; the model forecasts the next ``h`` values, at ``cuts`` cut
   points ``p = L - h, L - 2h, ...``;
4. the class score is the mean quantile (pinball) loss of those forecasts against the
   query's true values; probabilities are ``softmax(-score / temperature)``.

A model that has learnt to continue patterns it has just seen forecasts a query best after
examples of its own class. With no examples every class scores the same, so accuracy above
chance comes from the examples in context. Chronos-2 could instead attend across a group of
series (its group attention, reachable through ``Covariates(group_ids=...)``); this scheme
does not use it, so it works with every forecaster, including the bundled Bolt model. The cost is
``n_queries x n_classes x cuts`` forecasts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.registry import resolve_model
from tsfm.tasks.classification.base import SeriesClassifier

SELECTIONS = ("nearest", "random")
_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def normalise(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[n_series, length]``: gaps interpolated, resampled to ``length``, z-normalised per series."""
    out = np.empty((len(series), length))
    for i, values in enumerate(series):
        t = np.arange(len(values))
        observed = np.isfinite(values)
        filled = np.interp(t, t[observed], values[observed])
        out[i] = np.interp(np.linspace(0, len(values) - 1, length), t, filled)
    centred = out - out.mean(axis=1, keepdims=True)
    return centred / np.maximum(centred.std(axis=1, keepdims=True), 1e-8)


class InContextClassifier(SeriesClassifier):
    """Score each class by the model's forecast of the query after examples of that class.

    Parameters
    ----------
    model
        Any forecaster (or a name/path for ``tsfm.load``).
    shots
        Labelled examples of each class placed in the context per query.
    cuts
        Cut points per query at which the continuation is forecast and scored.
    select
        ``nearest`` (examples closest to the query) or ``random`` (a fixed draw per class).
    temperature
        Softmax temperature on the scores (z-units); probabilities rank classes, uncalibrated.
    max_length
        Upper bound on the common length ``L``; the model's context also bounds it.
    seed
        Seed of the ``random`` draw.
    min_per_class
        Fewest labelled series each class needs.
    batch_size
        Contexts per ``predict_quantiles`` call.
    progress
        Show a progress bar over the forecast batches.
    """

    def __init__(
        self,
        model: Any,
        shots: int = 3,
        cuts: int = 3,
        select: str = "nearest",
        temperature: float = 0.05,
        max_length: int = 256,
        seed: int = 0,
        min_per_class: int = 1,
        batch_size: int = 2048,
        progress: bool = False,
    ) -> None:
        super().__init__(min_per_class)
        for field, value, low in (("shots", shots, 1), ("cuts", cuts, 1), ("max_length", max_length, 8)):
            if not isinstance(value, int) or value < low:
                raise InputError(f"{field}={value!r}: must be an integer >= {low}")
        if select not in SELECTIONS:
            raise InputError(f"select={select!r}: allowed values are {list(SELECTIONS)}")
        if not temperature > 0:
            raise InputError(f"temperature={temperature!r}: must be > 0")
        self.model = resolve_model(model, needs=("predict_quantiles",))
        self.shots, self.cuts, self.select = shots, cuts, select
        self.temperature, self.max_length, self.seed = float(temperature), max_length, seed
        self.batch_size, self.progress = batch_size, progress
        self.examples: dict[str, np.ndarray] = {}  # class -> [n_c, L]
        self.length = 0

    def _fit(self, series: list[np.ndarray], labels: np.ndarray) -> None:
        if series[0].ndim != 1:
            raise InputError("the in-context method takes univariate series; use the embedding method for channels")
        context = int(getattr(self.model, "context_length", 512))
        longest = max(len(s) for s in series)
        self.length = max(8, min(longest, self.max_length, context // (self.shots + 1)))
        table = normalise(series, self.length)
        rng = np.random.default_rng(self.seed)
        self.examples = {}
        for c in self.classes_:
            rows = table[labels == c]
            if self.select == "random" and len(rows) > self.shots:
                rows = rows[rng.choice(len(rows), self.shots, replace=False)]
            self.examples[c] = rows

    @property
    def horizon(self) -> int:
        """Steps forecast at each cut point."""
        native = int(getattr(self.model, "prediction_length", 64))
        return max(1, min(native, self.length // (self.cuts + 1)))

    def _predict_proba(self, series: list[np.ndarray]) -> np.ndarray:
        queries = normalise(series, self.length)  # [n, L]
        h = self.horizon
        cut_points = [self.length - j * h for j in range(1, self.cuts + 1)]
        contexts, targets = [], []
        for query in queries:
            for c in self.classes_:
                shown = np.concatenate(list(self._pick(self.examples[c], query)))
                for p in cut_points:
                    contexts.append(np.concatenate([shown, query[:p]]))
                    targets.append(query[p : p + h])
        losses = self._pinball(contexts, np.asarray(targets), h)  # [n * n_classes * cuts]
        scores = losses.reshape(len(queries), len(self.classes_), self.cuts).mean(axis=2)
        logits = -(scores - scores.min(axis=1, keepdims=True)) / self.temperature
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def _pick(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The class's examples for this query, farthest first (nearest next to the query)."""
        distance = np.linalg.norm(rows - query, axis=1)
        order = np.argsort(-distance)
        if self.select == "nearest":
            order = order[-self.shots :]
        return rows[order]

    def _pinball(self, contexts: list[np.ndarray], targets: np.ndarray, h: int) -> np.ndarray:
        """Mean quantile loss of the model's forecasts of ``targets [n, h]`` from ``contexts``: ``[n]``."""
        from tqdm.auto import tqdm

        from tsfm.metrics import pinball

        levels = np.asarray(_LEVELS)
        out = np.empty(len(contexts))
        starts = range(0, len(contexts), self.batch_size)
        for s in tqdm(starts, desc="in-context", unit="batch", disable=not self.progress, leave=False):
            batch = contexts[s : s + self.batch_size]
            q = self.model.predict_quantiles(batch, h, _LEVELS).quantiles  # [b, h, Q]
            out[s : s + len(batch)] = pinball(q, targets[s : s + len(batch), :, None], levels).mean(axis=(1, 2))
        return out
