"""The training interface (:class:`tsfm.training.TrainingFamily`) of Chronos-T5, Chronos-Bolt and Chronos-2.

==============  ===================================================================================
family          objective
==============  ===================================================================================
chronos-bolt    pinball loss of its 9 quantiles on the mean-scaled target (clamped), as pretrained
chronos-2       the same on its 21 quantiles, after its arcsinh scaling
chronos-t5      cross-entropy of the target's tokens (the tokenizer of the pipeline bins values)
==============  ===================================================================================

The module of a Chronos forecaster is its pipeline's ``inner_model`` (the transformers model);
a forecaster is rebuilt around a trained module by copying the pipeline with that module in
place of its own. Default LoRA targets are the attention query and value projections of every
attention block: on the bundled 1.8M-parameter Bolt at rank 4 that is 0.9% of the weights;
``k``/``o`` and the feed-forward ``wi``/``wo`` are the usual additions when more capacity helps.
Only Chronos-Bolt has a fixed-shape quantile graph for ONNX teacher export.

Importing this module registers the three families; torch and chronos are imported when used (the loss
and export modules live in :mod:`tsfm.backends.chronos_objectives`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsfm.errors import InputError
from tsfm.registry import LoadOptions
from tsfm.training import QuantileGraph, TrainingFamily, register_training_family

if TYPE_CHECKING:
    from torch import nn


class ChronosTraining(TrainingFamily):
    """Training interface of one Chronos family (``chronos-t5``, ``chronos-bolt`` or ``chronos-2``)."""

    lora_targets = ("q", "v")

    def __init__(self, name: str) -> None:
        self.name = name

    def module(self, model: Any) -> nn.Module:
        return model.pipeline.inner_model

    def rebuild(self, model: Any, module: nn.Module, name: str) -> Any:
        from tsfm.backends.chronos import wrap_pipeline

        # A copy of the pipeline (tokenizer, config) whose inner model is ``module`` itself.
        pipeline = copy.deepcopy(model.pipeline, {id(model.pipeline.inner_model): module})
        return wrap_pipeline(name, pipeline, LoadOptions(batch_size=model.batch_size))

    def max_horizon(self, model: Any) -> int:
        pipeline = model.pipeline
        if self.name == "chronos-2":
            config = pipeline.inner_model.chronos_config
            return int(config.output_patch_size * config.max_output_patches)
        return int(pipeline.model_prediction_length)

    def objective(self, model: Any, horizon: int, target_clamp: float) -> nn.Module:
        from tsfm.backends.chronos_objectives import PaddedQuantileObjective, TokenCrossEntropy
        from tsfm.pretraining.trainer import QuantileTrainingModule

        pipeline = model.pipeline
        if self.name == "chronos-t5":
            return TokenCrossEntropy(pipeline.inner_model, pipeline.tokenizer, int(pipeline.model_prediction_length))
        native = int(pipeline.model_prediction_length) if self.name == "chronos-bolt" else horizon
        return PaddedQuantileObjective(
            QuantileTrainingModule(pipeline.inner_model, self.name, native, target_clamp), native
        )

    def save(self, module: nn.Module, folder: Path) -> Path:
        module.save_pretrained(str(folder))  # config.json keeps chronos_config: a Chronos folder
        return Path(folder) / "model.safetensors"


class ChronosBoltTraining(ChronosTraining):
    """Chronos-Bolt, which also exports as a fixed-shape quantile graph (a teacher for the edge)."""

    def quantile_graph(self, model: Any, horizon: int, context_length: int) -> QuantileGraph:
        """Bolt's quantiles for ``context [B, context_length]``: ``[B, horizon, 9]``, on a copy of its module.

        The copy runs eager attention: the dynamo ONNX exporter handles it (the loaded model uses sdpa).
        """
        from tsfm.backends.chronos_objectives import BoltQuantiles

        module = copy.deepcopy(model.pipeline.inner_model).float().cpu().eval()
        module.set_attn_implementation("eager")
        config = module.chronos_config
        if not 1 <= horizon <= config.prediction_length:
            raise InputError(f"horizon must be in 1..{config.prediction_length} for this teacher, got {horizon}")
        if context_length % config.input_patch_size or context_length < config.input_patch_size:
            raise InputError(
                f"context_length must be a positive multiple of the patch size {config.input_patch_size}, "
                f"got {context_length}"
            )
        metadata = {"normalisation": "Chronos-Bolt instance scaling inside the graph",
                    "padding": "left-pad shorter contexts with NaN"}
        levels = tuple(float(q) for q in config.quantiles)
        return QuantileGraph(BoltQuantiles(module, horizon).eval(), levels, metadata)


for _family in (ChronosTraining("chronos-t5"), ChronosBoltTraining("chronos-bolt"), ChronosTraining("chronos-2")):
    register_training_family(_family)
