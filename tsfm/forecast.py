"""The one result type every forecaster returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsfm.errors import InputError


@dataclass(frozen=True)
class Forecast:
    """Probabilistic forecasts for a batch of series.

    Attributes
    ----------
    quantiles
        ``[n_series, horizon, n_quantiles]``, non-decreasing along the last axis.
    quantile_levels
        The levels of the last axis of ``quantiles``, increasing, in (0, 1).
    mean
        ``[n_series, horizon]`` point forecast (the model's mean; the median for
        models that only emit quantiles).
    model_name
        Name of the model that produced it.
    """

    quantiles: np.ndarray
    quantile_levels: tuple[float, ...]
    mean: np.ndarray
    model_name: str

    def __post_init__(self) -> None:
        q, m = self.quantiles, self.mean
        if q.ndim != 3 or q.shape[2] != len(self.quantile_levels):
            raise ValueError(
                f"quantiles must be [n_series, horizon, {len(self.quantile_levels)}], got {q.shape}"
            )
        if m.shape != q.shape[:2]:
            raise ValueError(f"mean must be {q.shape[:2]}, got {m.shape}")
        q.setflags(write=False)
        m.setflags(write=False)

    @property
    def n_series(self) -> int:
        return int(self.quantiles.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.quantiles.shape[1])

    def quantile(self, level: float) -> np.ndarray:
        """``[n_series, horizon]`` forecast at one of ``quantile_levels``."""
        for i, known in enumerate(self.quantile_levels):
            if abs(known - level) < 1e-9:
                return self.quantiles[:, :, i]
        raise InputError(f"level {level} is not in this forecast's levels {self.quantile_levels}")

    @property
    def median(self) -> np.ndarray:
        """``[n_series, horizon]`` median; the mean when 0.5 was not requested."""
        try:
            return self.quantile(0.5)
        except InputError:
            return self.mean

    def to_frame(
        self,
        item_ids: Sequence[object] | None = None,
        timestamps: Sequence[Sequence[object]] | None = None,
    ) -> pd.DataFrame:
        """Long format: one row per series and step.

        Columns: ``item_id``, ``timestamp`` (or ``step`` 1..horizon when no
        timestamps are given), ``mean``, and one column per quantile level named
        like ``"0.1"``.
        """
        ids = list(item_ids) if item_ids is not None else list(range(self.n_series))
        if len(ids) != self.n_series:
            raise InputError(f"item_ids has {len(ids)} entries for {self.n_series} series")
        frame = pd.DataFrame({"item_id": np.repeat(np.asarray(ids, dtype=object), self.horizon)})
        if timestamps is None:
            frame["step"] = np.tile(np.arange(1, self.horizon + 1), self.n_series)
        else:
            if len(timestamps) != self.n_series or any(len(t) != self.horizon for t in timestamps):
                raise InputError("timestamps must hold one sequence of `horizon` stamps per series")
            frame["timestamp"] = np.concatenate([np.asarray(t) for t in timestamps])
        frame["mean"] = self.mean.reshape(-1)
        for i, level in enumerate(self.quantile_levels):
            frame[format_level(level)] = self.quantiles[:, :, i].reshape(-1)
        return frame


def format_level(level: float) -> str:
    """Column name of a quantile level: 0.1 -> "0.1", 0.025 -> "0.025"."""
    return f"{level:.6g}"
