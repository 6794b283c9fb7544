"""TimesFM 2.5's training loss, imported only when a TimesFM model is trained (it needs torch).

Upstream releases no training code for TimesFM 2.5, so the loss is the forecast as tsfm's inference
computes it, scored: the context is patched and normalised with upstream's running statistics
(``timesfm.torch.util.update_running_stats`` and ``revin``, as ``decode`` does), one forward pass of
the module gives the point head's next output patch (128 steps: mean and 9 quantiles) and the
continuous quantile head's spreads; the quantiles are formed as inference forms them (spread minus
the spread's median plus the point head's median), and scored with the pinball loss in the
normalised space, the mean channel with the squared error. Flip invariance, applied at inference,
is not part of training.
"""

from __future__ import annotations

import torch
from torch import nn


class TimesFMQuantileObjective(nn.Module):
    """``forward(context [B, T], target [B, H]) -> scalar`` for ``H`` up to one output patch (128).

    ``context`` is left-padded with NaN where short; missing values are masked, as upstream masks padding.
    """

    def __init__(self, module: nn.Module, horizon: int, target_clamp: float, levels: tuple[float, ...]) -> None:
        super().__init__()
        self.module = module
        self.horizon = horizon
        self.target_clamp = float(target_clamp)
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32), persistent=False)

    def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from timesfm.torch import util

        module, patch = self.module, self.module.p
        inputs, masks = _patched(context.float(), patch)  # [B, N, patch] each
        with torch.no_grad():  # statistics of the data only: no weight is involved
            mu, sigma = _running_stats(inputs, masks, util.update_running_stats)  # [B, N] each
        normed = torch.where(masks, 0.0, util.revin(inputs, mu, sigma, reverse=False))
        (_, _, points, spreads), _ = module(normed, masks)  # [B, N, o * q], [B, N, os * q] (normalised)
        steps = target.shape[1]
        point = points[:, -1].reshape(len(points), module.o, module.q)[:, :steps]  # [B, H, mean + 9 quantiles]
        spread = spreads[:, -1].reshape(len(spreads), module.os, module.q)[:, :steps]  # [B, H, q]
        median = module.aridx
        quantiles = spread[..., 1:] - spread[..., median : median + 1] + point[..., median : median + 1]  # [B, H, 9]
        scale = sigma[:, -1:].clamp_min(1e-6)  # the last patch's statistics normalise the forecast, as in decode
        scaled = ((target.float() - mu[:, -1:]) / scale).clamp(-self.target_clamp, self.target_clamp)  # [B, H]
        error = scaled[..., None] - quantiles  # [B, H, 9]
        pinball = torch.maximum(self.levels * error, (self.levels - 1) * error)
        squared = (scaled - point[..., 0]) ** 2  # the mean channel
        finite = torch.isfinite(scaled)
        return pinball[finite].mean() + 0.5 * squared[finite].mean()


def _patched(context: torch.Tensor, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``context [B, T]`` left-padded to a multiple of ``patch``: values (0 where missing), masks; ``[B, N, patch]``."""
    pad = (-context.shape[1]) % patch
    context = torch.cat([context.new_full((len(context), pad), torch.nan), context], dim=1)
    masks = torch.isnan(context)
    values = torch.nan_to_num(context, nan=0.0)
    return values.reshape(len(context), -1, patch), masks.reshape(len(context), -1, patch)


def _running_stats(inputs: torch.Tensor, masks: torch.Tensor, update) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch running mean and standard deviation ``[B, N]``, as upstream's ``decode`` computes them."""
    batch = len(inputs)
    n, mu, sigma = (torch.zeros(batch, device=inputs.device) for _ in range(3))
    mus, sigmas = [], []
    for i in range(inputs.shape[1]):
        (n, mu, sigma), _ = update(n, mu, sigma, inputs[:, i], masks[:, i])
        mus.append(mu)
        sigmas.append(sigma)
    return torch.stack(mus, dim=1), torch.stack(sigmas, dim=1)
