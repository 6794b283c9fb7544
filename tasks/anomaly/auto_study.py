"""How ``--detector auto`` fares on a labelled benchmark at several false-alarm budgets, beside an oracle.

``tsfm detect-bench skab|nab --auto-study``. Each candidate runs once on every series (as in the
benchmark) and :func:`~tsfm.tasks.anomaly.auto.select_detector` runs once on every reference; each
budget then re-chooses from the same selection tables, so the budgets differ only in the rule. The
oracle picks, per series, the candidate of best point F1 (SKAB) or NAB raw score (NAB) by the
series' labels: the most any per-series choice among these candidates could reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.tasks.anomaly import benchmarks as bm
from tsfm.tasks.anomaly.auto import FAST_CANDIDATES, choose, select_detector
from tsfm.tasks.anomaly.metrics import point_scores
from tsfm.tasks.anomaly.nab_score import nab_raw_score

BUDGETS = (2.0, 5.0, 10.0, 15.0, 100.0)


def _file_value(benchmark: str, run: bm.Outcome, nab_file: object | None) -> float:
    if benchmark == "nab":
        return nab_raw_score(nab_file, run.is_anomaly)
    cut = run.series.n_reference
    return point_scores(run.series.labels[cut:], run.is_anomaly[cut:]).f1


def study(benchmark: str, shared_data: str | Path, budgets: Sequence[float] = BUDGETS) -> pd.DataFrame:
    """One row per budget and one for the oracle: the benchmark's metrics and how often each candidate was chosen."""
    if benchmark not in ("skab", "nab"):
        raise InputError(f"--auto-study runs on skab or nab, not {benchmark}")
    from tsfm.tasks.anomaly.bench_run import detector_options

    root = Path(shared_data) / benchmark
    corpus = bm.load_skab(root) if benchmark == "skab" else bm.load_nab(root)
    options = {c: detector_options(benchmark, c, None, None) for c in FAST_CANDIDATES}
    runs = {c: bm.run_detector(c, corpus, "tsfm-bolt-mini", options[c])[0] for c in FAST_CANDIDATES}
    tables = []
    for item in corpus:
        try:
            tables.append(select_detector(item.values[: item.n_reference], options=options).table)
        except InputError:  # refused, as the benchmark counts it: no alarms
            tables.append(None)
    files = bm.nab_files(corpus) if benchmark == "nab" else [None] * len(corpus)
    picks = {f"budget {b:g}%": [choose(t, b) if t is not None else "" for t in tables] for b in budgets}
    picks["oracle (labels)"] = [max(FAST_CANDIDATES, key=lambda c, i=i: _file_value(benchmark, runs[c][i], files[i]))
                                for i in range(len(corpus))]
    rows = []
    for label, chosen in picks.items():
        outcomes = [runs[c][i] if c else _silent(runs[FAST_CANDIDATES[0]][i]) for i, c in enumerate(chosen)]
        if benchmark == "skab":
            table = bm.skab_table({label: (outcomes, 0.0)}, with_vus=False, published=False)
        else:
            table = bm.nab_table({label: (outcomes, 0.0)}, {})
        counts = pd.Series([c or "(refused)" for c in chosen]).value_counts()
        rows.append(table.drop(columns="seconds").assign(chosen=", ".join(f"{k} {v}" for k, v in counts.items())))
    return pd.concat(rows, ignore_index=True)


def _silent(run: bm.Outcome) -> bm.Outcome:
    n = len(run.series.values)
    return bm.Outcome(run.series, np.zeros(n), np.zeros(n, bool), np.inf, 0, "refused")
