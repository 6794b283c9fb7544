"""Few-shot curves: accuracy with 1, 5, 10 and all labelled training series per class.

For each dataset and each count ``k``, ``k`` training series per class are drawn without
replacement (all of a class that has fewer), with ``numpy.random.default_rng(seed + draw)``;
every method is fitted on the same draw and scored on the whole test split. Counts below
"all" are repeated over ``draws`` draws and averaged; "all" is one fit on the whole training
split. Embeddings of a series are computed once per run (:class:`CachedEmbeddings`), so the
draws cost little more than the head fits.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.errors import InputError

SHOTS = (1, 5, 10, None)  # None: every labelled training series


def parse_shots(text: str) -> tuple[int | None, ...]:
    """``"1,5,10,all"`` -> ``(1, 5, 10, None)``; counts must be integers >= 1 or ``all``."""
    shots = []
    for part in (p.strip() for p in text.split(",")):
        if part == "all":
            shots.append(None)
        elif part.isdigit() and int(part) >= 1:
            shots.append(int(part))
        else:
            raise InputError(f"--shots {text!r}: each entry must be an integer >= 1 or 'all', got {part!r}")
    return tuple(shots)


def sample_per_class(labels: np.ndarray, k: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``k`` series per class (all of a smaller class; every index when ``k`` is None)."""
    if k is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), min(k, int(np.sum(labels == c))), replace=False)
              for c in sorted(set(labels))]
    return np.sort(np.concatenate(chosen))


class CachedEmbeddings:
    """A model whose ``embed`` remembers every series it has embedded (by its values); other attributes pass through."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache: dict[bytes, np.ndarray] = {}

    def embed(self, series: list[np.ndarray]) -> np.ndarray:
        """``[n, d]`` embeddings, computing only the series not seen before."""
        keys = [hashlib.sha1(np.ascontiguousarray(s, dtype=np.float64).tobytes()).digest() for s in series]
        todo = {k: s for k, s in zip(keys, series, strict=True) if k not in self.cache}
        if todo:
            rows = np.asarray(self.model.embed(list(todo.values())), dtype=np.float32)  # [n_new, d]
            self.cache.update(zip(todo, rows, strict=True))
        return np.stack([self.cache[k] for k in keys])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def run_fewshot(
    factories: dict[str, Callable], data: dict[str, tuple], shots: tuple[int | None, ...] = SHOTS,
    draws: int = 3, seed: int = 0, log: Callable = print,
) -> pd.DataFrame:
    """Rows ``dataset, method, shots, draw, accuracy, seconds``; ``shots`` is ``"all"`` for the whole split.

    ``data`` maps a dataset name to ``(train, train_labels, test, test_labels)``.
    """
    rows = []
    for name, (train, y_train, test, y_test) in data.items():
        y_train = np.asarray(y_train).astype(str)
        for k in shots:
            for draw in range(1 if k is None else draws):
                index = sample_per_class(y_train, k, seed + draw)
                for method, factory in factories.items():
                    start = time.perf_counter()
                    try:
                        clf = factory().fit([train[i] for i in index], y_train[index])
                    except InputError as exc:
                        log(f"skip {name} {method} at {k} per class: {exc}")
                        continue
                    accuracy = clf.score(test, y_test)
                    rows.append({"dataset": name, "method": method, "shots": "all" if k is None else str(k),
                                 "draw": draw, "accuracy": accuracy, "seconds": time.perf_counter() - start})
                log(f"{name:18s} {'all' if k is None else k:>3} per class, draw {draw}: " + "  ".join(
                    f"{r['method']} {r['accuracy']:.3f}" for r in rows if r["dataset"] == name
                    and r["shots"] == ("all" if k is None else str(k)) and r["draw"] == draw))
    return pd.DataFrame(rows)


def curve_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over draws and datasets: one row per count (in run order), one column per method."""
    per_set = results.groupby(["shots", "method", "dataset"], sort=False)["accuracy"].mean().reset_index()
    table = per_set.groupby(["shots", "method"], sort=False)["accuracy"].mean().unstack("method")
    return table.loc[list(dict.fromkeys(results["shots"]))][list(dict.fromkeys(results["method"]))]


def plot_curves(results: pd.DataFrame, path: str | Path) -> Path:
    """A PNG of :func:`curve_table`: mean accuracy against labelled series per class, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = curve_table(results)
    fig, ax = plt.subplots(figsize=(6, 4))
    positions = np.arange(len(table))
    for method in table.columns:
        ax.plot(positions, table[method].to_numpy(), marker="o", label=method)
    ax.set_xticks(positions, [str(s) for s in table.index])
    ax.set_xlabel("labelled training series per class")
    ax.set_ylabel(f"mean test accuracy over {results['dataset'].nunique()} datasets")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
