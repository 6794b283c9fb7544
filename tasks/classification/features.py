"""Fixed-length features from TSFM embeddings: views, windows and pooling.

Any model behind the contract gives one embedding per series (``model.embed(list) -> [n, d]``),
and reads at most its native context. To classify series of any length this module

1. makes **views** of each series: the series itself (``raw``), its first difference
   (``diff``: the model normalises each input, so a view of changes adds what the level
   view hides) and coarser **scales** (``scale2``, ``scale4``: means of 2 or 4 consecutive
   values, so one context window covers 2x or 4x the time);
2. splits each view into **windows** of at most ``window`` values (by default the model's
   context length), the last window aligned with the end so no value is dropped;
3. **pools** the window embeddings of a view: ``mean``, or ``mean-max`` (mean and element-wise
   max, concatenated: a fault that shows in one window of many still moves the max);
4. optionally adds **segments**: the view cut into ``segments`` equal consecutive parts, each
   embedded, concatenated in order, for problems where *where* a shape occurs matters;
5. optionally adds **stats**: the mean and log standard deviation of the raw series, because
   the model's own scaling removes level and amplitude.

All windows of all views of all series go through the model in large batches, sorted by
length so that padding stays small.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tsfm.errors import InputError

VIEWS = ("raw", "diff", "scale2", "scale4")
POOLINGS = ("mean", "mean-max")
DEFAULT_WINDOW = 512


@dataclass(frozen=True)
class EmbeddingFeatures:
    """How series become feature vectors.

    Parameters
    ----------
    views
        Transforms embedded and concatenated, any of ``raw``, ``diff``, ``scale2``, ``scale4``.
    pooling
        How the window embeddings of one view are combined: ``mean`` or ``mean-max``.
    window
        Longest piece given to the model at once; ``None`` means the model's context length
        (512 when the model does not say).
    segments
        Number of equal consecutive parts also embedded and concatenated in order (0: none).
    stats
        Append the raw series' mean and log standard deviation.
    """

    views: tuple[str, ...] = ("raw", "diff")
    pooling: str = "mean"
    window: int | None = None
    segments: int = 0
    stats: bool = True

    def __post_init__(self) -> None:
        views = (self.views,) if isinstance(self.views, str) else tuple(self.views)
        object.__setattr__(self, "views", views)
        unknown = [v for v in views if v not in VIEWS]
        if not views or unknown:
            raise InputError(f"views={list(views)!r}: allowed values are {list(VIEWS)} (at least one)")
        if len(set(views)) != len(views):
            raise InputError(f"views={list(views)!r} repeats a view; list each at most once")
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling={self.pooling!r}: allowed values are {list(POOLINGS)}")
        if self.window is not None and (not isinstance(self.window, int) or self.window < 8):
            raise InputError(f"window={self.window!r}: must be None or an integer >= 8")
        if not isinstance(self.segments, int) or not 0 <= self.segments <= 16:
            raise InputError(f"segments={self.segments!r}: must be an integer from 0 to 16")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (round-trips through ``EmbeddingFeatures(**d)``)."""
        return {**asdict(self), "views": list(self.views)}


