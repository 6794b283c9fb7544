"""Export a teacher to ONNX (fp32 or int8), in the same tsfm format as the students.

The teacher is loaded with ``tsfm.load`` and its family's training interface
(:meth:`tsfm.training.TrainingFamily.quantile_graph`) gives the module to export; today Chronos-Bolt
has one. What makes it work for Bolt (see the project's notes on the chronos stack): the module runs
eager attention and is exported with the dynamo exporter (``torch.onnx.export(..., dynamo=True)``;
the legacy exporter stops at ``aten::nanmean``). The exported graph has

- a fixed context of ``context_length`` steps (for Bolt a multiple of the patch size; shorter series
  are left-padded with NaN by the runtime, which Chronos-Bolt treats as missing);
- a fixed horizon, at most what one forward pass produces (no autoregressive roll-out);
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
from tsfm.errors import CheckpointError
from tsfm.training import training_family


def _load_teacher(name_or_path: str) -> Any:
    """The teacher forecaster, on CPU: a bundled model's name or a local folder (never the hub)."""
    from tsfm.bundled import BUNDLED_MODELS
    from tsfm.registry import load

    if name_or_path not in BUNDLED_MODELS and not Path(name_or_path).expanduser().is_dir():
        raise CheckpointError(f"{name_or_path!r} is not a local model folder or a bundled model's name")
    return load(name_or_path, device="cpu", dtype="float32")


def export_bolt_teacher(
    teacher: str,
    output: str | Path,
    horizon: int,
    context_length: int = 512,
    quantize: str = "none",
    windows: np.ndarray | None = None,
    tolerance: float | None = None,
) -> ExportReport:
    """Export a teacher folder (or a bundled model's name) whose family has a quantile graph to ``output``.

    Parameters
    ----------
    teacher
        ``tsfm-bolt-mini`` or a model folder ``tsfm.load`` reads (today: a Chronos-Bolt checkpoint).
    horizon
        Fixed output length, at most what one forward pass of the model produces.
    context_length
        Fixed input length (for Chronos-Bolt a multiple of its input patch size).
    quantize, windows, tolerance
        As for :func:`tsfm.distill.export.export_student`; ``windows`` is ``[n, context_length]``.
    """
    model = _load_teacher(teacher)
    graph = training_family(model, "teacher export").quantile_graph(model, horizon, context_length)
    wrapper = graph.module
    if windows is None:
        from tsfm.distill.export import _synthetic_windows

        windows = _synthetic_windows(context_length, n=64)
    windows = np.asarray(windows, dtype=np.float32)
    metadata = {
        "architecture": model.family, "context_length": str(context_length), "horizon": str(horizon),
        "quantile_levels": json.dumps(list(graph.quantile_levels)), **graph.metadata, "teacher": str(teacher),
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

