"""The training interface (:class:`tsfm.training.TrainingFamily`) of TiRex.

=============  ===================================================================================
module         the upstream ``TiRexZero`` (every weight; forecasting uses it directly)
objective      pinball loss of its 9 quantiles on the target in the model's own scaled space
               (its per-series standardisation of the context), future patches predicted in one
               pass from masked (NaN) input patches, the way TiRex is trained (contiguous patch
               masking); targets clamped to ``target_clamp`` scaled units
max horizon    the native context length (2048): one pass can forecast that many masked patches
save           ``model.ckpt`` with ``hyper_parameters`` and ``state_dict``, the released layout
LoRA targets   the feed-forward projections of every sLSTM block (``proj_up_gate``, ``proj_up``,
               ``proj_down``); the sLSTM gates are head-wise parameters, not ``nn.Linear``
=============  ===================================================================================

Importing this module registers the family; torch is imported when it is used (the loss lives in
:mod:`tsfm.backends.tirex_objectives`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsfm.backends.tirex import CHECKPOINT_FILE, TiRexForecaster
from tsfm.registry import LoadOptions
from tsfm.training import TrainingFamily, register_training_family

if TYPE_CHECKING:
    from torch import nn


class TiRexTraining(TrainingFamily):
    """Training interface of TiRex (``tsfm.load`` of a ``model.ckpt`` folder or ``NX-AI/TiRex``)."""

    name = "tirex"
    lora_targets = ("proj_up_gate", "proj_up", "proj_down")

    def module(self, model: Any) -> nn.Module:
        return model.model

    def rebuild(self, model: Any, module: nn.Module, name: str) -> Any:
        return TiRexForecaster(name, module, LoadOptions(batch_size=model.batch_size))

    def max_horizon(self, model: Any) -> int:
        return int(model.context_length)

    def objective(self, model: Any, horizon: int, target_clamp: float) -> nn.Module:
        from tsfm.backends.tirex_objectives import TiRexQuantileObjective

        return TiRexQuantileObjective(model.model, horizon, target_clamp)

    def save(self, module: nn.Module, folder: Path) -> Path:
        import torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(module.config)
        train_ctx_len = config.pop("train_ctx_len")
        config.pop("nan_mask_value")  # upstream sets it itself
        checkpoint = {"hyper_parameters": {"model_config": config, "train_ctx_len": train_ctx_len},
                      "state_dict": {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}}
        torch.save(checkpoint, folder / CHECKPOINT_FILE)
        return folder / CHECKPOINT_FILE


register_training_family(TiRexTraining())
