"""The user's series, split in time, stored as Arrow, and cut into training windows.

Each series of length ``n`` is split at its end, so nothing a model is judged on was seen in
training (no look-ahead)::

    |------------------ train ------------------|-- validation H --|-- test H --|
                                                  early stopping     the verdict

- training windows: a context ending anywhere in the train part and the ``H`` values after it,
  wholly inside the train part;
- validation: the context up to ``n - 2H`` and the ``H`` values after it (early stopping);
- test: the context up to ``n - H`` and the last ``H`` values (the verdict).

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


@dataclass(frozen=True)
class HeldOut:
    """Contexts and the ``H`` values after them, one pair per series: ``target [n_series, H]``."""

    context: list[np.ndarray]
    target: np.ndarray
    item_ids: list[str]


@dataclass(frozen=True)
class SplitData:
    """A time split of the user's series (see the module docstring)."""

    train_path: Path
    train_lengths: np.ndarray  # [n_train_series] observations in each train part
    validation: HeldOut
    test: HeldOut
    horizon: int
    skipped: list[str]  # series too short to give a training window


def split_series(
    item_ids: Iterable[str], series: Iterable[np.ndarray], horizon: int, min_context: int, folder: Path
) -> SplitData:
    """Split every series at its end and write the train parts to ``folder`` as Arrow.

    Series too short for one training window (``< 3 * horizon + min_context`` values) still
    count in validation and test when they hold ``2 * horizon + 1`` values; shorter ones are
    skipped and listed in ``SplitData.skipped``.

    Raises
    ------
    InputError
        No series is long enough for one training window plus validation and test.
    """
    import datasets

    need = 3 * horizon + min_context
    lengths, skipped, longest = [], [], 0
    val, test = _Tails(), _Tails()

    def train_parts():
        for item, values in zip(item_ids, series):
            values = np.asarray(values, dtype=np.float32)
            n = len(values)
            nonlocal longest
            longest = max(longest, n)
            if n < 2 * horizon + 1:
                skipped.append(str(item))
                continue
            val.add(str(item), values[: n - 2 * horizon], values[n - 2 * horizon : n - horizon])
            test.add(str(item), values[: n - horizon], values[n - horizon :])
            if n >= need:
                lengths.append(n - 2 * horizon)
                yield {"target": values[: n - 2 * horizon]}

    folder.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({"target": datasets.Sequence(datasets.Value("float32"))})
    path = folder / "train.arrow"
    with datasets.arrow_writer.ArrowWriter(features=features, path=str(path)) as writer:
        for row in train_parts():
            writer.write(row)
        writer.finalize()
    if not lengths:
        raise InputError(
            f"too few windows for horizon {horizon} plus validation: every series needs at least "
            f"3 * horizon + min_context = {need} observations (a training window, then {horizon} for "
            f"validation and {horizon} for the test); the longest has {longest}"
        )
    return SplitData(path, np.asarray(lengths), val.held_out(), test.held_out(), horizon, skipped)


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
