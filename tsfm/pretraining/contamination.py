"""Keeping evaluation data out of the pretraining corpus: a check by name and a check by content.

Every zero-shot figure this project reports is only honest if the model never saw the evaluation
series. Two checks guard the real-series corpus (:mod:`tsfm.pretraining.corpus`) and the user's
``extra_data``:

- **by name** (:func:`excluded_by_name`): a source whose name or dataset mentions an evaluation
  set (M4, ETT, tourism and visitor nights, NAB, SKAB, CWRU, C-MAPSS, and the suite's aeon sets:
  airline, lynx, m1_yearly, shampoo_sales, solar, uschange, pbs) is refused;
- **by content** (:class:`EvaluationIndex`): every window of ``window`` consecutive values of every
  evaluation series is fingerprinted after an affine normalisation (``(w - w[0]) / (max - min)``,
  rounded), so a copy survives a change of units or offset. A corpus series that shares one such
  window with an evaluation series is dropped. Windows with fewer than ``min_distinct`` distinct
  values (flat stretches, runs of zeros) carry no identity and are not fingerprinted.

The evaluation series are the aeon sets (they ship inside aeon) plus the M4 and ETT files found
under a ``shared_data`` folder when it is given and holds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tsfm.errors import InputError

# The suite's aeon sets (tsfm.tasks.suite) and every other evaluation set of the project.
SUITE_AEON_SETS: tuple[str, ...] = ("airline", "lynx", "m1_yearly", "shampoo_sales", "solar", "uschange", "pbs")
_NAME_PATTERNS: tuple[str, ...] = (
    r"\bm4", r"\bett(?:[hm]\d?)?\b", r"tourism", r"visitor", r"\bnab\b", r"\bskab\b",
    r"\bcwru\b", r"c ?mapss", r"airline", r"air ?passengers", r"\blynx\b", r"\bm1\b", r"shampoo",
    r"solar", r"uschange", r"\bpbs\b",
)
_QUANTUM = 1e-4  # rounding of normalised window values: copies in other units still match
# Odd 64-bit multipliers of the window hash: one per position, fixed so indexes are reproducible.
_MULTIPLIERS = np.random.default_rng(0x5EED).integers(1, 2**62, size=256, dtype=np.int64) * 2 + 1


def excluded_by_name(*names: str) -> str | None:
    """The evaluation-set pattern that one of ``names`` matches, or ``None`` when none does.

    Names are lower-cased and every non-alphanumeric character becomes a space first, so
    ``"aeon:m1_yearly"``, ``"M4-Hourly"`` and ``"ETTh1.csv"`` are all caught.
    """
    for name in names:
        text = re.sub(r"[^a-z0-9]+", " ", str(name).lower())
        for pattern in _NAME_PATTERNS:
            if re.search(pattern, text):
                return pattern
    return None


def window_hashes(series: np.ndarray, window: int, min_distinct: int = 6) -> np.ndarray:
    """Fingerprints ``[k]`` (int64) of the informative windows of one series.

    Windows holding a NaN or fewer than ``min_distinct`` distinct values are skipped. Each window is
    normalised to ``(w - w[0]) / (max - min)``, rounded to ``1e-4`` and hashed, so the same stretch
    in other units (``a * w + b`` with ``a > 0``) has the same fingerprint.
    """
    values = np.asarray(series, dtype=np.float64)
    if values.ndim != 1 or len(values) < window:
        return np.empty(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(values, window)  # [n_windows, window]
    ordered = np.sort(windows, axis=1)
    distinct = 1 + (np.diff(ordered, axis=1) > 0).sum(axis=1)
    keep = np.isfinite(windows).all(axis=1) & (distinct >= min_distinct)
    windows, ordered = windows[keep], ordered[keep]
    spread = ordered[:, -1] - ordered[:, 0]
    quantised = np.rint((windows - windows[:, :1]) / spread[:, None] / _QUANTUM).astype(np.int64)
    with np.errstate(over="ignore"):  # wrap-around is the hash
        return (quantised * _MULTIPLIERS[:window]).sum(axis=1)


class EvaluationIndex:
    """The fingerprints of every window of a set of evaluation series.

    Parameters
    ----------
    series
        Named evaluation series ``(name, values)``.
    window
        Length of the compared windows. 12 by default: shorter than the shortest M1 yearly series
        (15). With 8 values and 4 distinct ones, 8 of the 271 corpus series matched an M4 Hourly
        window by chance (slow, rounded series such as fertility rates); with 12 and 6, none.
    min_distinct
        Windows with fewer distinct values are not compared (see :func:`window_hashes`).
    """

    def __init__(self, series: Iterable[tuple[str, np.ndarray]], window: int = 12, min_distinct: int = 6) -> None:
        if not 2 <= window <= len(_MULTIPLIERS):
            raise InputError(f"window must be an integer in [2, {len(_MULTIPLIERS)}]; got {window!r}")
        self.window, self.min_distinct = int(window), int(min_distinct)
        names, hashes = [], []
        for name, values in series:
            names.append(name)
            hashes.append(window_hashes(values, self.window, self.min_distinct))
        self.names = tuple(names)
        self.hashes = np.unique(np.concatenate(hashes)) if hashes else np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.hashes)

    def overlaps(self, values: np.ndarray) -> bool:
        """Whether ``values`` shares a (normalised) window with an evaluation series."""
        own = window_hashes(values, self.window, self.min_distinct)
        if not len(own) or not len(self.hashes):
            return False
        at = np.searchsorted(self.hashes, own).clip(max=len(self.hashes) - 1)
        return bool((self.hashes[at] == own).any())

    def filter(self, series: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
        """The series that overlap no evaluation series, and the indices of the dropped ones."""
        dropped = [i for i, values in enumerate(series) if self.overlaps(values)]
        gone = set(dropped)
        return [values for i, values in enumerate(series) if i not in gone], dropped


def evaluation_series(shared_data: str | Path | None = None) -> list[tuple[str, np.ndarray]]:
    """The project's evaluation series that are on this machine, as ``(name, values)``.

    Always the suite's aeon sets (:data:`SUITE_AEON_SETS`, those the installed aeon ships); with
    ``shared_data``, also every M4 subset (``m4/<Subset>-train.csv`` with its test file) and every
    numeric column of the ETT files (``ett/*.csv``) found there.
    """
    from tsfm import datasets

    out: list[tuple[str, np.ndarray]] = []
    for name in SUITE_AEON_SETS:
        try:
            frame = datasets.read_aeon(name)
        except InputError:  # not shipped by this aeon version
            continue
        for item, part in frame.groupby("item_id", sort=False):
            out.append((f"aeon:{name}:{item}", part["target"].to_numpy(dtype=np.float64)))
    if shared_data is None:
        return out
    root = Path(shared_data)
    if not root.is_dir():
        import warnings

        warnings.warn(f"evaluation data folder {str(root)!r} not found: the content check covers aeon's sets only "
                      "(no M4, no ETT)", stacklevel=2)
        return out
    for train in sorted((root / "m4").glob("*-train.csv")):
        subset = train.name[: -len("-train.csv")]
        ids, head, tail = datasets.load_m4(root / "m4", subset)
        out += [(f"m4:{subset}:{i}", np.concatenate([a, b])) for i, a, b in zip(ids, head, tail)]
    for path in sorted((root / "ett").glob("*.csv")):
        import pandas as pd

        table = pd.read_csv(path)
        out += [(f"ett:{path.stem}:{c}", table[c].to_numpy(dtype=np.float64))
                for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    return out
