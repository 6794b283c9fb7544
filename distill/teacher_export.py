"""Export a Chronos-Bolt teacher to ONNX (fp32 or int8), in the same tsfm format as the students.

What makes it work (see the project's notes on the chronos stack): the model is loaded with
``attn_implementation="eager"`` and exported with the dynamo exporter (``torch.onnx.export(...,
dynamo=True)``; the legacy exporter stops at ``aten::nanmean``). The exported graph has

- a fixed context of ``context_length`` steps, a multiple of the patch size (shorter series are
  left-padded with NaN by the runtime, which Chronos-Bolt treats as missing);
- a fixed horizon, at most the model's native prediction length (no autoregressive roll-out);
- a dynamic batch axis; output ``quantiles [batch, horizon, n_q]`` at the model's own levels.

The file is verified against the torch model on real windows, like a student export.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsfm.distill.export import ExportReport, finish_export
from tsfm.distill.runtime import INPUT_NAME, OUTPUT_NAME
from tsfm.errors import CheckpointError, InputError


def _load_bolt(name_or_path: str) -> Any:
    from chronos.chronos_bolt import ChronosBoltModelForForecasting

    from tsfm.backends.chronos import check_checkpoint_folder
    from tsfm.bundled import BUNDLED_MODELS, bundled_model_path

    folder = bundled_model_path(name_or_path) if name_or_path in BUNDLED_MODELS else Path(name_or_path)
    config = folder / "config.json"
    if not config.is_file() or "ChronosBoltModelForForecasting" not in config.read_text():
        raise CheckpointError(f"{name_or_path!r} is not a local Chronos-Bolt folder (config.json of a Bolt model)")
    check_checkpoint_folder(folder)  # no custom code, weights inside the folder
    return ChronosBoltModelForForecasting.from_pretrained(
        str(folder), attn_implementation="eager", trust_remote_code=False
    ).eval()


def export_bolt_teacher(
    teacher: str,
    output: str | Path,
    horizon: int,
    context_length: int = 512,
    quantize: str = "none",
    windows: np.ndarray | None = None,
    tolerance: float | None = None,
) -> ExportReport:
    """Export a Chronos-Bolt folder (or a bundled Bolt model's name) to ``output``.

    Parameters
    ----------
    teacher
        ``tsfm-bolt-mini`` or a folder with a Chronos-Bolt ``config.json`` and weights.
    horizon
        Fixed output length, at most the model's ``prediction_length``.
    context_length
        Fixed input length, a multiple of the model's input patch size.
    quantize, windows, tolerance
        As for :func:`tsfm.distill.export.export_student`; ``windows`` is ``[n, context_length]``.
    """
    model = _load_bolt(teacher)
    chronos = model.chronos_config
    if not 1 <= horizon <= chronos.prediction_length:
        raise InputError(f"horizon must be in 1..{chronos.prediction_length} for this teacher, got {horizon}")
    if context_length % chronos.input_patch_size or context_length < chronos.input_patch_size:
        raise InputError(
            f"context_length must be a positive multiple of the patch size {chronos.input_patch_size}, "
            f"got {context_length}"
        )
    wrapper = _BoltQuantiles(model, horizon).eval()
    if windows is None:
        from tsfm.distill.export import _synthetic_windows

        windows = _synthetic_windows(context_length, n=64)
    windows = np.asarray(windows, dtype=np.float32)
    metadata = {
        "architecture": "chronos-bolt", "context_length": str(context_length), "horizon": str(horizon),
        "quantile_levels": json.dumps([float(q) for q in chronos.quantiles]),
        "normalisation": "Chronos-Bolt instance scaling inside the graph",
        "padding": "left-pad shorter contexts with NaN", "teacher": str(teacher),
    }
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        torch.onnx.export(
            wrapper, (torch.from_numpy(windows[:2]),), str(fp32), input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamo=True, dynamic_shapes={"context": {0: torch.export.Dim("batch")}},
            external_data=False,
        )

        def reference(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return wrapper(torch.from_numpy(x)).numpy()

        return finish_export(fp32, Path(output), quantize, metadata, windows, reference, tolerance)


class _BoltQuantiles(torch.nn.Module):
    """``context [batch, context_length]`` -> ``quantiles [batch, horizon, n_q]`` of a Bolt model."""

    def __init__(self, model: Any, horizon: int) -> None:
        super().__init__()
        self.model, self.horizon = model, horizon

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        native = self.model(context=context).quantile_preds  # [batch, n_q, prediction_length]
        return native[:, :, : self.horizon].transpose(1, 2)
