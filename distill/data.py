"""Distillation data: windows of the user's series and synthetic series, with the teacher's forecasts.

The flow is one way: series -> fixed-length windows -> teacher quantiles (computed once) -> an
Arrow dataset on disk that every epoch reads.

- **User windows.** The last ``horizon`` steps of every series are the validation target; its
  context is the ``context_length`` steps before them. Training windows end before the validation
  target starts, so no training target overlaps what validation scores (no look-ahead).
- **Synthetic windows** (training only) come from :func:`tsfm.pretraining.synthetic.generate_batch`,
  so the student also sees shapes the user's history does not have.
- Contexts shorter than ``context_length`` are **left-padded with NaN**, the same way the student
  is fed at inference.
- **Teacher forecasts** are requested through the ``Forecaster`` contract once per window and kept
  in a HF ``datasets`` folder named by a fingerprint of everything they depend on; a second run
  with the same inputs reads them from disk instead of running the teacher again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tsfm.contract import Forecaster
from tsfm.errors import InputError

COLUMNS = ("context", "target", "teacher", "synthetic")


@dataclass(frozen=True)
class Windows:
    """A set of fixed-length windows.

    Attributes
    ----------
    contexts
        ``[n, context_length]`` float32, left-padded with NaN.
    targets
        ``[n, horizon]`` float32 ground truth (NaN = missing).
    synthetic
        ``[n]`` bool, True for windows cut from synthetic series.
    """

    contexts: np.ndarray
    targets: np.ndarray
    synthetic: np.ndarray

    def __len__(self) -> int:
        return len(self.contexts)

    def concat(self, other: Windows) -> Windows:
        return Windows(
            np.concatenate([self.contexts, other.contexts]),
            np.concatenate([self.targets, other.targets]),
            np.concatenate([self.synthetic, other.synthetic]),
        )


def left_pad(values: np.ndarray, length: int) -> np.ndarray:
    """The last ``length`` values of ``values``, left-padded with NaN when it is shorter: ``[length]``."""
    out = np.full(length, np.nan, dtype=np.float32)
    tail = np.asarray(values, dtype=np.float32)[-length:]
    if len(tail):
        out[length - len(tail) :] = tail
    return out


def split_windows(
    series: Sequence[np.ndarray],
    context_length: int,
    horizon: int,
    stride: int,
    max_per_series: int,
    min_observed: int = 8,
) -> tuple[Windows, Windows]:
    """Cut training and validation windows from each series; see the module docstring.

    Parameters
    ----------
    series
        1-D float arrays (NaN = missing), any lengths.
    context_length, horizon
        Window shape.
    stride
        Steps between consecutive training cut-offs, counted back from the last allowed one.
    max_per_series
        Most training windows per series (the most recent ones are kept).
    min_observed
        Fewest observed context values a window needs.

    Returns
    -------
    tuple[Windows, Windows]
        ``(train, validation)``; validation has at most one window per series.
    """
    train: list[tuple[np.ndarray, np.ndarray]] = []
    val: list[tuple[np.ndarray, np.ndarray]] = []
    for values in series:
        values = np.asarray(values, dtype=np.float64)
        n = len(values)
        if np.isfinite(values[: max(n - horizon, 0)]).sum() >= min_observed:
            val.append((left_pad(values[: n - horizon], context_length), values[n - horizon :]))
        last_cutoff = n - 2 * horizon  # the training target must end where the validation one starts
        cutoffs = range(last_cutoff, 0, -stride)
        for cutoff in list(cutoffs)[:max_per_series]:
            if np.isfinite(values[:cutoff]).sum() >= min_observed:
                train.append((left_pad(values[:cutoff], context_length), values[cutoff : cutoff + horizon]))
    if not val:
        raise InputError(
            f"no series is long enough to distil from: each needs horizon ({horizon}) + at least "
            f"{min_observed} observed context values; the longest has {max((len(s) for s in series), default=0)}"
        )
    return _stack(train, context_length, horizon, False), _stack(val, context_length, horizon, False)


def _stack(pairs: list[tuple[np.ndarray, np.ndarray]], context_length: int, horizon: int, synthetic: bool) -> Windows:
    contexts = np.array([c for c, _ in pairs], dtype=np.float32).reshape(-1, context_length)
    targets = np.array([t for _, t in pairs], dtype=np.float32).reshape(-1, horizon)
    return Windows(contexts, targets, np.full(len(pairs), synthetic))


def synthetic_windows(n: int, context_length: int, horizon: int, seed: int) -> Windows:
    """``n`` windows cut from the project's synthetic generators (each series is one window)."""
    from tsfm.pretraining.synthetic import SyntheticConfig, generate_batch

    if n == 0:
        return Windows(
            np.zeros((0, context_length), np.float32), np.zeros((0, horizon), np.float32), np.zeros(0, bool)
        )
    config = SyntheticConfig(length=context_length + horizon)
    rows = generate_batch(config, seed, 0, n)  # [n, context_length + horizon]
    keep = np.isfinite(rows[:, :context_length]).sum(axis=1) >= 8
    rows = rows[keep]
    return Windows(rows[:, :context_length], rows[:, context_length:], np.ones(len(rows), dtype=bool))


