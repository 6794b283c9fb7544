"""How the ``likelihood`` detector's settings were chosen: NAB's files in two halves, each choosing for the other.

``tsfm detect-bench nab --validate`` runs every candidate of :data:`CANDIDATES` (the likelihood
detector over a grid of its window, likelihood spans and refractory period) on every NAB file with
NAB's protocol (the probationary first 15% is the reference and is not scored), and scores each at
every threshold of a common grid. Then:

1. the files are split into two halves, alternating in their sorted order;
2. each half chooses the candidate and threshold of best NAB standard score on its own files;
3. each half is scored with the *other* half's choice, and the two held-out raw scores are pooled
   and normalised: what the choosing procedure gives on files whose labels it never read.

The row chosen on all files is the default of :class:`~tsfm.tasks.anomaly.likelihood.LikelihoodDetector`
(NAB itself chooses one threshold per detector on the whole corpus, as ``tsfm detect-bench nab`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.tasks.anomaly import benchmarks as bm
from tsfm.tasks.anomaly.nab_score import NabFile, nab_normalised

CANDIDATES: list[dict] = [
    {"window": window, "long": long, "short": short, "refractory": refractory}
    for window in (2000, 6400)
    for long, short in ((1000, 5), (2000, 10), (5000, 10), (2000, 20))
    for refractory in (50, 100, 200)
]
THRESHOLD_TAILS = 1 - np.logspace(-1, -5, 60)  # threshold grid: quantiles of the pooled scorable scores


@dataclass(frozen=True)
class Scored:
    """Raw NAB scores ``[threshold, file]`` of one candidate, and the thresholds."""

    options: dict
    thresholds: np.ndarray
    raw: np.ndarray


def score_candidate(options: dict, corpus: list[bm.LabelledSeries], files: list[NabFile]) -> Scored:
    """Fit on each file's probationary part, score the file, and take NAB's raw score at every threshold."""
    runs, _ = bm.run_detector("likelihood", corpus, "tsfm-bolt-mini", options, progress=False)
    thresholds, raw = bm.nab_sweep(runs, files, THRESHOLD_TAILS)
    return Scored(options, thresholds, raw)


def validate(root: str | Path, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate on every NAB file, and the two-fold choice; returns (candidates table, summary)."""
    from tqdm.auto import tqdm

    corpus = bm.load_nab(root)
    files = bm.nab_files(corpus)
    perfect = np.array([f.perfect for f in files])
    n_windows = np.array([f.n_windows for f in files])

    def normalised(raw: float, mask: np.ndarray) -> float:
        return nab_normalised(raw, float(perfect[mask].sum()), int(n_windows[mask].sum()))

    scored = [score_candidate(o, corpus, files) for o in tqdm(CANDIDATES, desc="candidates", disable=not progress)]
    every = np.ones(len(files), bool)
    halves = (np.arange(len(files)) % 2 == 0, np.arange(len(files)) % 2 == 1)
    table = pd.DataFrame([{**s.options, "NAB_best_threshold": normalised(s.raw.sum(1).max(), every)} for s in scored])

    def choose(mask: np.ndarray) -> tuple[Scored, int]:
        pairs = ((s, i) for s in scored for i in range(len(s.thresholds)))
        return max(pairs, key=lambda pair: pair[0].raw[pair[1], mask].sum())

    rows, held_out = [], 0.0
    for name, (mine, other) in (("A -> B", halves), ("B -> A", halves[::-1])):
        s, i = choose(mine)
        held_out += s.raw[i, other].sum()
        rows.append({"step": f"chosen on half {name[0]}, scored on half {name[-1]}", **s.options,
                     "threshold": s.thresholds[i], "NAB_chooser": normalised(s.raw[i, mine].sum(), mine),
                     "NAB_held_out": normalised(s.raw[i, other].sum(), other)})
    rows.append({"step": "both halves, held out, pooled", "NAB_held_out": normalised(held_out, every)})
    s, i = choose(every)
    rows.append({"step": "chosen on all files (the default; in-sample)", **s.options, "threshold": s.thresholds[i],
                 "NAB_chooser": normalised(s.raw[i].sum(), every)})
    return table, pd.DataFrame(rows)
