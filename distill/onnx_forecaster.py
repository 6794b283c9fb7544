"""An exported ``.onnx`` file behind the ``Forecaster`` contract, and its path loader.

The forecasting itself is :class:`tsfm.distill.runtime.OnnxRuntimeModel` (numpy + onnxruntime only);
this module adds the contract, so ``tsfm.load("student.onnx")`` and ``tsfm evaluate --models
student.onnx`` work. Contexts follow the runtime: cut to ``context_length`` or left-padded with NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.distill.runtime import NotATsfmExportError, OnnxRuntimeModel
from tsfm.errors import CheckpointError
from tsfm.quantiles import interpolate_quantiles
from tsfm.registry import LoadOptions, register_path_loader


class OnnxForecaster(BaseForecaster):
    """A tsfm ONNX export as a forecaster (CPU, onnxruntime).

    Parameters
    ----------
    runtime
        The loaded file.
    name
        Name used in forecasts and reports.
    batch_size
        Series per onnxruntime call.
    """

    kind = "onnx"

    def __init__(self, runtime: OnnxRuntimeModel, name: str, batch_size: int = 256) -> None:
        super().__init__(name)
        self.runtime = runtime
        self.max_horizon = runtime.horizon
        self.batch_size = batch_size

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        native = self.runtime.forecast(context, self.batch_size)[:, :horizon]  # [n, horizon, n_q native]
        native_levels = np.array(self.runtime.quantile_levels)
        median = interpolate_quantiles(native, native_levels, np.array([0.5]))[..., 0]
        return interpolate_quantiles(native, native_levels, levels), median


def load_onnx_forecaster(path: str, options: LoadOptions) -> OnnxForecaster:
    """Path-loader factory for ``*.onnx`` files written by ``tsfm export``."""
    try:
        runtime = OnnxRuntimeModel(path)
    except NotATsfmExportError as exc:
        raise CheckpointError(str(exc)) from None
    return OnnxForecaster(runtime, name=Path(path).name, batch_size=options.batch_size)


register_path_loader("tsfm-onnx", lambda p: p.is_file() and p.suffix == ".onnx")(load_onnx_forecaster)
