"""Fracast-0, the 85k-parameter model bundled with the ``fracast`` package.

``fracast.FracastModel.from_pretrained()`` reads weights shipped inside the wheel,
so ``tsfm.load("fracast-0")`` works offline. The package ships two checkpoints: the
W8 one (weights stored as int8 with per-channel scales, de-quantised to float32 when
loaded) and an FP32 one. ``from_pretrained`` loads W8 unless told otherwise and the
package README calls it the default, so ``fracast-0`` is W8 too; their forecasts differ
by up to about 1.5 % of the series' scale and take the same time (both run in float32).
Pass ``weights="fp32"`` to :func:`load_fracast` for the full-precision one.

What the model does, and how this wrapper uses it:

- it reads the last ``context_length`` (2048) values of each series, scales each
  series to [0, 1] by its own min and max, and masks missing values; series are cut
  to 2048 points here, left-padded with NaN to the longest in their batch and sent
  ``batch_size`` at a time through ``forecast_batch``. The model itself left-pads
  every row to 2048 masked positions, so NaN padding changes nothing: a series'
  forecast is bit-for-bit the same alone or in any batch (checked in the tests);
- it emits 9 quantiles (``model.quantiles``, 0.1..0.9) for 48 steps; other levels are
  interpolated with :func:`tsfm.quantiles.interpolate_quantiles` (levels outside
  0.1..0.9 are extrapolated with a fitted Laplace tail, never clamped) and the mean is
  the median;
- horizons past 48 are forecast by the package: it appends the median of each
  48-step block to the context and runs the model again;
- it needs 8 finite values among the last 2048 of a series.

Speed on 2 shared CPU cores: 414 series of 1000 points, horizon 48, take 41 s in
batches of 256 and 210 s one series per call; every series costs a full 2048-step
pass whatever its length.

Embeddings: the core maps a series to hidden states ``[2048, d_model=64]``, one per
position; :meth:`FracastForecaster.embed` averages them over the positions that hold
an observation. Padding positions are masked and the same in a batch as alone, so
embeddings too do not depend on the batch.

torch and fracast are imported only when the model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device
from tsfm.errors import InputError
from tsfm.quantiles import interpolate_quantiles
from tsfm.registry import LoadOptions, register_model

__all__ = ["FracastForecaster", "load_fracast"]

WEIGHT_FORMATS = ("w8", "fp32")
# fracast.inference._MIN_FINITE: finite values the model needs in its 2048-point window.
MIN_FINITE = 8


class _CoreOutput(Exception):
    """Carries the core's hidden states out of ``forecast_batch``, skipping the head."""

    def __init__(self, hidden: Any) -> None:
        super().__init__("fracast core output")
        self.hidden = hidden


