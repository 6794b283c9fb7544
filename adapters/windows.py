"""The user's series, split in time, stored as Arrow, and cut into training windows.

Every window is cut by the one validation engine, :class:`tsfm.rolling.RollingWindows`, from the
end of each series, so nothing a model is judged on was seen in training (no look-ahead)::

    |------------- train -------------|-- early stopping (up to K x H) --|-- verdict (up to K x H) --|
    |<------------ holdout(series, verdict) ---------------------------->|

- the verdict: up to ``K`` rolling windows of ``H`` at the end of each series (``K = 3`` unless
  ``FinetuneConfig.windows`` says otherwise; fewer where the series is shorter), where zero-shot,
  every fine-tuned variant and the baselines are scored;
- early stopping: the same kind of windows cut from the end of the *holdout*, the values before
  the earliest verdict window (:func:`tsfm.rolling.holdout`), so no verdict value reaches it;
- training windows: a context ending anywhere in the train part (the holdout's own holdout) and
  the ``H`` values after it, wholly inside the train part.

The train parts are written once to a HF ``datasets`` Arrow file and read back memory-mapped,
so a fleet larger than memory trains window by window. Windows are a pure function of
``(seed, step, micro-batch)``: a resumed run and a run on several processes draw the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.perturb import perturb_windows
from tsfm.rolling import RollingWindows, Window, holdout

DEFAULT_WINDOWS = 3  # verdict (and early-stopping) windows per series, where the series allow


@dataclass(frozen=True)
class HeldOut:
    """Contexts and the ``H`` values after them, one pair per (series, window): ``target [n_windows, H]``.

    ``item_ids`` names the series of each row, so a series with several windows appears several times.
    """

    context: list[np.ndarray]
    target: np.ndarray
    item_ids: list[str]


@dataclass(frozen=True)
class VerdictWindows:
    """The series the verdict scores, whole, and where its windows lie.

    ``tsfm.rolling.score(model, series, config)`` cuts exactly the windows the split kept out of
    training; ``item_ids`` names the series (only those with at least one verdict window).
    """

    series: list[np.ndarray]
    item_ids: list[str]
    config: RollingWindows


@dataclass(frozen=True)
class SplitData:
    """A time split of the user's series (see the module docstring)."""

    train_path: Path
    train_lengths: np.ndarray  # [n_train_series] observations in each train part
    validation: HeldOut  # early-stopping windows, one row per (series, window)
    test: VerdictWindows  # the verdict's rolling windows
    horizon: int
    skipped: list[str]  # series too short for a training, an early-stopping and a verdict window


def split_series(
    item_ids: Iterable[str], series: Iterable[np.ndarray], horizon: int, min_context: int, folder: Path,
    windows: int | None = None,
) -> SplitData:
    """Cut verdict, early-stopping and training data from every series; write the train parts as Arrow.

    A series needs ``min_context + 3 * horizon`` values for one window of each kind (a training
    window, an early-stopping window, a verdict window); each further verdict or early-stopping
    window asks ``horizon`` more, up to ``windows`` of each (``None``: :data:`DEFAULT_WINDOWS`).
    A series too short for all of them gets fewer; one too short for any is skipped and listed in
    ``SplitData.skipped``. The series are read once, so a generator (a fleet read row by row) works.

    Raises
    ------
    InputError
        No series is long enough for one window of each kind, or ``windows`` was given and not one
        series holds that many: names the longest series, its length and the length needed.
    """
    import datasets

    count = DEFAULT_WINDOWS if windows is None else windows
    verdict = RollingWindows(horizon, count, min_train_length=min_context + 2 * horizon)
    inner = RollingWindows(horizon, count, min_train_length=min_context + horizon)
    lengths, skipped, longest = [], [], ("", 0)
    val, kept, kept_ids = _Tails(), [], []

    def train_parts():
        nonlocal longest
        for item, values in zip(item_ids, series):
            values = np.asarray(values, dtype=np.float32)
            longest = max(longest, (str(item), len(values)), key=lambda pair: pair[1])
            if not _fitting(verdict, values):
                skipped.append(str(item))
                continue
            kept.append(values)
            kept_ids.append(str(item))
            past = holdout([values], verdict)[0]  # everything before the earliest verdict window
            for w in _fitting(inner, past):
                val.add(str(item), w.history, w.target)
            train = holdout([past], inner)[0]  # and before the earliest early-stopping window
            lengths.append(len(train))
            yield {"target": train}

    folder.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({"target": datasets.Sequence(datasets.Value("float32"))})
    path = folder / "train.arrow"
    with datasets.arrow_writer.ArrowWriter(features=features, path=str(path)) as writer:
        for row in train_parts():
            writer.write(row)
        writer.finalize()
    _check_lengths(bool(lengths), longest, horizon, min_context, windows)
    test = VerdictWindows(kept, kept_ids, verdict)
    return SplitData(path, np.asarray(lengths), val.held_out(), test, horizon, skipped)


def needed_length(horizon: int, min_context: int, windows: int) -> int:
    """Length a series needs for a training window plus ``windows`` early-stopping and verdict windows each."""
    return min_context + (2 * windows + 1) * horizon


