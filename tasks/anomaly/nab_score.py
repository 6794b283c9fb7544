"""The NAB score (Numenta Anomaly Benchmark, Lavin & Ahmad 2015), written from its definition.

Each labelled anomaly has a window. Within a file:

- the first ``min(floor(0.15 n), 0.15 * 5000)`` rows are probationary and never scored;
- in a window, only the earliest detection counts: at relative position
  ``p = -(right - i + 1) / width`` (-1 at the left edge, near 0 at the right edge) it earns
  ``tp_weight * S(p) / S(-1)`` with the scaled sigmoid ``S(p) = 2 / (1 + exp(5 p)) - 1``;
- a window without a detection costs ``fn_weight``;
- every detection outside windows costs ``fp_weight * S(d)``, where ``d`` is its distance past
  the end of the previous window in units of that window's width minus one (``S = -1`` for
  ``d >= 3`` and before the first window), so alarms just after a window cost little.

A corpus's raw score (the sum over files) is normalised to 0 for the null detector and 100
for the perfect one: ``100 (raw - null) / (perfect - null)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsfm.errors import InputError


@dataclass(frozen=True)
class Profile:
    """NAB cost weights of an application profile."""

    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES = {
    "standard": Profile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": Profile(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": Profile(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


def _profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise InputError(f"unknown NAB profile {profile!r}; known: {sorted(PROFILES)}")
    return PROFILES[profile]


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's ``S(p) = 2 sigmoid(-5 p) - 1``, and -1 from ``p >= 3`` on."""
    p = np.asarray(position, dtype=np.float64)
    return np.where(p >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(p, 3.0))) - 1.0)


@dataclass(frozen=True)
class NabFile:
    """Per-row NAB weights of one file, independent of the detector.

    Attributes
    ----------
    weight
        ``[time]`` what a detection at each row earns (> 0 in windows) or costs (< 0 outside).
    window_id
        ``[time]`` index of the row's window, -1 outside windows.
    scorable
        ``[time]`` bool, False in the probationary period.
    n_windows
        Windows with at least one scorable row.
    perfect
        Raw score of the perfect detector on this file.
    """

    weight: np.ndarray
    window_id: np.ndarray
    scorable: np.ndarray
    n_windows: int
    perfect: float


def nab_file(n_rows: int, windows: list[tuple[int, int]], profile: str | Profile = "standard",
             probation_percent: float = 0.15) -> NabFile:
    """Weights of one file of ``n_rows`` rows with ``windows`` as (first, last) row indices, inclusive."""
    prof = _profile(profile)
    rows = np.arange(n_rows)
    weight = np.full(n_rows, -prof.fp_weight)  # before any window: S = -1
    window_id = np.full(n_rows, -1)
    ordered = sorted((int(a), int(b)) for a, b in windows)
    for k, (left, right) in enumerate(ordered):
        if not 0 <= left <= right < n_rows:
            raise InputError(f"window {k} ({left}, {right}) is outside the file's {n_rows} rows")
        width = right - left + 1
        inside = slice(left, right + 1)
        position = -(right - rows[inside] + 1) / width
        weight[inside] = prof.tp_weight * scaled_sigmoid(position) / scaled_sigmoid(-1.0)
        window_id[inside] = k
        next_left = ordered[k + 1][0] if k + 1 < len(ordered) else n_rows
        after = slice(right + 1, next_left)
        distance = np.abs(rows[after] - right) / max(width - 1, 1)
        weight[after] = prof.fp_weight * scaled_sigmoid(distance)
    probation = min(np.floor(probation_percent * n_rows), probation_percent * 5000)
    scorable = rows >= probation
    live = [k for k in range(len(ordered)) if (scorable & (window_id == k)).any()]
    perfect = sum(weight[scorable & (window_id == k)].max() for k in live)
    return NabFile(weight, window_id, scorable, len(live), float(perfect))


def nab_raw_score(file: NabFile, detections: np.ndarray, profile: str | Profile = "standard") -> float:
    """Raw NAB score of bool ``detections [time]`` on one file."""
    prof = _profile(profile)
    flagged = np.asarray(detections, dtype=bool)
    if flagged.shape != file.weight.shape:
        raise InputError(f"detections must have {file.weight.size} rows, got {flagged.shape}")
    flagged = flagged & file.scorable
    score = float(file.weight[flagged & (file.window_id < 0)].sum())
    for k in np.unique(file.window_id[file.scorable & (file.window_id >= 0)]):
        hits = flagged & (file.window_id == k)
        score += float(file.weight[hits].max()) if hits.any() else -prof.fn_weight
    return score


def nab_normalised(raw: float, perfect: float, n_windows: int, profile: str | Profile = "standard") -> float:
    """``100 (raw - null) / (perfect - null)`` with the null detector's score ``-fn_weight * n_windows``."""
    prof = _profile(profile)
    null = -prof.fn_weight * n_windows
    if perfect == null:
        raise InputError("the corpus has no scorable window: the NAB score is undefined")
    return 100.0 * (raw - null) / (perfect - null)
