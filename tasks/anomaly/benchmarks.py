"""Real anomaly benchmarks: SKAB, NAB and the UCR anomaly series shipped in aeon.

Each runner takes detector names (see :data:`DETECTORS`), fits one detector per series on
its normal reference part, and returns a table of metrics beside the published figures.
A runner whose data folder is absent raises :class:`BenchmarkDataMissing`, which the CLI
reports as a skip.

- SKAB (leaderboard protocol): in every experiment file the first 400 rows are normal
  operation and are the reference; F1, FAR and MAR are point-wise on the remaining rows,
  counts pooled over all experiments.
- NAB: the probationary first 15% of each file is the reference; one threshold
  multiplier for the whole corpus is chosen for the best score (as NAB optimises one
  threshold per detector), and the score is normalised to null = 0, perfect = 100.
- UCR (aeon's ``KDD-TSAD_135``): the shipped train part is the reference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import AnomalyDetector, onsets
from tsfm.tasks.anomaly.metrics import PointScores, event_f1, point_scores, vus_pr
from tsfm.tasks.anomaly.nab_score import NabFile, nab_file, nab_normalised, nab_raw_score

SKAB_REFERENCE_ROWS = 400
SKAB_PUBLISHED = {  # SKAB README, outlier-detection leaderboard: F1, FAR %, MAR %
    "Conv-AE (published)": (0.78, 13.55, 28.02),
    "MSET (published)": (0.78, 39.73, 14.13),
    "T-squared+Q (published)": (0.76, 26.62, 24.92),
    "Isolation forest (published)": (0.29, 2.56, 82.89),
}
NAB_PUBLISHED_FALLBACK = {"ARTime": 74.9, "Numenta HTM": 70.5}


class BenchmarkDataMissing(InputError):
    """The benchmark's data folder is absent."""


def _factory(name: str, model: Forecaster | str) -> Callable[..., AnomalyDetector]:
    from tsfm.tasks.anomaly import auto, baselines, detectors, drift, likelihood

    table: dict[str, Callable[..., AnomalyDetector]] = {
        "auto": lambda **kw: auto.AutoDetector(model=model, **kw),
        "drift": lambda **kw: drift.DriftDetector(**kw),
        "likelihood": lambda **kw: likelihood.LikelihoodDetector(**kw),
        "forecast": lambda **kw: detectors.ForecastDetector(model, **kw),
        "embedding": lambda **kw: detectors.EmbeddingDetector(model, **kw),
        "isolation-forest": lambda **kw: baselines.IsolationForestDetector(**kw),
        "zscore": lambda **kw: baselines.ZScoreDetector(robust=False, **kw),
        "robust-zscore": lambda **kw: baselines.ZScoreDetector(robust=True, **kw),
        "matrix-profile": lambda **kw: baselines.MatrixProfileDetector(**kw),
        "residual-naive": lambda **kw: baselines.residual_detector("naive", **kw),
        "residual-seasonal-naive": lambda **kw: baselines.residual_detector("seasonal-naive", **kw),
    }
    if name not in table:
        raise InputError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    return table[name]


DETECTORS = ("auto", "drift", "likelihood", "forecast", "embedding", "isolation-forest", "zscore", "robust-zscore",
             "matrix-profile", "residual-naive", "residual-seasonal-naive")


def make_detector(name: str, model: Forecaster | str = "tsfm-bolt-mini", **options: object) -> AnomalyDetector:
    """A detector by short name (``forecast``, ``embedding`` use ``model``); ``options`` go to its constructor."""
    return _factory(name, model)(**options)


@dataclass(frozen=True)
class LabelledSeries:
    """One benchmark series: values ``[time, channels]``, labels ``[time]`` and its reference length."""

    name: str
    values: np.ndarray
    labels: np.ndarray
    n_reference: int
    timestamps: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------- loaders
def load_skab(root: str | Path) -> list[LabelledSeries]:
    """Every SKAB experiment under ``root/data`` except the anomaly-free recording."""
    folder = Path(root) / "data"
    files = sorted(p for p in folder.glob("*/*.csv") if p.parent.name != "anomaly-free") if folder.is_dir() else []
    if not files:
        raise BenchmarkDataMissing(f"no SKAB experiment files under {folder} (expected data/valve1/*.csv ...)")
    out = []
    for path in files:
        frame = pd.read_csv(path, sep=";")
        values = frame.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy(np.float64)
        out.append(LabelledSeries(
            f"{path.parent.name}/{path.stem}", values, frame["anomaly"].to_numpy() > 0, SKAB_REFERENCE_ROWS,
        ))
    return out


