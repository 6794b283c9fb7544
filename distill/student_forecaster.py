"""A trained student behind the ``Forecaster`` contract, and the path loader for student folders.

Contexts longer than the student's ``context_length`` are cut to their last ``context_length``
steps; shorter ones are **left-padded with NaN** (the student fills missing values itself, see
:mod:`tsfm.distill.students`). Horizons up to the student's are served by its first steps; requested
quantile levels are interpolated from the student's own levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.distill.students import Student, is_student_folder, load_student
from tsfm.quantiles import interpolate_quantiles
from tsfm.registry import LoadOptions, register_path_loader


def pad_contexts(context: list[np.ndarray], length: int) -> np.ndarray:
    """``[n_series, length]`` float32: the last ``length`` steps of each series, left-padded with NaN."""
    out = np.full((len(context), length), np.nan, dtype=np.float32)
    for i, values in enumerate(context):
        tail = values[-length:]
        out[i, length - len(tail) :] = tail
    return out


class StudentForecaster(BaseForecaster):
    """A distilled student (see :mod:`tsfm.distill.students`) as a forecaster.

    Parameters
    ----------
    model
        The trained student (eval mode).
    name
        Name used in forecasts and reports.
    batch_size
        Series per forward pass.
    """

    kind = "student"

    def __init__(self, model: Student, name: str, batch_size: int = 256) -> None:
        super().__init__(name)
        self.model = model.eval()
        self.config = model.config
        self.max_horizon = model.config.horizon
        self.batch_size = batch_size

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        padded = pad_contexts(context, self.config.context_length)  # [n, context_length]
        chunks = []
        with torch.no_grad():
            for start in range(0, len(padded), self.batch_size):
                batch = torch.from_numpy(padded[start : start + self.batch_size])
                chunks.append(self.model(batch).numpy())  # [b, H, n_q]
        native = np.concatenate(chunks)[:, :horizon]  # [n, horizon, n_q native]
        quantiles = interpolate_quantiles(native, np.array(self.config.quantile_levels), levels)
        median = interpolate_quantiles(native, np.array(self.config.quantile_levels), np.array([0.5]))[..., 0]
        return quantiles, median


def load_student_forecaster(path: str, options: LoadOptions) -> StudentForecaster:
    """Path-loader factory: a folder written by ``tsfm.distill.distill`` (runs on CPU)."""
    return StudentForecaster(load_student(path), name=Path(path).name, batch_size=options.batch_size)


register_path_loader("distilled-student", is_student_folder)(load_student_forecaster)
