"""The training interface (:class:`tsfm.training.TrainingFamily`) of TimesFM 2.5.

=============  ===================================================================================
module         upstream's ``TimesFM_2p5_200M_torch_module`` (every weight; forecasting uses it)
objective      pinball loss of the quantiles as inference forms them (continuous quantile head
               around the point head's median) plus the mean channel's squared error, in the
               model's own normalised space (:mod:`tsfm.backends.timesfm_objectives`); upstream
               publishes no training code for 2.5, so this objective is tsfm's
max horizon    one output patch, 128 steps (longer horizons are decoded autoregressively)
save           ``model.safetensors`` and a ``config.json`` naming the sizes, the released layout
LoRA targets   the attention projections ``qkv_proj`` and ``out`` of every transformer layer
=============  ===================================================================================

Importing this module registers the family; torch is imported when it is used.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsfm.backends.timesfm import CONFIG_FILE, NATIVE_LEVELS, WEIGHTS_FILE, TimesFMForecaster
from tsfm.registry import LoadOptions
from tsfm.training import TrainingFamily, register_training_family

if TYPE_CHECKING:
    from torch import nn


class TimesFMTraining(TrainingFamily):
    """Training interface of TimesFM 2.5 (``tsfm.load`` of a TimesFM 2.5 folder or hub id)."""

    name = "timesfm"
    lora_targets = ("qkv_proj", "out")

    def module(self, model: Any) -> nn.Module:
        return model.model.model

    def rebuild(self, model: Any, module: nn.Module, name: str) -> Any:
        wrapper = copy.copy(model.model)  # upstream's wrapper: the module, its compiled decode and config
        wrapper.model = module
        wrapper.compiled_decode = None
        return TimesFMForecaster(name, wrapper, LoadOptions(batch_size=model.batch_size))

    def max_horizon(self, model: Any) -> int:
        return int(model.model.model.o)

    def context_length(self, model: Any) -> int:
        return 2048  # training windows; the model reads up to 16k at inference

    def objective(self, model: Any, horizon: int, target_clamp: float) -> nn.Module:
        from tsfm.backends.timesfm_objectives import TimesFMQuantileObjective

        return TimesFMQuantileObjective(model.model.model, horizon, target_clamp, tuple(NATIVE_LEVELS.tolist()))

    def save(self, module: nn.Module, folder: Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # The module's own sizes (upstream's class attribute ``config`` always names the released ones).
        sizes = {"num_layers": int(module.x), "model_dims": int(module.md), "num_heads": int(module.h)}
        weights = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(weights, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(sizes, indent=2), encoding="utf-8")
        return folder / WEIGHTS_FILE


register_training_family(TimesFMTraining())
