"""Detectors built on a forecasting model behind the ``tsfm`` contract.

- :class:`ForecastDetector`: rolling short-horizon forecasts; an observation scores by how
  far it falls outside the predicted quantile band, in units of the band's width. With a
  TSFM this is the TSFM detector; with a classical model (``"seasonal-naive"``,
  ``"auto-ets"``) it is the classical residual baseline.
- :class:`EmbeddingDetector`: the model's embedding of each window, scored by its mean
  distance to the ``k`` nearest embeddings of normal reference windows.

Both build every context (or window) of a series first and call the model once per batch,
never once per time step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.registry import resolve_model
from tsfm.tasks.anomaly.base import AnomalyDetector, window_matrix


def _batches(n: int, size: int, progress: bool, what: str):
    starts = range(0, n, size)
    if progress and n > size:
        from tqdm.auto import tqdm

        return tqdm(starts, desc=what, unit="batch", leave=False)
    return starts


class ForecastDetector(AnomalyDetector):
    """Score each point by its distance outside a rolling forecast's quantile band.

    Parameters
    ----------
    model
        Any ``tsfm`` forecaster or a name for ``tsfm.load``.
    horizon
        Steps forecast from each origin; origins are ``horizon`` apart, so every point gets
        one forecast made 1..``horizon`` steps before it. 1 is most accurate, larger is faster.
    context_length
        Most recent points given to the model at each origin.
    min_context
        Points of history before the first scored point.
    band
        Lower and upper quantile levels of the band, e.g. ``(0.1, 0.9)``.
    batch_size
        Contexts per ``predict_quantiles`` call.
    season_length
        Passed to ``tsfm.load`` when ``model`` is a name (seasonal baselines).
    progress
        Show a progress bar over batches.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options (``combine``, ``alpha``, ``smooth``).
    """

    learns = False

    def __init__(
        self,
        model: Forecaster | str,
        *,
        horizon: int = 1,
        context_length: int = 256,
        min_context: int = 32,
        band: Sequence[float] = (0.1, 0.9),
        batch_size: int = 1024,
        season_length: int = 1,
        progress: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        for field, value, low in (("horizon", horizon, 1), ("context_length", context_length, 2),
                                  ("min_context", min_context, 1), ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or value < low:
                raise InputError(f"{field} must be an integer >= {low}, got {value!r}")
        lo, hi = (float(x) for x in band)
        if not 0.0 < lo < 0.5 < hi < 1.0:
            raise InputError(f"band must be two levels (low < 0.5 < high) in (0, 1), got {tuple(band)!r}")
        self.model = resolve_model(model, needs=("predict_quantiles",), season_length=season_length)
        self.name = f"forecast[{self.model.name}]"
        self.horizon, self.context_length, self.batch_size = horizon, context_length, batch_size
        self.warmup = min_context
        self.levels = (lo, 0.5, hi)
        self.progress = progress

    def _score(self, series: np.ndarray) -> np.ndarray:
        n_time, n_channels = series.shape
        origins = np.arange(self.warmup, n_time, self.horizon)
        jobs, contexts = [], []
        for c in range(n_channels):
            for origin in origins:
                context = series[max(0, origin - self.context_length):origin, c]
                if np.isfinite(context).any():
                    jobs.append((c, origin))
                    contexts.append(context)
        bands = np.full((n_time, n_channels, 3), np.nan)  # [time, channel, (low, median, high)]
        for start in _batches(len(contexts), self.batch_size, self.progress, self.name):
            chunk = contexts[start:start + self.batch_size]
            q = self.model.predict_quantiles(chunk, self.horizon, self.levels).quantiles  # [n, horizon, 3]
            for (c, origin), forecast in zip(jobs[start:start + self.batch_size], q):
                steps = min(self.horizon, n_time - origin)
                bands[origin:origin + steps, c] = forecast[:steps]
        low, high = bands[..., 0], bands[..., 2]
        scale = np.nanstd(series, axis=0) + 1e-12  # [channels]; floor for flat forecasts
        spread = np.maximum(high - low, 1e-3 * scale)
        excess = np.maximum(np.maximum(low - series, series - high), 0.0)
        return excess / spread  # [time, channels]


class EmbeddingDetector(AnomalyDetector):
    """kNN distance of a window's model embedding to embeddings of normal reference windows.

    Parameters
    ----------
    model
        A ``tsfm`` forecaster with embeddings (``model.embed``) or a name for ``tsfm.load``.
    window
        Points per window; the window ending at ``t`` scores ``t``.
    k
        Neighbours averaged.
    bank_stride
        Step between reference windows kept in the bank.
    anchor
        Points of the reference's start placed before every window, so the model sees each
        window next to normal behaviour (models that scale each input by its own level
        otherwise cannot see a level shift). 0 embeds the window alone.
    batch_size
        Windows per ``embed`` call.
    progress
        Show a progress bar over batches.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options.
    """

    def __init__(
        self,
        model: Forecaster | str,
        *,
        window: int = 32,
        k: int = 5,
        bank_stride: int = 1,
        anchor: int = 0,
        batch_size: int = 1024,
        progress: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        for field, value, low in (("window", window, 2), ("k", k, 1), ("bank_stride", bank_stride, 1),
                                  ("anchor", anchor, 0), ("batch_size", batch_size, 1)):
            if not isinstance(value, int) or value < low:
                raise InputError(f"{field} must be an integer >= {low}, got {value!r}")
        self.model = resolve_model(model, needs=("embed",))
        if not getattr(self.model, "has_embeddings", True):
            raise InputError(f"model {self.model.name!r} has no embeddings; pick a TSFM such as tsfm-bolt-mini")
        self.name = f"embedding[{self.model.name}]"
        self.warmup, self.k, self.bank_stride, self.anchor = window, k, bank_stride, anchor
        self.batch_size, self.progress = batch_size, progress

    def _fit(self, reference: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._anchors = [self._anchor_of(reference[:, c]) for c in range(reference.shape[1])]
        self._banks = []
        for c in range(reference.shape[1]):
            windows = window_matrix(reference[:, c], self.warmup)[:: self.bank_stride]
            keep = np.isfinite(windows).any(axis=1)
            if keep.sum() < self.k:
                raise InputError(
                    f"reference channel {c} gives {int(keep.sum())} usable windows of {self.warmup}; "
                    f"need at least k={self.k}"
                )
            self._banks.append(NearestNeighbors(n_neighbors=self.k).fit(self._embed(windows[keep], c)))

    def _anchor_of(self, values: np.ndarray) -> np.ndarray:
        return values[: self.anchor]

    def _embed(self, windows: np.ndarray, channel: int) -> np.ndarray:
        anchor = self._anchors[channel]
        out = []
        for start in _batches(len(windows), self.batch_size, self.progress, self.name):
            chunk = windows[start:start + self.batch_size]
            contexts = [np.concatenate([anchor, w]) for w in chunk] if anchor.size else list(chunk)
            out.append(self.model.embed(contexts))  # [n, d]
        return np.concatenate(out, axis=0)

    def _score(self, series: np.ndarray) -> np.ndarray:
        scores = np.full(series.shape, np.nan)  # [time, channels]
        if series.shape[0] < self.warmup:
            return scores
        for c in range(series.shape[1]):
            windows = window_matrix(series[:, c], self.warmup)  # [time - window + 1, window]
            keep = np.flatnonzero(np.isfinite(windows).any(axis=1))
            if keep.size == 0:
                continue
            distances, _ = self._banks[c].kneighbors(self._embed(windows[keep], c))  # [n, k]
            scores[keep + self.warmup - 1, c] = distances.mean(axis=1)
        return scores
