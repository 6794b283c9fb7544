"""How the default classification method is chosen: cross-validation on training labels only.

For each dataset the rocket and embedding blocks of the *training* series are computed once
(as :class:`~tsfm.tasks.classification.hybrid.HybridClassifier` does), and every candidate is
scored by its mean accuracy over the same stratified folds of the training labels:

- each fixed mix of :data:`~tsfm.tasks.classification.hybrid.AUTO_MIXES`: ``minirocket`` is
  ``(1, 0)``, ``embedding (ridge)`` is ``(0, 1)``, ``hybrid <r>:<e>`` the others;
- ``auto``: nested, the mix chosen on inner folds of each outer training fold, scored on the
  outer fold;
- ``rdst`` (``tsfm classify-bench ucr --validate`` adds it): aeon's random dilated shapelets,
  refitted on each fold because its shapelets are drawn with the labels; the strongest classical
  method on the five sets' test splits, so the default has to beat it here too.

The default is the candidate with the best mean over the datasets; test labels are never read.
``tsfm classify-bench ucr --validate`` prints this table (:func:`run_validation`).

Folds of a whole training split say how a method does with every label a set has; the product
is for teams with few. So ``--validate`` also prints :func:`fewshot_validation`: ``hybrid`` and
``auto`` fitted on ``k`` training series per class (seeded draws, as the few-shot curves draw
them) and scored on the rest of the same training split. With the second-generation weights and
MiniRocket's penalty grid, ``hybrid`` leads both: 0.927 on full folds (``auto`` 0.916), 0.853 and
0.922 at 5 and 10 per class (``auto`` 0.846 and 0.913); README, Classification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tsfm.tasks.classification.hybrid import (
    AUTO_MIXES,
    HYBRID_MIXES,
    Mix,
    cross_validate_mixes,
    ridge_head,
    stratified_folds,
)


def mix_name(mix: Mix) -> str:
    """``minirocket``, ``embedding (ridge)`` or ``hybrid <rocket>:<embedding>`` for a mix."""
    if mix[1] == 0:
        return "minirocket"
    if mix[0] == 0:
        return "embedding (ridge)"
    return f"hybrid {mix[0]:g}:{mix[1]:g}"


def validate_candidates(blocks: dict[str, np.ndarray], labels: np.ndarray, folds: int = 5) -> dict[str, float]:
    """Fold accuracy of every fixed mix and of ``auto`` (nested) on one dataset's training blocks."""
    scores = {mix_name(m): s for m, s in cross_validate_mixes(blocks, labels, AUTO_MIXES, folds).items()}
    correct = []
    for train, test in stratified_folds(labels, folds):
        inner = cross_validate_mixes({k: v[train] for k, v in blocks.items()}, labels[train], AUTO_MIXES, folds)
        mix = max(inner, key=inner.get) if inner else AUTO_MIXES[0]
        x = np.hstack([blocks[k] * w for k, w in zip(("rocket", "embedding"), mix, strict=True) if w > 0])
        predicted = ridge_head().fit(x[train], labels[train]).predict(x[test])
        correct.append(np.mean(predicted == labels[test]))
    scores["auto"] = float(np.mean(correct))
    return scores


def rdst_fold_accuracy(series: list[np.ndarray], labels: np.ndarray, folds: int = 5) -> float:
    """Mean accuracy of the RDST baseline over the same folds; its shapelets use labels, so it is refitted per fold."""
    from tsfm.tasks.classification.baselines import RdstBaseline

    correct = []
    for train, test in stratified_folds(labels, folds):
        fitted = RdstBaseline(min_per_class=1).fit([series[i] for i in train], labels[train])
        correct.append(fitted.score([series[i] for i in test], labels[test]))
    return float(np.mean(correct))