def load_nab(root: str | Path, max_files: int | None = None, max_rows: int | None = None) -> list[LabelledSeries]:
    """NAB files with their labelled windows (labels are the windows, as NAB scores them).

    ``max_files`` keeps every k-th file of the sorted list so that each category stays
    represented; ``max_rows`` truncates long files (windows past the cut are dropped).
    """
    root = Path(root)
    windows_file = root / "labels" / "combined_windows.json"
    if not windows_file.is_file():
        raise BenchmarkDataMissing(f"{windows_file} is absent (NAB v1.1 data folder expected at {root})")
    windows = json.loads(windows_file.read_text())
    names = sorted(windows)
    if max_files is not None and max_files < len(names):
        names = [names[i] for i in np.linspace(0, len(names) - 1, max_files).round().astype(int)]
    out = []
    for name in names:
        frame = pd.read_csv(root / "data" / name)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy()
        values = frame["value"].to_numpy(np.float64)
        if max_rows is not None:
            stamps, values = stamps[:max_rows], values[:max_rows]
        labels = np.zeros(len(values), bool)
        for left, right in windows[name]:
            lo, hi = np.searchsorted(stamps, np.datetime64(pd.Timestamp(left))), np.searchsorted(
                stamps, np.datetime64(pd.Timestamp(right)), side="right")
            if hi <= len(values) and lo < hi:
                labels[lo:hi] = True
        n_reference = int(min(np.floor(0.15 * len(values)), 0.15 * 5000))
        out.append(LabelledSeries(name, values[:, None], labels, n_reference, stamps))
    return out


def load_ucr_aeon() -> list[LabelledSeries]:
    """aeon's shipped UCR anomaly series KDD-TSAD_135: train part (normal) then test part."""
    from aeon.datasets import load_kdd_tsad_135

    train, _ = load_kdd_tsad_135(split="train")
    test, labels = load_kdd_tsad_135(split="test")  # the test series starts with the train part
    values = np.asarray(test, np.float64)[:, None]
    return [LabelledSeries("KDD-TSAD_135", values, np.asarray(labels) > 0, len(train))]


# ---------------------------------------------------------------------------------------------- runners
@dataclass(frozen=True)
class Outcome:
    """What one detector produced on one series: scores and alarms on the scored part."""

    series: LabelledSeries
    scores: np.ndarray
    is_anomaly: np.ndarray
    threshold: float
    refractory: int = 0
    error: str = ""  # why the detector could not run on this series (no alarms were counted), else ""
    chosen: str = ""  # the detector that ran: for ``auto``, the one it chose on this series


def run_detector(
    name: str, corpus: Sequence[LabelledSeries], model: Forecaster | str, options: dict | None = None,
    progress: bool = True,
) -> tuple[list[Outcome], float]:
    """Fit ``name`` on each series' reference, score the whole series; returns outcomes and seconds.

    A series the detector refuses (an :class:`InputError`, e.g. a constant reference) gets no alarm
    and keeps the reason in its outcome's ``error``; the tables count such series.
    """
    from tsfm.registry import resolve_model

    model = resolve_model(model) if name in ("forecast", "embedding") else model
    outcomes, started = [], time.perf_counter()
    items = corpus
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(corpus, desc=name, unit="series", leave=False)
    for item in items:
        detector = make_detector(name, model, **(options or {}))
        try:
            detector.fit(item.values[: item.n_reference])
            found = detector.detect(item.values)
        except InputError as exc:  # e.g. a constant reference: this series gets no alarm, and says why
            n = len(item.values)
            outcomes.append(Outcome(item, np.zeros(n), np.zeros(n, bool), np.inf, detector.refractory, str(exc)))
            continue
        chosen = getattr(detector, "chosen_", detector.name)  # auto says what it chose
        outcomes.append(Outcome(item, found.scores, found.is_anomaly, found.threshold, detector.refractory,
                                chosen=chosen))
    return outcomes, time.perf_counter() - started