class FracastForecaster(BaseForecaster):
    """Fracast-0 behind the tsfm contract. Use ``tsfm.load("fracast-0")`` to build one.

    Parameters
    ----------
    name
        Registered name.
    model
        A loaded ``fracast.FracastModel``.
    batch_size
        Series per ``forecast_batch`` call.
    """

    kind = "tsfm"
    min_observations = MIN_FINITE
    has_embeddings = True
    # The model floors each series' spread (max - min) at 1e-5, so series below ~1e-3 are
    # rescaled into [1, 2) before it reads them (exact: it min-max scales every series).
    magnitude_range = (2.0**-10, 2.0**40)

    def __init__(self, name: str, model: Any, batch_size: int = 256) -> None:
        super().__init__(name)
        self.model = model
        self.batch_size = batch_size
        self.native_levels = np.asarray(model.quantiles, dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={str(self.model.device)!r})"

    @property
    def context_length(self) -> int:
        """Native context length (2048); older observations are ignored."""
        return int(self.model.context_length)

    @property
    def prediction_length(self) -> int:
        """Native horizon (48); longer horizons are forecast block by block."""
        return int(self.model.horizon)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        native = np.concatenate(
            [self.model.forecast_batch(padded, horizon=horizon) for padded in self._batches(context)]
        )  # [n_series, horizon, n_native]
        quantiles = interpolate_quantiles(native, self.native_levels, levels)  # [n_series, horizon, n_q]
        median = interpolate_quantiles(native, self.native_levels, np.array([0.5]))[..., 0]
        return quantiles, median  # mean = median

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        import torch

        pooled = []
        for padded in self._batches(context):
            hidden = self._core_hidden(padded)  # [b, context_length, d_model]
            observed = np.zeros(hidden.shape[:2], dtype=np.float32)  # [b, context_length]
            observed[:, -padded.shape[1] :] = np.isfinite(padded)  # the model right-aligns rows
            with torch.inference_mode():
                weights = torch.from_numpy(observed).to(hidden.device)[..., None]  # [b, context_length, 1]
                summed = (hidden * weights).sum(dim=1)  # [b, d_model]
                pooled.append((summed / weights.sum(dim=1).clamp(min=1.0)).float().cpu().numpy())
        return np.concatenate(pooled)  # [n_series, d_model]

    def _core_hidden(self, padded: np.ndarray) -> Any:
        """Hidden states ``[b, context_length, d_model]`` of the core for one padded batch.

        Runs ``forecast_batch`` so the package's own scaling and masking apply, and
        stops it as soon as the core has run: a forward hook raises the output out,
        which saves the forecast head (about 30 % of the time).
        """

        def capture(module: Any, args: Any, output: Any) -> None:
            raise _CoreOutput(output)

        handle = self.model.core.register_forward_hook(capture)
        try:
            self.model.forecast_batch(padded, horizon=self.prediction_length)
        except _CoreOutput as stop:
            return stop.hidden
        finally:
            handle.remove()
        raise RuntimeError("fracast's forecast_batch did not run its core; cannot embed")

    def _batches(self, context: list[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield ``[b, time]`` float32 arrays of at most ``batch_size`` series.

        Series are cut to the native context length and left-padded with NaN to the
        longest in their batch. Raises when a series has fewer than 8 finite values
        among its last ``context_length`` (validation counted the whole series).
        """
        for start in range(0, len(context), self.batch_size):
            chunk = [series[-self.context_length :] for series in context[start : start + self.batch_size]]
            padded = np.full((len(chunk), max(len(s) for s in chunk)), np.nan, dtype=np.float32)
            for row, series in enumerate(chunk):
                n_finite = int(np.isfinite(series).sum())
                if n_finite < MIN_FINITE:
                    raise InputError(
                        f"context[{start + row}] has {n_finite} observed values among its last "
                        f"{self.context_length}; {self.name} needs at least {MIN_FINITE} there"
                    )
                padded[row, padded.shape[1] - len(series) :] = series
            yield padded


def load_fracast(name: str, options: LoadOptions, weights: str = "w8") -> FracastForecaster:
    """Load the bundled Fracast-0 checkpoint (no download).

    Parameters
    ----------
    name
        Name to give the model, ``"fracast-0"`` through the registry.
    options
        ``device`` (``"auto"`` = CUDA when available) and ``batch_size`` apply;
        ``dtype`` must be ``None`` or ``"float32"``: the package feeds float32 inputs.
    weights
        ``"w8"`` (the package default) or ``"fp32"``.
    """
    if weights not in WEIGHT_FORMATS:
        raise InputError(f"weights must be one of {WEIGHT_FORMATS}, got {weights!r}")
    if options.dtype not in (None, "float32"):
        raise InputError(f"{name} runs in float32 only; got dtype={options.dtype!r}, pass None or 'float32'")
    from fracast import FracastModel

    model = FracastModel.from_pretrained(weights=weights, device=resolve_device(options.device))
    return FracastForecaster(name, model, batch_size=options.batch_size)


register_model(
    "fracast-0", kind="tsfm", description="Fracast-0, 85k-parameter convolutional TSFM (bundled, offline)"
)(load_fracast)
