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
chance comes from the examples in context. The cost is ``n_queries x n_classes x cuts`` forecasts.

Two ways to put the examples in context (``mode``):

- ``concat`` (default; every forecaster, the bundled Bolt model included): the examples are
  concatenated before the query in one context, so ``L`` is at most a ``1 / (shots + 1)`` share
  of the model's context;
- ``group`` (Chronos-2 models, which read known-future covariates): the query's first ``p``
  values are the target and each example is a related series in the same group, given whole:
  its first ``p`` values as a past covariate and its next ``h`` values as a known-future one.
  Chronos-2's group attention lets the forecast of the query look at what each example of the
  class did over the same steps, and ``L`` can use the whole context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.registry import resolve_model
from tsfm.tasks.classification.base import SeriesClassifier

SELECTIONS = ("nearest", "random")
MODES = ("concat", "group")
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
    mode
        ``concat`` (examples before the query in one context) or ``group`` (examples as related
        series whose continuation is known, for models that read known-future covariates).
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
        mode: str = "concat",
    ) -> None:
        super().__init__(min_per_class)
        for field, value, low in (("shots", shots, 1), ("cuts", cuts, 1), ("max_length", max_length, 8)):
            if not isinstance(value, int) or value < low:
                raise InputError(f"{field}={value!r}: must be an integer >= {low}")
        if select not in SELECTIONS:
            raise InputError(f"select={select!r}: allowed values are {list(SELECTIONS)}")
        if not temperature > 0:
            raise InputError(f"temperature={temperature!r}: must be > 0")
        if mode not in MODES:
            raise InputError(f"mode={mode!r}: allowed values are {list(MODES)}")
        self.model = resolve_model(model, needs=("predict_quantiles",))
        if mode == "group" and not getattr(self.model, "supports_covariates", False):
            raise InputError(
                f"mode='group' needs a model that reads known-future covariates (a Chronos-2 model such as "
                f"tsfm-chronos2-mini); {getattr(self.model, 'name', type(self.model).__name__)!r} does not"
            )
        self.mode = mode
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
        share = context if self.mode == "group" else context // (self.shots + 1)
        self.length = max(8, min(longest, self.max_length, share))
        table = normalise(series, self.length)
        rng = np.random.default_rng(self.seed)
        # group mode names one covariate per example, and every row of a batch needs the same names
        self.group_shots = min(self.shots, *(int((labels == c).sum()) for c in self.classes_))
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
        contexts, targets, past, future = [], [], [], []
        for query in queries:
            for c in self.classes_:
                examples = self._pick(self.examples[c], query)
                if self.mode == "group":
                    examples = examples[-self.group_shots :]  # the nearest (or drawn) ones
                else:
                    shown = np.concatenate(list(examples))
                for p in cut_points:
                    targets.append(query[p : p + h])
                    if self.mode == "group":
                        contexts.append(query[:p])
                        past.append({f"example_{j}": e[:p] for j, e in enumerate(examples)})
                        future.append({f"example_{j}": e[p : p + h] for j, e in enumerate(examples)})
                    else:
                        contexts.append(np.concatenate([shown, query[:p]]))
        losses = self._pinball(contexts, np.asarray(targets), h, past, future)  # [n * n_classes * cuts]
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

    def _pinball(
        self, contexts: list[np.ndarray], targets: np.ndarray, h: int, past: list[dict], future: list[dict]
    ) -> np.ndarray:
        """Mean quantile loss of the model's forecasts of ``targets [n, h]`` from ``contexts``: ``[n]``.

        ``past`` and ``future`` (group mode; empty otherwise) hold each context's examples.
        """
        from tqdm.auto import tqdm

        from tsfm.covariates import Covariates
        from tsfm.metrics import pinball

        levels = np.asarray(_LEVELS)
        out = np.empty(len(contexts))
        starts = range(0, len(contexts), self.batch_size)
        for s in tqdm(starts, desc="in-context", unit="batch", disable=not self.progress, leave=False):
            batch = contexts[s : s + self.batch_size]
            covariates = None
            if past:
                covariates = Covariates(past=tuple(past[s : s + self.batch_size]),
                                        future=tuple(future[s : s + self.batch_size]))
            q = self.model.predict_quantiles(batch, h, _LEVELS, covariates=covariates).quantiles  # [b, h, Q]
            out[s : s + len(batch)] = pinball(q, targets[s : s + len(batch), :, None], levels).mean(axis=(1, 2))
        return out
