"""Torch modules of the Chronos training interface: the losses, and Bolt's graph for ONNX export.

Modules, not functions: under ``accelerate`` a loss module is wrapped in DistributedDataParallel,
which synchronises gradients only through the wrapper's ``forward``. Imported by
:mod:`tsfm.backends.chronos_training` when a model is trained or exported, so that registering
the families needs no torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _pad_to(target: torch.Tensor, length: int) -> torch.Tensor:
    """``target [B, H]`` NaN-padded on the right to ``[B, length]`` (unchanged when ``H >= length``)."""
    pad = length - target.shape[-1]
    if pad <= 0:
        return target
    return torch.cat([target, target.new_full((len(target), pad), torch.nan)], dim=-1)


class PaddedQuantileObjective(nn.Module):
    """Pinball loss of Bolt / Chronos-2 (see :class:`tsfm.pretraining.trainer.QuantileTrainingModule`).

    Bolt always forecasts its native horizon; a shorter training target is NaN-padded to it, and
    the padded steps carry no loss. ``forward(context [B, T], target [B, H]) -> loss``.
    """

    def __init__(self, quantile_module: nn.Module, native_horizon: int) -> None:
        super().__init__()
        self.inner = quantile_module
        self.native_horizon = native_horizon

    def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.inner(context=context, target=_pad_to(target, self.native_horizon))


class TokenCrossEntropy(nn.Module):
    """Chronos-T5's own objective: cross-entropy of the next token over the target's bins.

    The context is mean-scaled and binned by the pipeline's tokenizer; the target is binned with
    the context's scale. The tokenizer expects a target of exactly the native horizon, so a
    shorter one is NaN-padded and its padding masked out (label ``-100``).
    ``forward(context [B, T], target [B, H]) -> loss``.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, native_horizon: int) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.native_horizon = native_horizon

    def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        device = context.device
        target = _pad_to(target, self.native_horizon)
        input_ids, attention_mask, scale = self.tokenizer.context_input_transform(context.float().cpu())
        labels, labels_mask = self.tokenizer.label_input_transform(target.float().cpu(), scale)
        labels[~labels_mask] = -100
        out = self.model(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), labels=labels.to(device)
        )
        return out.loss


class BoltQuantiles(nn.Module):
    """``context [batch, context_length]`` -> ``quantiles [batch, horizon, n_q]`` of a Bolt model."""

    def __init__(self, model: nn.Module, horizon: int) -> None:
        super().__init__()
        self.model, self.horizon = model, horizon

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        native = self.model(context=context).quantile_preds  # [batch, n_q, prediction_length]
        return native[:, :, : self.horizon].transpose(1, 2)
