"""The training interface (:class:`tsfm.training.TrainingFamily`) of TinyTimeMixer.

==============  ===================================================================================
module          the forecaster's ``TinyTimeMixerForPrediction``
objective       mean squared error of the forecast on the standardised target (the series' own
                context mean and standard deviation, as :func:`tsfm.backends.ttm.standardise`
                scales its inputs; clamped to ``target_clamp``), the loss the released models were
                pretrained with; missing target values are left out
max horizon     the native ``prediction_length`` (96 for R2 512-96)
LoRA targets    ``fc1`` and ``fc2``: the two layers of every patch- and feature-mixing MLP of the
                backbone and decoder (48 of its 51 ``nn.Linear`` layers)
save            ``save_pretrained``: ``config.json`` + ``model.safetensors``, a TTM folder
teacher graph   the forecast and its backtest quantiles in one fixed-shape module
                (:mod:`tsfm.backends.ttm_graph`), so ``tsfm export`` writes a TTM teacher to ONNX
==============  ===================================================================================

In training windows missing values are set to the window's mean (0 after standardising) rather than
interpolated as at inference: windows with gaps are rare and the difference is a fill value the
model's scaler already ignores. The quantiles of a trained model come from backtests of the trained
module, as for the released one (:mod:`tsfm.backends.ttm_quantiles`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsfm.errors import InputError
from tsfm.registry import LoadOptions
from tsfm.training import QuantileGraph, TrainingFamily, register_training_family

if TYPE_CHECKING:
    from torch import nn


class TTMTraining(TrainingFamily):
    """Training interface of TinyTimeMixer forecasters (:class:`tsfm.backends.ttm.TTMForecaster`)."""

    name = "ttm"
    lora_targets = ("fc1", "fc2")

    def module(self, model: Any) -> nn.Module:
        return model.module

    def rebuild(self, model: Any, module: nn.Module, name: str) -> Any:
        from tsfm.backends.ttm import TTMForecaster

        rebuilt = TTMForecaster(name, module, LoadOptions(batch_size=model.batch_size))
        rebuilt.backtest_windows, rebuilt.bias_correction = model.backtest_windows, model.bias_correction
        return rebuilt

    def objective(self, model: Any, horizon: int, target_clamp: float) -> nn.Module:
        return _standardised_mse(model.module, horizon, target_clamp)

    def max_horizon(self, model: Any) -> int:
        return int(model.prediction_length)

    def save(self, module: nn.Module, folder: Path) -> Path:
        module.save_pretrained(str(folder))  # config.json (model_type tinytimemixer) + model.safetensors
        return Path(folder) / "model.safetensors"

    def quantile_graph(self, model: Any, horizon: int, context_length: int) -> QuantileGraph:
        """The forecast and its backtest quantiles as one fixed-shape module (:mod:`tsfm.backends.ttm_graph`)."""
        import copy

        from tsfm.backends.ttm_graph import GRAPH_LEVELS, BacktestQuantileGraph

        if not 1 <= horizon <= model.prediction_length:
            raise InputError(f"horizon must be in 1..{model.prediction_length} for this teacher, got {horizon}")
        windows = model.backtest_windows
        if not windows * horizon < context_length <= model.context_length:
            raise InputError(
                f"context_length must be in {windows * horizon + 1}..{model.context_length} for horizon {horizon} "
                f"and {windows} backtest windows, got {context_length}"
            )
        module = copy.deepcopy(model.module).float().cpu().eval()
        metadata = {"normalisation": "per-window standardisation and backtest quantiles inside the graph",
                    "padding": "left-pad shorter contexts with NaN"}
        return QuantileGraph(BacktestQuantileGraph(module, horizon, windows).eval(), GRAPH_LEVELS, metadata)


def _standardised_mse(module: Any, horizon: int, target_clamp: float) -> nn.Module:
    """The objective module (built here so torch is imported only when training)."""
    import torch
    from torch import nn

    class StandardisedMSE(nn.Module):
        """``forward(context [B, T], target [B, horizon]) -> MSE`` of TTM on standardised values.

        ``context`` is left-padded with NaN; it is cut to the model's context length here (mean and
        standard deviation are those of what the model reads) and padded by the model itself.
        """

        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            context = context[:, -int(self.model.config.context_length) :]  # scaled on what the model reads
            observed = torch.isfinite(context)  # [B, T]
            count = observed.sum(dim=1, keepdim=True).clamp_min(1)
            filled = torch.where(observed, context, torch.zeros_like(context))
            loc = filled.sum(dim=1, keepdim=True) / count  # [B, 1]
            variance = (torch.where(observed, context - loc, torch.zeros_like(context)) ** 2).sum(1, keepdim=True)
            scale = (variance / count).sqrt()
            scale = torch.where(scale > 0, scale, torch.where(loc != 0, loc.abs(), torch.ones_like(loc)))
            values = torch.where(observed, (context - loc) / scale, torch.zeros_like(context))  # [B, T]
            parameter = next(self.model.parameters())
            output = self.model(
                past_values=values[..., None].to(parameter.dtype), past_observed_mask=observed[..., None],
                return_loss=False,
            )
            forecast = output.prediction_outputs[:, :horizon, 0].float()  # [B, horizon]
            scaled = ((target - loc) / scale).clamp(-target_clamp, target_clamp)
            known = torch.isfinite(scaled)
            error = torch.where(known, forecast - scaled.nan_to_num(0.0), torch.zeros_like(forecast))
            return (error**2).sum() / known.sum().clamp_min(1)

    return StandardisedMSE()


register_training_family(TTMTraining())
