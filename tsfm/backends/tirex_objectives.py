"""TiRex's training loss, imported only when a TiRex model is trained (it needs torch)."""

from __future__ import annotations

import math

import torch
from torch import nn


class TiRexQuantileObjective(nn.Module):
    """Pinball loss of TiRex's quantiles over the horizon: ``forward(context [B, T], target [B, H]) -> scalar``.

    The context is cut or NaN-padded to the native length and standardised by upstream's tokenizer;
    the ``ceil(H / patch)`` future patches are predicted in one pass from masked input patches
    (contiguous patch masking, as TiRex is pretrained), and the target is compared in the same
    scaled space, clamped to ``target_clamp``. Missing target values are left out of the mean.
    """

    def __init__(self, model: nn.Module, horizon: int, target_clamp: float) -> None:
        super().__init__()
        self.model = model
        self.horizon = horizon
        self.target_clamp = float(target_clamp)
        self.register_buffer("levels", torch.tensor(model.config.quantiles, dtype=torch.float32), persistent=False)

    def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        model, patch = self.model, self.model.config.output_patch_size
        length = model.config.train_ctx_len
        n_patches = math.ceil(target.shape[1] / patch)
        context, _ = model._adjust_context_length(context.float(), length, length)  # [B, train_ctx_len]
        tokens, state = model.tokenizer.input_transform(context)  # [B, n, patch], loc and scale [B, 1]
        predicted = model._forward_model_tokenized(input_token=tokens, new_patch_count=n_patches)  # [B, Q, n', P]
        predicted = predicted[:, :, -n_patches:, :].flatten(2)[:, :, : target.shape[1]]  # [B, Q, H], scaled
        scaled = ((target.float() - state.loc) / state.scale).clamp(-self.target_clamp, self.target_clamp)  # [B, H]
        error = scaled[:, None, :] - predicted  # [B, Q, H]
        levels = self.levels[None, :, None]
        loss = torch.maximum(levels * error, (levels - 1) * error)
        return loss[torch.isfinite(loss)].mean()
