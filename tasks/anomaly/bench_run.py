"""Run one benchmark for several detectors and return its table (the ``tsfm detect-bench`` job)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tsfm.tasks.anomaly import benchmarks as bm

# Per-benchmark detector settings. SKAB anomalies last hundreds of rows, so scores are smoothed;
# NAB files are short at the start (the reference is 15% of each), so windows are shorter.
SETTINGS = {
    "skab": {"smooth": 1, "alpha": 0.01, "embedding": {"anchor": 64}, "window": {}},
    "nab": {"smooth": 1, "alpha": 0.01, "embedding": {"window": 16}, "window": {"calibration_fraction": 0.5}},
    "ucr": {"smooth": 1, "alpha": 0.01, "embedding": {}, "window": {}},
}


def detector_options(benchmark: str, name: str, smooth: int | None, alpha: float | None) -> dict:
    """Constructor options of detector ``name`` on ``benchmark``."""
    settings = SETTINGS[benchmark]
    options = {"smooth": smooth or settings["smooth"], "alpha": alpha or settings["alpha"]}
    if name == "embedding":
        options.update(settings["embedding"])
    if name in ("embedding", "isolation-forest", "matrix-profile", "zscore", "robust-zscore"):
        options.update(settings["window"])
    if name == "matrix-profile" and benchmark == "nab":
        options["window"] = 16
    if name == "auto":  # each candidate with this benchmark's settings for it
        from tsfm.tasks.anomaly.auto import FAST_CANDIDATES

        options["candidate_options"] = {c: detector_options(benchmark, c, smooth, alpha) for c in FAST_CANDIDATES}
    return options


def run_benchmark(
    benchmark: str, shared_data: str | Path, names: Sequence[str], model: str, *, smooth: int | None = None,
    alpha: float | None = None, max_files: int | None = None, max_rows: int | None = None,
) -> pd.DataFrame | None:
    """The benchmark's table, or ``None`` (with a printed reason) when its data folder is absent."""
    root = Path(shared_data)
    try:
        if benchmark == "skab":
            corpus = bm.load_skab(root / "skab")
        elif benchmark == "nab":
            corpus = bm.load_nab(root / "nab", max_files=max_files, max_rows=max_rows)
        else:
            corpus = bm.load_ucr_aeon()
    except bm.BenchmarkDataMissing as exc:
        print(f"skipped {benchmark}: {exc}")
        return None
    print(f"{benchmark}: {len(corpus)} series, detectors {', '.join(names)}, model {model}")
    outcomes = {
        name: bm.run_detector(name, corpus, model, detector_options(benchmark, name, smooth, alpha))
        for name in names
    }
    if "auto" in outcomes:
        print_auto_choices(outcomes["auto"][0])
    if benchmark == "nab":
        return bm.nab_table(outcomes, bm.nab_published(root))
    return bm.skab_table(outcomes, published=benchmark == "skab")  # the same point metrics for UCR


def print_auto_choices(runs: Sequence[bm.Outcome]) -> None:
    """What ``auto`` chose on each series, and how often each detector was chosen."""
    counts = pd.Series([r.chosen or "(refused)" for r in runs]).value_counts()
    print("auto chose: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if len(runs) <= 20:
        print("  " + ", ".join(f"{r.series.name}: {r.chosen or '(refused)'}" for r in runs))
