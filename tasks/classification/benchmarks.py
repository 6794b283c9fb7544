"""Classification benchmarks: UCR sets shipped in aeon, and CWRU bearing health by recording.

Each benchmark fits every method on the same training data, scores it on the same test
data and returns a tidy table (one row per dataset x method), printed side by side with the
published MiniRocket accuracies where they exist. Missing data is skipped with a reason,
never silently.

- **Methods**: ``tsfm-hybrid`` (the default of ``tsfm classify``: MiniRocket features and TSFM
  embeddings in one ridge head, :mod:`~tsfm.tasks.classification.hybrid`), ``tsfm-auto`` (the mix
  chosen per dataset on training folds), ``tsfm-embed``, ``tsfm-in-context``, ``minirocket``, ``dtw``,
  and, asked for by name, ``tsfm-in-context-group`` (with a Chronos-2 model: the examples as related
  series in the query's group, :mod:`~tsfm.tasks.classification.in_context`) and ``rdst`` (aeon's
  random dilated shapelets, the strongest classical method measured on the five sets; slow on
  CWRU's many 1,024-sample windows, so not run by default).
- **UCR/UEA** (default train/test split) sets shipped in aeon, any named with ``--sets``;
  multivariate ones (UEA's BasicMotions: 6 channels) keep all their channels. By default
  GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf, ACSF1. Published MiniRocket: the default-split column of
  ``reference/tsc/minirocket_accuracy_ucr109_resamples.csv`` (mean 0.941 over these five).
- **CWRU**: windows of 1,024 samples (85 ms at 12 kHz); ``same-load``: 0 HP, folds that hold
  out whole recordings (:func:`~tsfm.tasks.classification.cwru.recording_folds`), accuracy pooled
  over the folds; ``cross-load``: train on every 0 HP recording, test on every 1 HP one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.tasks.classification.base import SeriesClassifier
from tsfm.tasks.classification.features import EmbeddingFeatures

UCR_SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "OSULeaf", "ACSF1")
# every classification set aeon ships (no download): the five, two UEA multivariate sets (BasicMotions, 6
# channels; JapaneseVowels, 12 channels of unequal length), PickupGestureWiimoteZ (unequal length) and
# UnitTest (aeon's 42-series extract of Chinatown, length 24); ``--sets offline`` runs them all
OFFLINE_SETS = (*UCR_SETS, "BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ", "UnitTest")


def resolve_sets(sets: str | None) -> tuple[str, ...]:
    """The UCR/UEA sets ``--sets`` names: the default five, ``offline`` for :data:`OFFLINE_SETS`, or a list."""
    if not sets:
        return UCR_SETS
    names = tuple(s.strip() for s in sets.split(",") if s.strip())
    return tuple(n for name in names for n in (OFFLINE_SETS if name == "offline" else (name,)))


METHODS = ("tsfm-hybrid", "tsfm-auto", "tsfm-embed", "tsfm-in-context", "tsfm-in-context-group", "minirocket", "dtw",
           "rdst")
# run when --methods is not given; tsfm-in-context-group needs a Chronos-2 --model and rdst is slow on CWRU,
# so both are asked for by name
DEFAULT_METHODS = tuple(m for m in METHODS if m not in ("tsfm-in-context-group", "rdst"))
# Fixed before scoring, one configuration for all UCR sets (shape position matters: segments).
UCR_FEATURES = EmbeddingFeatures(views=("raw", "diff", "scale2"), pooling="mean", segments=4)
# Vibration windows are stationary: no segments; a fault that shows in few windows moves the max.
CWRU_FEATURES = EmbeddingFeatures(views=("raw", "diff", "scale2"), pooling="mean-max", segments=0)
CWRU_WINDOW = 1024
_REFERENCE_FILE = Path("reference") / "tsc" / "minirocket_accuracy_ucr109_resamples.csv"

Factory = Callable[[], SeriesClassifier]


def method_factories(model: Any, methods: tuple[str, ...], features: EmbeddingFeatures, head: str) -> dict:
    """``{method: () -> fresh classifier}`` for the names in :data:`METHODS`."""
    from tsfm.errors import InputError
    from tsfm.tasks.classification.baselines import DtwBaseline, MiniRocketBaseline, RdstBaseline
    from tsfm.tasks.classification.classifier import TsfmClassifier
    from tsfm.tasks.classification.hybrid import AUTO_MIXES, HYBRID_MIXES, HybridClassifier
    from tsfm.tasks.classification.in_context import InContextClassifier

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    table = {
        "tsfm-hybrid": lambda: HybridClassifier(model, mixes=HYBRID_MIXES, min_per_class=1),
        "tsfm-auto": lambda: HybridClassifier(model, mixes=AUTO_MIXES, min_per_class=1),
        "tsfm-embed": lambda: TsfmClassifier(model, head=head, features=features, min_per_class=1),
        "tsfm-in-context": lambda: InContextClassifier(model, min_per_class=1),
        "tsfm-in-context-group": lambda: InContextClassifier(model, mode="group", min_per_class=1),
        "minirocket": lambda: MiniRocketBaseline(min_per_class=1),
        "dtw": lambda: DtwBaseline(min_per_class=1),
        "rdst": lambda: RdstBaseline(min_per_class=1),
    }
    return {m: table[m] for m in methods}


def published_minirocket(shared_data: str | Path | None) -> dict[str, float]:
    """Published MiniRocket accuracy on the default UCR split, by dataset; ``{}`` when the file is absent."""
    if shared_data is None or not (Path(shared_data) / _REFERENCE_FILE).is_file():
        return {}
    table = pd.read_csv(Path(shared_data) / _REFERENCE_FILE)
    return dict(zip(table["dataset"], table["0"].astype(float), strict=True))


def load_ucr(
    name: str, first_channel: bool = False
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
    """``(train_series, train_labels, test_series, test_labels)`` of a UCR/UEA set that ships in aeon.

    A univariate set gives 1-D series; a multivariate (UEA) set keeps all its channels, each
    series ``[n_channels, length]``, unless ``first_channel`` (for comparison only).
    """
    from aeon.datasets import load_classification

    x_train, y_train = load_classification(name, split="train")  # [n, channels, length]
    x_test, y_test = load_classification(name, split="test")

    def series(panel) -> list[np.ndarray]:
        if first_channel or panel[0].shape[0] == 1:
            return [np.asarray(x[0], dtype=np.float64) for x in panel]
        return [np.asarray(x, dtype=np.float64) for x in panel]

    return series(x_train), np.asarray(y_train), series(x_test), np.asarray(y_test)


def _score(factory: Factory, train: list, y_train: np.ndarray, test: list, y_test: np.ndarray) -> dict:
    start = time.perf_counter()
    classifier = factory().fit(train, y_train)
    accuracy = classifier.score(test, y_test)
    return {"accuracy": accuracy, "seconds": time.perf_counter() - start, "n_test": len(test)}


def run_ucr(
    factories: dict[str, Factory], sets: tuple[str, ...] = UCR_SETS, log: Callable = print,
    first_channel: bool = False,
) -> pd.DataFrame:
    """Fit and score every method on each UCR/UEA set: rows ``dataset, method, accuracy, seconds, n_test``.

    Multivariate sets keep all channels (``first_channel``: only the first, for comparison); a
    method that takes no multivariate input (in-context) is skipped on them with the reason.
    """
    from tsfm.errors import InputError

    rows = []
    for name in sets:
        try:
            train, y_train, test, y_test = load_ucr(name, first_channel)
        except Exception as exc:  # aeon raises several types for a set it cannot find offline
            log(f"skip {name}: not available offline in aeon ({type(exc).__name__}: {exc})")
            continue
        for method, factory in factories.items():
            try:
                row = {"dataset": name, "method": method, **_score(factory, train, y_train, test, y_test)}
            except InputError as exc:
                log(f"skip {name} {method}: {exc}")
                continue
            log(f"{name:18s} {method:16s} accuracy {row['accuracy']:.3f}  ({row['seconds']:.1f} s)")
            rows.append(row)
    return pd.DataFrame(rows)


def run_cwru(
    factories: dict[str, Factory], folder: str | Path, max_windows: int = 40, log: Callable = print
) -> pd.DataFrame:
    """Same-load (0 HP, by-recording folds) and cross-load (0 -> 1 HP) accuracy of every method.

    Returns rows ``dataset, method, accuracy, seconds, n_test``; empty when the data is absent.
    """
    from tsfm.tasks.classification.cwru import cut_windows, load_recordings, recording_folds

    if not (Path(folder) / "load0hp_12k_DE.npz").is_file():
        log(f"skip CWRU: no recordings in {folder}")
        return pd.DataFrame()
    at0, at1 = load_recordings(folder, 0), load_recordings(folder, 1)
    x0, y0, g0 = cut_windows(at0, CWRU_WINDOW, max_windows)
    x1, y1, _ = cut_windows(at1, CWRU_WINDOW, max_windows)
    rows = []
    for method, factory in factories.items():
        correct, n, seconds = 0, 0, 0.0
        for train_keys, test_keys in recording_folds(at0):
            tr, te = np.isin(g0, train_keys), np.isin(g0, test_keys)
            result = _score(factory, _take(x0, tr), y0[tr], _take(x0, te), y0[te])
            correct += round(result["accuracy"] * result["n_test"])
            n, seconds = n + result["n_test"], seconds + result["seconds"]
        rows.append({"dataset": "CWRU same-load 0HP", "method": method, "accuracy": correct / n,
                     "seconds": seconds, "n_test": n})
        rows.append({"dataset": "CWRU cross-load 0->1HP", "method": method, **_score(factory, x0, y0, x1, y1)})
        for row in rows[-2:]:
            log(f"{row['dataset']:24s} {method:16s} accuracy {row['accuracy']:.3f}  ({row['seconds']:.1f} s)")
    return pd.DataFrame(rows)


def _take(items: list, mask: np.ndarray) -> list:
    return [items[i] for i in np.flatnonzero(mask)]


def side_by_side(results: pd.DataFrame, published: dict[str, float] | None = None) -> pd.DataFrame:
    """Accuracy table: one row per dataset, one column per method (+ published MiniRocket), and a mean row."""
    table = results.pivot(index="dataset", columns="method", values="accuracy")
    table = table[[m for m in results["method"].unique()]]  # keep the run order of methods
    table = table.loc[[d for d in results["dataset"].unique()]]
    if published:
        table["minirocket (published)"] = [published.get(d, np.nan) for d in table.index]
    table.loc["mean"] = table.mean(axis=0, skipna=False)
    return table