def make_view(series: np.ndarray, view: str) -> np.ndarray:
    """One view of a 1-D series: ``raw``, ``diff`` or a coarser ``scale<k>`` (means of k values)."""
    if view == "raw":
        return series
    if view == "diff":
        return np.diff(series)
    factor = min(int(view[len("scale"):]), max(len(series) // 2, 1))
    usable = len(series) - len(series) % factor
    with _quiet_nan_mean():
        coarse = np.nanmean(series[len(series) - usable:].reshape(-1, factor), axis=1)
    return coarse


def split_windows(series: np.ndarray, window: int) -> list[np.ndarray]:
    """Cut a series into consecutive windows of ``window`` values; the last one ends at the series' end.

    A series no longer than ``window`` is one window. The last window may overlap the one before
    it so that every window is full length and no value is left out.
    """
    if len(series) <= window:
        return [series]
    starts = list(range(0, len(series) - window + 1, window))
    if starts[-1] + window < len(series):
        starts.append(len(series) - window)
    return [series[s : s + window] for s in starts]


def feature_dim(config: EmbeddingFeatures, d_model: int) -> int:
    """Length of one feature vector for embeddings of size ``d_model``."""
    per_view = d_model * (2 if config.pooling == "mean-max" else 1) + d_model * config.segments
    return len(config.views) * per_view + (2 if config.stats else 0)


def embed_features(
    model: Any,
    series: list[np.ndarray],
    config: EmbeddingFeatures,
    batch_size: int = 1024,
    progress: bool = False,
) -> np.ndarray:
    """Feature vectors ``[n_series, feature_dim]`` of validated series.

    Parameters
    ----------
    model
        Any forecaster with ``embed(list_of_series) -> [n, d]``.
    series
        Validated 1-D float arrays.
    config
        Views, windows, pooling, segments and stats.
    batch_size
        Pieces sent to ``model.embed`` per call (the model batches further inside).
    progress
        Show a tqdm bar over the embedding calls.
    """
    window = config.window or int(getattr(model, "context_length", DEFAULT_WINDOW))
    n_slots = 1 + config.segments  # slot 0: the whole view; slots 1..segments: its parts in order
    pieces, owners = [], []  # owner = (series index, view index, slot)
    for i, values in enumerate(series):
        for v, view in enumerate(config.views):
            viewed = make_view(values, view)
            parts = [viewed] + _segments(viewed, config.segments)
            for slot, part in enumerate(parts):
                for piece in split_windows(part, window):
                    if not np.isfinite(piece).any():
                        continue  # an all-missing window says nothing; its cell pools the others
                    pieces.append(piece)
                    owners.append((i, v, slot))
    embedded = _embed_sorted(model, pieces, batch_size, progress)  # [n_pieces, d]
    pooled = _pool(embedded, np.asarray(owners), len(series), len(config.views), n_slots, config.pooling)
    if config.stats:
        pooled = np.concatenate([pooled, _stats(series)], axis=1)
    return pooled


def embed_channels(
    model: Any,
    series: list[np.ndarray],
    config: EmbeddingFeatures,
    batch_size: int = 1024,
    progress: bool = False,
) -> np.ndarray:
    """Feature vectors ``[n_series, feature_dim * n_channels]``: each channel embedded, concatenated in order.

    ``series`` are validated 1-D arrays, or ``[n_channels, length]`` arrays (multivariate).
    """
    if series[0].ndim == 1:
        return embed_features(model, series, config, batch_size, progress)
    return np.concatenate(
        [embed_features(model, [values[c] for values in series], config, batch_size, progress)
         for c in range(series[0].shape[0])], axis=1,
    )


def _segments(values: np.ndarray, n: int) -> list[np.ndarray]:
    if n == 0:
        return []
    return [part if len(part) >= 2 else values for part in np.array_split(values, n)]


def _embed_sorted(model: Any, pieces: list[np.ndarray], batch_size: int, progress: bool) -> np.ndarray:
    """Embed ``pieces`` in length-sorted batches (little padding); rows come back in input order."""
    from tqdm.auto import tqdm

    order = np.argsort([len(p) for p in pieces], kind="stable")
    chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    out: np.ndarray | None = None
    for chunk in tqdm(chunks, desc="embedding", unit="batch", disable=not progress, leave=False):
        rows = np.asarray(model.embed([pieces[j] for j in chunk]), dtype=np.float32)  # [b, d]
        if out is None:
            out = np.empty((len(pieces), rows.shape[1]), dtype=np.float32)
        out[chunk] = rows
    return out


def _pool(
    embedded: np.ndarray, owners: np.ndarray, n_series: int, n_views: int, n_slots: int, pooling: str
) -> np.ndarray:
    """Pool piece embeddings ``[n_pieces, d]`` into ``[n_series, feature_dim - stats]``."""
    d = embedded.shape[1]
    flat = (owners[:, 0] * n_views + owners[:, 1]) * n_slots + owners[:, 2]  # one cell per (series, view, slot)
    n_cells = n_series * n_views * n_slots
    sums = np.zeros((n_cells, d))
    np.add.at(sums, flat, embedded)
    counts = np.bincount(flat, minlength=n_cells)[:, None]
    means = (sums / np.maximum(counts, 1)).reshape(n_series, n_views, n_slots, d)
    blocks = [means[:, :, 0, :]]  # [n, views, d]: whole-view mean
    if pooling == "mean-max":
        maxima = np.full((n_cells, d), -np.inf)
        np.maximum.at(maxima, flat, embedded)
        maxima[counts[:, 0] == 0] = 0.0  # a cell with no observed window
        blocks.append(maxima.reshape(n_series, n_views, n_slots, d)[:, :, 0, :])
    if n_slots > 1:
        blocks.append(means[:, :, 1:, :].reshape(n_series, n_views, (n_slots - 1) * d))
    return np.concatenate(blocks, axis=2).reshape(n_series, -1)


def _stats(series: list[np.ndarray]) -> np.ndarray:
    """``[n_series, 2]``: mean and log standard deviation of each series (NaN ignored)."""
    with _quiet_nan_mean():
        level = np.array([np.nanmean(s) for s in series])
        spread = np.array([np.nanstd(s) for s in series])
    return np.nan_to_num(np.stack([level, np.log(spread + 1e-8)], axis=1))


@contextmanager
def _quiet_nan_mean() -> Iterator[None]:
    """Silence numpy's "mean of empty slice" warning for all-NaN stretches (their result is NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
