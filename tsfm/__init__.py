"""tsfm-adapt: pretrained time-series foundation models, made useful and checkable.

>>> import tsfm
>>> model = tsfm.load("seasonal-naive", season_length=24)
>>> forecast = model.predict_quantiles([series_a, series_b], horizon=48)  # doctest: +SKIP
>>> forecast.quantiles.shape  # [n_series, horizon, n_quantiles]  # doctest: +SKIP
"""

from tsfm.bundled import DEFAULT_MODEL, bundled_model_path
from tsfm.contract import BaseForecaster, Forecaster
from tsfm.covariates import Covariates
from tsfm.errors import CheckpointError, CovariatesIgnoredWarning, InputError, TsfmError, UnknownModelError
from tsfm.forecast import Forecast
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.registry import LoadOptions, ModelSpec, list_models, load, register_model, register_path_loader

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_QUANTILE_LEVELS",
    "BaseForecaster",
    "CheckpointError",
    "Covariates",
    "CovariatesIgnoredWarning",
    "Forecast",
    "Forecaster",
    "InputError",
    "LoadOptions",
    "ModelSpec",
    "TsfmError",
    "UnknownModelError",
    "bundled_model_path",
    "list_models",
    "load",
    "register_model",
    "register_path_loader",
]
__version__ = "0.1.0"