def _check_lengths(
    any_kept: bool, longest: tuple[str, int], horizon: int, min_context: int, windows: int | None
) -> None:
    """Refuse a split without one window of each kind, or without the ``windows`` asked for in any series."""
    name, length = longest
    if not any_kept:
        need = needed_length(horizon, min_context, 1)
        count = windows or DEFAULT_WINDOWS
        raise InputError(
            f"too few windows for horizon {horizon} plus validation and the verdict: a series needs at least "
            f"min_context + 3 * horizon = {need} observations (a training window of {min_context + horizon}, "
            f"then {horizon} for early stopping and {horizon} for the verdict; "
            f"{needed_length(horizon, min_context, count)} for {count} windows of each), but the longest "
            f"series, {name!r}, has {length}; pass longer series or a shorter horizon"
        )
    need = needed_length(horizon, min_context, windows or 1)
    if windows is not None and length < need:
        allowed = (length - min_context - horizon) // (2 * horizon)
        raise InputError(
            f"windows={windows} asks for {windows} early-stopping and {windows} verdict windows of horizon "
            f"{horizon} per series: a series needs min_context + (2 * windows + 1) * horizon = {need} "
            f"observations, but the longest series, {name!r}, has {length} (enough for windows={allowed}); "
            f"pass windows={allowed} or fewer, a shorter horizon, or longer series"
        )


def _fitting(config: RollingWindows, values: np.ndarray) -> list[Window]:
    """The windows of ``config`` that fit in ``values`` (none, rather than an error, when none does)."""
    try:
        return config.split([values])
    except InputError:
        return []


class _Tails:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.context: list[np.ndarray] = []
        self.target: list[np.ndarray] = []

    def add(self, item: str, context: np.ndarray, target: np.ndarray) -> None:
        self.ids.append(item)
        self.context.append(context)
        self.target.append(target)

    def held_out(self) -> HeldOut:
        return HeldOut(self.context, np.stack(self.target) if self.target else np.zeros((0, 0)), self.ids)


class WindowSampler:
    """Draws training windows from the Arrow train parts.

    Parameters
    ----------
    split
        The split whose ``train_path`` and ``train_lengths`` are read.
    context_length
        Context per window; shorter histories are NaN-padded on the left.
    min_context
        Fewest observed values before a window's target.
    seed
        Windows are a function of ``(seed, step, micro)`` only.
    augment, augment_perturbations
        Noise injection: each window's context is perturbed with probability ``augment`` by
        :func:`tsfm.perturb.perturb_windows`, seeded by ``(seed, step, micro)`` and the window's
        index in the whole micro-batch, so every process count sees the same perturbations.
    """

    def __init__(
        self,
        split: SplitData,
        context_length: int,
        min_context: int,
        seed: int,
        augment: float = 0.0,
        augment_perturbations: tuple[str, ...] | None = None,
    ) -> None:
        import datasets

        self.table = datasets.Dataset.from_file(str(split.train_path)).with_format("numpy")
        self.lengths = split.train_lengths
        self.horizon = split.horizon
        self.context_length = context_length
        self.min_context = min_context
        self.seed = seed
        self.augment = augment
        self.augment_perturbations = augment_perturbations

    def batch(self, step: int, micro: int, size: int, rank: int = 0, world: int = 1) -> dict[str, np.ndarray]:
        """This process's share of micro-batch ``micro`` of optimiser step ``step``.

        The whole micro-batch (``size`` windows) is drawn from the same seed on every process
        and each takes every ``world``-th row, so any number of processes trains on the same
        windows. Returns ``context [size / world, context_length]`` and ``target [size / world, H]``.
        Series are drawn uniformly (each machine of a fleet counts once), then a window uniformly
        within the series.
        """
        rng = np.random.default_rng([self.seed, step, micro])
        rows = rng.integers(0, len(self.lengths), size=size)
        ends = rng.integers(self.min_context, self.lengths[rows] - self.horizon + 1)
        rows, ends, indices = rows[rank::world], ends[rank::world], np.arange(size)[rank::world]
        context = np.full((len(rows), self.context_length), np.nan, dtype=np.float32)
        target = np.empty((len(rows), self.horizon), dtype=np.float32)
        for i, (row, end) in enumerate(zip(rows, ends)):
            values = self.table[int(row)]["target"]
            past = values[max(0, end - self.context_length) : end]
            context[i, self.context_length - len(past) :] = past
            target[i] = values[end : end + self.horizon]
        if self.augment > 0:
            context = perturb_windows(
                context, self.augment, (self.seed, step, micro), self.augment_perturbations, rows=indices
            )
        return {"context": context, "target": target}


def series_from_data(data: Any) -> tuple[list[str], Iterable[np.ndarray]]:
    """Item ids and series from a long-format frame/file/name, a list of arrays or a HF ``Dataset``.

    A ``datasets.Dataset`` with a ``target`` column (and optionally ``item_id``) is read row by
    row, so it need not fit in memory.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a core dependency
        datasets = None
    if datasets is not None and isinstance(data, datasets.Dataset):
        if "target" not in data.column_names:
            raise InputError(f"a datasets.Dataset needs a 'target' column, got columns {data.column_names}")
        ids = [str(i) for i in data["item_id"]] if "item_id" in data.column_names else [
            str(i) for i in range(len(data))
        ]
        rows = data.select_columns(["target"]).with_format("numpy")
        return ids, (rows[i]["target"] for i in range(len(rows)))
    if isinstance(data, (list, tuple)) and all(isinstance(s, np.ndarray) for s in data):
        return [str(i) for i in range(len(data))], [np.asarray(s, dtype=np.float32) for s in data]
    from tsfm import data as tsdata

    return tsdata.to_series(tsdata.load_frame(data))
