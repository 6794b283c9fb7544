"""CWRU bearing recordings: read them, cut windows, split by recording.

The Case Western Reserve University bearing data (12 kHz drive-end accelerometer) holds one
long recording per fault and load. Windows cut from one recording are nearly identical, so
a split by random window puts near-copies in train and test and reports inflated accuracy.
Here every split is **by recording**: all windows of a recording go to the same side.

Classes are the fault location: ball (``B``), inner race (``IR``), outer race (``OR``, any
clock position) and ``Normal``. The folder has one Normal recording at 0 HP and none at
1 HP, so Normal can be learnt but never tested by recording; it stays in training, where it
is one more class the classifier may wrongly predict.

Expected layout (``load{N}hp_12k_DE.npz`` with one float32 array per recording, and
``load{N}hp_labels.csv`` with ``key,rpm,load_hp,fault,diameter_mil,...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsfm.errors import InputError


@dataclass(frozen=True)
class Recording:
    """One recording: its key (e.g. ``1797_IR_7``), class, fault diameter (mils), load (HP), signal."""

    key: str
    label: str
    diameter: int
    load_hp: int
    signal: np.ndarray


def fault_class(fault: str) -> str:
    """Fault location from the labels file's ``fault`` column: ``OR@6`` -> ``OR``."""
    return fault.split("@")[0]


def load_recordings(folder: str | Path, load_hp: int) -> list[Recording]:
    """All recordings at ``load_hp`` from a CWRU folder, in the labels file's order."""
    import pandas as pd

    folder = Path(folder)
    signals_path, labels_path = folder / f"load{load_hp}hp_12k_DE.npz", folder / f"load{load_hp}hp_labels.csv"
    for path in (signals_path, labels_path):
        if not path.is_file():
            raise InputError(f"CWRU file not found: {path}")
    labels = pd.read_csv(labels_path)
    with np.load(signals_path) as signals:
        missing = sorted(set(labels["key"]) - set(signals.files))
        if missing:
            raise InputError(f"{labels_path.name} lists recordings missing from {signals_path.name}: {missing}")
        return [
            Recording(
                key=row.key, label=fault_class(row.fault), diameter=int(row.diameter_mil),
                load_hp=int(row.load_hp), signal=np.asarray(signals[row.key], dtype=np.float64),
            )
            for row in labels.itertuples()
        ]


def cut_windows(
    recordings: list[Recording], window: int, max_windows: int | None = None
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``window`` samples from each recording.

    Parameters
    ----------
    recordings
        Recordings to cut.
    window
        Samples per window.
    max_windows
        Keep at most this many per recording, evenly spaced over it (``None``: all).

    Returns
    -------
    windows, labels, groups
        ``windows``: list of ``[window]`` arrays; ``labels [n]``: class of each window;
        ``groups [n]``: key of the recording each window came from.
    """
    if window < 8:
        raise InputError(f"window={window}: must be at least 8 samples")
    windows, labels, groups = [], [], []
    for rec in recordings:
        n = len(rec.signal) // window
        if n == 0:
            raise InputError(f"recording {rec.key} has {len(rec.signal)} samples, fewer than window={window}")
        picks = np.arange(n) if max_windows is None or n <= max_windows else np.linspace(0, n - 1, max_windows)
        for k in picks.astype(int):
            windows.append(rec.signal[k * window : (k + 1) * window])
            labels.append(rec.label)
            groups.append(rec.key)
    return windows, np.array(labels, dtype=object), np.array(groups, dtype=object)


def recording_folds(recordings: list[Recording], n_folds: int = 4) -> list[tuple[list[str], list[str]]]:
    """Folds that hold out whole recordings: ``[(train_keys, test_keys), ...]``.

    Each class's recordings (sorted by diameter, then key) are dealt round-robin over the
    folds, so every fold tests each class that has more than one recording on recordings
    its training side never saw. A class with one recording (Normal here) is always trained on.
    """
    by_class: dict[str, list[Recording]] = {}
    for rec in recordings:
        by_class.setdefault(rec.label, []).append(rec)
    tests: list[list[str]] = [[] for _ in range(n_folds)]
    for recs in by_class.values():
        if len(recs) < 2:
            continue
        for i, rec in enumerate(sorted(recs, key=lambda r: (r.diameter, r.key))):
            tests[i % n_folds].append(rec.key)
    keys = [rec.key for rec in recordings]
    return [([k for k in keys if k not in held], held) for held in tests if held]
