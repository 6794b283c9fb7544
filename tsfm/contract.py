"""The contract every model fulfils: ``predict_quantiles`` and ``embed``.

:class:`Forecaster` is the structural protocol that tasks program against.
:class:`BaseForecaster` is the usual way to fulfil it: its public methods are
final, validate their inputs once and call the private hooks that a backend
implements, so no backend re-validates and every backend fails the same way.

Magnitudes: a series whose largest absolute value lies outside the model's
``magnitude_range`` (by default about 9.3e-10 to 1.1e12) is rescaled exactly before the
backend sees it: multiplied by the power of two that brings that value into [1, 2),
forecast, and the quantiles and mean multiplied back (:mod:`tsfm.rescaling`). Values near
1e300 or 1e-30 therefore give the forecast of the same series at an ordinary magnitude
instead of NaN from a float32 overflow, with no digit of the data changed.

Quantile levels: every level in (0, 1) is answered. Backends that emit fixed levels
interpolate between them and extrapolate beyond them with a fitted Laplace tail
(:func:`tsfm.quantiles.interpolate_quantiles`); a level is never relabelled.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from tsfm.covariates import Covariates
from tsfm.errors import CovariatesIgnoredWarning, InputError
from tsfm.forecast import Forecast
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.rescaling import (
    DEFAULT_MAGNITUDE_RANGE,
    magnitude_exponents,
    scale_covariates,
    scale_series,
    unscale_forecast,
)
from tsfm.validation import (
    ContextLike,
    validate_context,
    validate_horizon,
    validate_quantile_levels,
)


@runtime_checkable
class Forecaster(Protocol):
    """What every model behind ``tsfm.load`` offers."""

    name: str
    kind: str

    def predict_quantiles(
        self,
        context: ContextLike,
        horizon: int,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        covariates: Covariates | None = None,
    ) -> Forecast:
        """Forecast ``horizon`` steps past the end of each series in ``context``."""
        ...

    def embed(self, context: ContextLike) -> np.ndarray:
        """Pooled embeddings ``[n_series, d]``; raises where the model has none."""
        ...


class BaseForecaster(ABC):
    """Validating base class; subclasses implement ``_predict_quantiles`` (and ``_embed``).

    Class attributes a backend may override:

    - ``kind``: ``"tsfm"`` for pretrained models, ``"baseline"`` for classical ones.
    - ``min_observations``: fewest finite values a series needs.
    - ``max_horizon``: longest horizon accepted, ``None`` for no limit.
    - ``has_embeddings``: whether :meth:`embed` is available.
    - ``supports_covariates``: whether :meth:`_predict_with_covariates` uses
      :class:`~tsfm.covariates.Covariates`; models without support warn once per call
      (:class:`~tsfm.errors.CovariatesIgnoredWarning`) and forecast from the target alone.
    - ``magnitude_range``: ``(smallest, largest)`` max |value| of a series the backend
      computes with exactly; series outside are rescaled by a power of two and their
      forecasts scaled back (see the module docstring). ``None`` turns this off.
    """

    kind: str = "tsfm"
    min_observations: int = 1
    max_horizon: int | None = None
    has_embeddings: bool = False
    supports_covariates: bool = False
    magnitude_range: tuple[float, float] | None = DEFAULT_MAGNITUDE_RANGE

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def predict_quantiles(
        self,
        context: ContextLike,
        horizon: int,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        covariates: Covariates | None = None,
    ) -> Forecast:
        """Forecast each series ``horizon`` steps ahead.

        Parameters
        ----------
        context
            List of 1-D float arrays of unequal length (NaN = missing), a 2-D
            ``[n_series, time]`` array, or one 1-D array.
        horizon
            Number of steps to forecast, a positive integer.
        quantile_levels
            Levels in (0, 1); returned sorted and de-duplicated.
        covariates
            Past and known-future covariates, group ids and variate keys, one entry per
            series of ``context`` (see :class:`tsfm.covariates.Covariates`). Checked against
            the context and horizon here; a model that cannot use them warns and ignores them.

        Returns
        -------
        Forecast
            ``quantiles [n_series, horizon, n_q]`` and ``mean [n_series, horizon]``, in the
            units of ``context`` (series outside ``magnitude_range`` are rescaled exactly and back).
        """
        series = validate_context(context, self.min_observations)
        steps = validate_horizon(horizon, self.max_horizon)
        levels = validate_quantile_levels(quantile_levels)
        if covariates is not None:
            if not isinstance(covariates, Covariates):
                raise InputError(
                    f"covariates must be a tsfm.covariates.Covariates or None, got {type(covariates).__name__}"
                )
            covariates.check_against(series, steps)
        exponents = magnitude_exponents(series, self.magnitude_range)
        series = scale_series(series, exponents)
        if covariates is None or covariates.is_empty:
            quantiles, mean = self._predict_quantiles(series, steps, levels)
        elif not self.supports_covariates:
            warnings.warn(
                f"model {self.name!r} cannot use covariates, group ids or multivariate targets; they are "
                "ignored and each series is forecast from its own past (Chronos-2 models use them)",
                CovariatesIgnoredWarning,
                stacklevel=2,
            )
            quantiles, mean = self._predict_quantiles(series, steps, levels)
        else:
            covariates = scale_covariates(covariates, self.magnitude_range)
            quantiles, mean = self._predict_with_covariates(series, steps, levels, covariates)
        quantiles, mean = unscale_forecast(quantiles, mean, exponents)
        quantiles = np.sort(np.asarray(quantiles, dtype=np.float64), axis=-1)  # non-crossing
        return Forecast(
            quantiles=quantiles,  # [n_series, horizon, n_q]
            quantile_levels=tuple(float(x) for x in levels),
            mean=np.asarray(mean, dtype=np.float64),  # [n_series, horizon]
            model_name=self.name,
        )

    def embed(self, context: ContextLike) -> np.ndarray:
        """Pooled embeddings, one ``[d]`` vector per series: ``[n_series, d]``."""
        if not self.has_embeddings:
            raise InputError(f"model {self.name!r} ({self.kind}) has no embeddings")
        series = validate_context(context, self.min_observations)
        series = scale_series(series, magnitude_exponents(series, self.magnitude_range))  # embeddings are unitless
        return np.asarray(self._embed(series), dtype=np.float32)

    @abstractmethod
    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(quantiles [n_series, horizon, n_q], mean [n_series, horizon])``."""

    def _predict_with_covariates(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray, covariates: Covariates
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`_predict_quantiles`, conditioned on checked ``covariates``.

        Called only when ``supports_covariates`` is True and covariates were given.
        """
        raise NotImplementedError(f"{type(self).__name__} sets supports_covariates but does not implement it")

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError
