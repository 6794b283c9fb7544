"""A fixed-shape TinyTimeMixer quantile graph, for ONNX export (``tsfm export`` of a TTM teacher).

:class:`BacktestQuantileGraph` computes in one torch module what :class:`tsfm.backends.ttm.TTMForecaster`
computes around the model: the forecast and the backtests of :mod:`tsfm.backends.ttm_quantiles`, on a
window of fixed length (``context [B, context_length]``, NaN = missing, shorter series left-padded
with NaN). The backtest contexts are the same window cut ``j * horizon`` steps short, so they are
shorter than the forecaster's on a longer series. Two differences from the forecaster, both so the
graph stays fixed-shape: interior gaps are set to the window's mean instead of interpolated, and the
``l`` / ``1 - l`` quantiles are the forecast plus or minus the ``1 - 2l`` quantile of the absolute
normalised errors (the forecaster takes the same errors with both signs and interpolates that
sample, which differs by an interpolation step). Output levels are fixed: 0.1, 0.2, ..., 0.9.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import torch
from torch import nn

GRAPH_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class BacktestQuantileGraph(nn.Module):
    """``forward(context [B, T]) -> quantiles [B, horizon, 9]`` of a TTM module and ``windows`` backtests.

    Parameters
    ----------
    module
        The ``TinyTimeMixerForPrediction`` (a copy; it is used as it is).
    horizon
        Steps forecast, at most the module's ``prediction_length``.
    windows
        Backtests per window; the context must be longer than ``windows * horizon``.
    """

    def __init__(self, module: Any, horizon: int, windows: int) -> None:
        super().__init__()
        self.module = module
        self.horizon = horizon
        self.windows = windows
        levels = torch.tensor(GRAPH_LEVELS, dtype=torch.float32)
        self.register_buffer("levels", levels)
        normal = torch.tensor([NormalDist().inv_cdf(q) for q in GRAPH_LEVELS], dtype=torch.float32)
        self.register_buffer("normal", normal)

    def point(self, context: torch.Tensor) -> torch.Tensor:
        """The forecast ``[B, horizon]`` of ``context [B, T]`` in its own units (standardised inside)."""
        observed = torch.isfinite(context)
        count = observed.sum(dim=1, keepdim=True).clamp_min(1)
        loc = torch.where(observed, context, torch.zeros_like(context)).sum(dim=1, keepdim=True) / count
        centred = torch.where(observed, context - loc, torch.zeros_like(context))
        spread = ((centred**2).sum(dim=1, keepdim=True) / count).sqrt()
        scale = torch.where(spread > 0, spread, torch.where(loc != 0, loc.abs(), torch.ones_like(loc)))
        values = torch.where(observed, (context - loc) / scale, torch.zeros_like(context))
        output = self.module(past_values=values[..., None], past_observed_mask=observed[..., None], return_loss=False)
        return output.prediction_outputs[:, : self.horizon, 0] * scale + loc

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        length, horizon = context.shape[1], self.horizon
        point = self.point(context)  # [B, H]
        residuals = torch.stack(
            [context[:, length - j * horizon : length - (j - 1) * horizon]
             - self.point(context[:, : length - j * horizon]) for j in range(1, self.windows + 1)], dim=1,
        )  # [B, W, H]: observed minus backtest forecast
        known = torch.isfinite(residuals)
        squared = torch.where(known, residuals, torch.zeros_like(residuals)) ** 2
        counts = known.sum(dim=1).cumsum(dim=-1)  # [B, H]
        spread = (squared.sum(dim=1).cumsum(dim=-1) / counts.clamp_min(1)).sqrt()
        fallback = _step_scale(context)  # [B, 1]
        steps = torch.arange(1, horizon + 1, dtype=context.dtype, device=context.device).sqrt()[None, :]
        spread = torch.where(counts > 0, spread, fallback * steps)
        spread = torch.maximum(spread, 1e-6 * fallback)
        absolute = torch.where(known, residuals.abs() / spread[:, None, :], torch.full_like(residuals, torch.inf))
        shape = self._symmetric_shape(absolute.flatten(1), known.flatten(1).sum(dim=1))  # [B, n_q]
        return point[..., None] + spread[..., None] * shape[:, None, :]  # [B, H, n_q]

    def _symmetric_shape(self, absolute: torch.Tensor, n_known: torch.Tensor) -> torch.Tensor:
        """``sign(l - 0.5) * quantile(|z|, |2l - 1|)`` per row (``inf`` = unknown, sorted last); normal when none."""
        ordered, _ = torch.sort(absolute, dim=1)  # [B, N]
        last = (n_known - 1).clamp_min(0).to(absolute.dtype)[:, None]  # [B, 1]
        position = (2 * self.levels - 1).abs()[None, :] * last  # [B, n_q]
        low = position.floor()
        high = position.ceil()
        weight = position - low
        pick_low = ordered.gather(1, low.long())
        pick_high = ordered.gather(1, high.long())
        magnitude = pick_low + weight * (pick_high - pick_low)
        signed = torch.sign(self.levels - 0.5)[None, :] * magnitude
        return torch.where((n_known > 0)[:, None], signed, self.normal[None, :].expand_as(signed))


def _step_scale(context: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the observed one-step changes of each row, ``[B, 1]`` (1 where undefined)."""
    steps = context[:, 1:] - context[:, :-1]
    known = torch.isfinite(steps)
    count = known.sum(dim=1, keepdim=True).clamp_min(1)
    filled = torch.where(known, steps, torch.zeros_like(steps))
    mean = filled.sum(dim=1, keepdim=True) / count
    deviation = torch.where(known, steps - mean, torch.zeros_like(steps))
    scale = ((deviation**2).sum(dim=1, keepdim=True) / count).sqrt()
    return torch.where(scale > 0, scale, torch.ones_like(scale))