def teacher_quantiles(
    teacher: Forecaster,
    contexts: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """The teacher's quantiles for every context: ``[n, horizon, n_q]`` float32.

    Leading NaN padding is stripped first, so the teacher sees each context as the user gave it.
    """
    out = []
    starts = range(0, len(contexts), batch_size)
    for start in tqdm(starts, desc=f"teacher {teacher.name}", disable=not progress, unit="batch"):
        chunk = [_strip_leading_nan(row) for row in contexts[start : start + batch_size]]
        forecast = teacher.predict_quantiles(chunk, horizon, levels)
        out.append(forecast.quantiles.astype(np.float32))  # [b, horizon, n_q]
    return np.concatenate(out) if out else np.zeros((0, horizon, len(levels)), np.float32)


def _strip_leading_nan(row: np.ndarray) -> np.ndarray:
    observed = np.flatnonzero(np.isfinite(row))
    return row[observed[0] :] if observed.size else row


def fingerprint(**parts: Any) -> str:
    """A short hash of JSON-able ``parts`` and numpy arrays, naming a teacher cache."""
    digest = hashlib.sha256()
    for key in sorted(parts):
        value = parts[key]
        digest.update(key.encode())
        if isinstance(value, np.ndarray):
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def cached_teacher_dataset(
    cache_dir: Path,
    teacher: Forecaster,
    splits: dict[str, Windows],
    horizon: int,
    levels: Sequence[float],
    progress: bool = True,
) -> tuple[Any, bool]:
    """The windows with the teacher's quantiles, as a ``datasets.DatasetDict``, from disk when cached.

    Returns
    -------
    tuple[datasets.DatasetDict, bool]
        The dataset (columns :data:`COLUMNS`, numpy format) and whether it came from the cache.
    """
    import datasets

    datasets.disable_progress_bars()
    key = fingerprint(
        teacher=teacher.name, horizon=horizon, levels=list(levels),
        **{f"{name}_{i}": arr for name, w in splits.items() for i, arr in enumerate((w.contexts, w.targets))},
    )
    folder = Path(cache_dir) / f"teacher-{key}"
    if (folder / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(folder)).with_format("numpy"), True
    parts = {}
    for name, windows in splits.items():
        teacher_q = teacher_quantiles(teacher, windows.contexts, horizon, levels, progress=progress)
        parts[name] = datasets.Dataset.from_dict({
            "context": windows.contexts, "target": windows.targets, "teacher": teacher_q,
            "synthetic": windows.synthetic,
        })
    dataset = datasets.DatasetDict(parts)
    folder.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_to_disk(str(folder))
    return datasets.load_from_disk(str(folder)).with_format("numpy"), False
