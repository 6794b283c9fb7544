"""What each Chronos family is trained to minimise, as modules whose ``forward`` returns the loss.

==============  ================================================================================
family          objective
==============  ================================================================================
chronos-bolt    pinball loss of its 9 quantiles on the mean-scaled target (clamped), as pretrained
chronos-2       the same on its 21 quantiles, after its arcsinh scaling
chronos-t5      cross-entropy of the target's tokens (the tokenizer of the pipeline bins values)
==============  ================================================================================

Modules, not functions: under ``accelerate`` the module is wrapped in DistributedDataParallel,
which synchronises gradients only through the wrapper's ``forward``.

:class:`FamilySpec` collects what the rest of :mod:`adapters` needs to know per family:
native limits, the default LoRA target modules and how to build the objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tsfm.errors import InputError


@dataclass(frozen=True)
class FamilySpec:
    """Per-family facts used by fine-tuning.

    Attributes
    ----------
    family
        ``"chronos-t5"``, ``"chronos-bolt"`` or ``"chronos-2"``.
    lora_targets
        Default LoRA target modules: the attention query and value projections of every
        attention block. On the bundled 1.8M-parameter Bolt at rank 4 that is 0.9% of the weights;
        ``k``/``o`` and the feed-forward ``wi``/``wo`` are the usual additions when more capacity helps.
    """

    family: str
    lora_targets: tuple[str, ...]


FAMILIES = {
    "chronos-t5": FamilySpec("chronos-t5", ("q", "v")),
    "chronos-bolt": FamilySpec("chronos-bolt", ("q", "v")),
    "chronos-2": FamilySpec("chronos-2", ("q", "v")),
}


def family_of(model: Any) -> FamilySpec:
    """The :class:`FamilySpec` of a loaded Chronos forecaster, or an :class:`InputError`."""
    family = getattr(model, "family", None)
    if family not in FAMILIES or not hasattr(model, "pipeline"):
        raise InputError(
            f"fine-tuning needs a Chronos model (families {sorted(FAMILIES)}) loaded with tsfm.load; "
            f"got {model!r}. Classical baselines have nothing to fine-tune."
        )
    return FAMILIES[family]


def max_horizon(pipeline: Any, family: str) -> int:
    """Longest horizon one forward pass produces: what fine-tuning can train on."""
    if family == "chronos-2":
        config = pipeline.inner_model.chronos_config
        return int(config.output_patch_size * config.max_output_patches)
    return int(pipeline.model_prediction_length)


def build_objective(pipeline: Any, family: str, horizon: int, target_clamp: float) -> nn.Module:
    """The loss module over ``pipeline.inner_model`` (the same parameters, not a copy)."""
    if family == "chronos-t5":
        return TokenCrossEntropy(pipeline.inner_model, pipeline.tokenizer, int(pipeline.model_prediction_length))
    from tsfm.pretraining.trainer import QuantileTrainingModule

    native = int(pipeline.model_prediction_length) if family == "chronos-bolt" else horizon
    return PaddedQuantileObjective(
        QuantileTrainingModule(pipeline.inner_model, family, native, target_clamp), native
    )


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
        pad = self.native_horizon - target.shape[-1]
        if pad > 0:
            target = torch.cat([target, target.new_full((len(target), pad), torch.nan)], dim=-1)
        return self.inner(context=context, target=target)


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
        pad = self.native_horizon - target.shape[-1]
        if pad > 0:
            target = torch.cat([target, target.new_full((len(target), pad), torch.nan)], dim=-1)
        input_ids, attention_mask, scale = self.tokenizer.context_input_transform(context.float().cpu())
        labels, labels_mask = self.tokenizer.label_input_transform(target.float().cpu(), scale)
        labels[~labels_mask] = -100
        out = self.model(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), labels=labels.to(device)
        )
        return out.loss