def skab_table(
    outcomes: dict[str, tuple[list[Outcome], float]], with_vus: bool = True, published: bool = True
) -> pd.DataFrame:
    """SKAB leaderboard rows (pooled point F1, FAR %, MAR %, mean event F1 and VUS-PR) plus the published rows."""
    rows = []
    for name, (runs, seconds) in outcomes.items():
        pooled = PointScores(0, 0, 0, 0)
        for run in runs:
            cut = run.series.n_reference
            pooled = pooled + point_scores(run.series.labels[cut:], run.is_anomaly[cut:])
        row = {"detector": name, "F1": pooled.f1, "FAR_%": pooled.far, "MAR_%": pooled.mar,
               "event_F1": float(np.mean([event_f1(r.series.labels[r.series.n_reference:],
                                                   r.is_anomaly[r.series.n_reference:]) for r in runs]))}
        if with_vus:
            row["VUS_PR"] = float(np.mean([vus_pr(r.series.labels[r.series.n_reference:],
                                                  r.scores[r.series.n_reference:]) for r in runs]))
        row["seconds"] = seconds
        rows.append(row)
    for name, (f1, far, mar) in SKAB_PUBLISHED.items() if published else ():
        rows.append({"detector": name, "F1": f1, "FAR_%": far, "MAR_%": mar})
    return pd.DataFrame(rows)


NAB_THRESHOLD_LEVELS = np.concatenate([np.linspace(0.5, 0.999, 150), 1 - np.logspace(-3, -6, 60)])  # fine in the tail


def nab_files(corpus: Sequence[LabelledSeries]) -> list[NabFile]:
    """NAB's per-row weights of each series, from its labelled windows."""
    return [nab_file(len(s.values), [(int(a), int(b) - 1) for a, b in _windows(s.labels)]) for s in corpus]


def nab_sweep(runs: Sequence[Outcome], files: Sequence[NabFile], levels: np.ndarray = NAB_THRESHOLD_LEVELS,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds at ``levels`` quantiles of the pooled scorable scores, and the raw NAB score of each
    file at each ``[threshold, file]`` (alarms at onsets, with each outcome's refractory period)."""
    pooled = np.concatenate([r.scores[f.scorable] for f, r in zip(files, runs)])
    grid = np.unique(np.quantile(pooled, levels))
    raw = np.array([[nab_raw_score(f, onsets(r.scores > t, r.refractory)) for f, r in zip(files, runs)]
                    for t in grid])
    return grid, raw


def nab_table(outcomes: dict[str, tuple[list[Outcome], float]], published: dict[str, float]) -> pd.DataFrame:
    """NAB standard-profile scores: at each detector's own label-free thresholds, and at the best
    single corpus-wide threshold on the calibrated scores (NAB's own optimisation), plus published rows."""
    rows = []
    for name, (runs, seconds) in outcomes.items():
        files = nab_files([r.series for r in runs])
        perfect = sum(f.perfect for f in files)
        n_windows = sum(f.n_windows for f in files)
        own = sum(nab_raw_score(f, r.is_anomaly) for f, r in zip(files, runs))
        grid, raw = nab_sweep(runs, files)
        totals = raw.sum(axis=1)
        best = int(np.argmax(totals))
        rows.append({
            "detector": name,
            "NAB_standard_own_threshold": nab_normalised(own, perfect, n_windows),
            "NAB_standard_best_threshold": nab_normalised(totals[best], perfect, n_windows),
            "best_threshold": float(grid[best]), "files": len(runs),
            "files_failed": sum(bool(r.error) for r in runs), "seconds": seconds,
        })
    for name, value in published.items():
        rows.append({"detector": f"{name} (published)", "NAB_standard_best_threshold": value})
    return pd.DataFrame(rows)


def _windows(labels: np.ndarray) -> np.ndarray:
    from tsfm.tasks.anomaly.metrics import events

    return events(labels)


def nab_published(root: str | Path | None) -> dict[str, float]:
    """Standard-profile scores from ``reference/nab/final_results.json`` where present, else the README's."""
    path = Path(root) / "reference" / "nab" / "final_results.json" if root is not None else None
    if path is None or not path.is_file():
        return dict(NAB_PUBLISHED_FALLBACK)
    results = json.loads(path.read_text())
    keep = ("ARTime", "numenta", "knncad", "randomCutForest", "random")
    return {k: float(results[k]["standard"]) for k in keep if k in results}