def training_blocks(model: Any, series: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Standardised, width-scaled ``rocket`` and ``embedding`` blocks of training series, as the hybrid makes them."""
    from tsfm.tasks.classification.features import embed_channels
    from tsfm.tasks.classification.hybrid import HYBRID_FEATURES, _safe_scale
    from tsfm.tasks.classification.rocket import RocketFeatures

    raw = {"rocket": RocketFeatures().fit(series).transform(series),
           "embedding": embed_channels(model, series, HYBRID_FEATURES)}
    return {k: (v - v.mean(axis=0)) / _safe_scale(v) / np.sqrt(v.shape[1]) for k, v in raw.items()}


def run_validation(
    model: Any, data: dict[str, tuple[list[np.ndarray], np.ndarray]], log: Callable = print, rdst: bool = False,
) -> pd.DataFrame:
    """Training-fold accuracy of every candidate on each set: one row per set, a ``mean`` row last.

    ``data`` maps a set's name to its *training* series and labels (:func:`training_sets`).
    ``rdst`` adds the RDST baseline (:func:`rdst_fold_accuracy`) as a column: a classical method
    the hybrid has to beat, scored on the same folds, not a candidate for the default."""
    from tsfm.tasks.classification.base import validate_series

    rows = {}
    for name, (series, labels) in data.items():
        checked = validate_series(series)
        rows[name] = validate_candidates(training_blocks(model, checked), labels.astype(str))
        if rdst:
            rows[name]["rdst"] = rdst_fold_accuracy(checked, labels.astype(str))
        log(f"{name:18s} " + "  ".join(f"{k} {v:.3f}" for k, v in rows[name].items()))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["mean"] = table.mean(axis=0)
    return table


def training_sets(sets: tuple[str, ...]) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """Name -> training series and labels of each UCR/UEA set; the test splits are not kept."""
    from tsfm.tasks.classification.benchmarks import load_ucr

    return {name: load_ucr(name)[:2] for name in sets}


FEWSHOT_SHOTS = (5, 10)
FEWSHOT_MIXES: dict[str, tuple[Mix, ...]] = {"hybrid": HYBRID_MIXES, "auto": AUTO_MIXES}


def fewshot_validation(
    model: Any, data: dict[str, tuple[list[np.ndarray], np.ndarray]], shots: tuple[int, ...] = FEWSHOT_SHOTS,
    draws: int = 10, log: Callable = print,
) -> pd.DataFrame:
    """Accuracy of ``hybrid`` and ``auto`` fitted on ``k`` training series per class, scored on the rest.

    ``data`` maps a set's name to its *training* series and labels. Pass ``model`` as a
    :class:`~tsfm.tasks.classification.fewshot.CachedEmbeddings` to embed each series once across
    draws, methods and :func:`run_validation`. Draw ``d`` of ``k`` per class is
    :func:`~tsfm.tasks.classification.fewshot.sample_per_class` with seed ``d``. A set whose classes
    are used up by ``k`` per class (nothing left to score) is skipped for that ``k``, with a line.
    Returns one row per ``(shots, set)`` (mean over draws), then a ``mean`` row per ``shots`` over
    the sets scored at that count.
    """
    from tsfm.tasks.classification.fewshot import sample_per_class
    from tsfm.tasks.classification.hybrid import HybridClassifier

    rows = []
    for k in shots:
        for name, (series, labels) in data.items():
            labels = np.asarray(labels).astype(str)
            scores: dict[str, list[float]] = {m: [] for m in FEWSHOT_MIXES}
            for draw in range(draws):
                chosen = sample_per_class(labels, k, draw)
                rest = np.setdiff1d(np.arange(len(labels)), chosen)
                if rest.size == 0:
                    log(f"{name:18s} {k:>3} per class: skipped, no training series left to score")
                    break
                for method, mixes in FEWSHOT_MIXES.items():
                    clf = HybridClassifier(model, mixes=mixes, min_per_class=1)
                    clf.fit([series[i] for i in chosen], labels[chosen])
                    scores[method].append(clf.score([series[i] for i in rest], labels[rest]))
            if scores["hybrid"]:
                rows.append({"shots": k, "set": name, **{m: float(np.mean(v)) for m, v in scores.items()}})
                log(f"{name:18s} {k:>3} per class: " + "  ".join(f"{m} {rows[-1][m]:.3f}" for m in FEWSHOT_MIXES))
    table = pd.DataFrame(rows)
    means = table.groupby("shots", sort=False)[list(FEWSHOT_MIXES)].mean().reset_index().assign(set="mean")
    return pd.concat([table, means]).sort_values("shots", kind="stable").set_index(["shots", "set"])
