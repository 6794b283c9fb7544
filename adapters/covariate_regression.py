"""Known-future covariates for any model, by regression on the covariates plus a forecast of the rest.

:func:`with_covariate_regression` wraps a model that cannot read covariates (Chronos-T5,
Chronos-Bolt, fracast, the baselines) into a new one that can, cheaply and without
training the model. Per series and per forecast call:

1. fit a ridge regression of the target on its known-future covariates over the
   context (numeric ones as they are, categorical ones one-hot; an intercept);
2. forecast the residual ``y - X @ beta`` with the wrapped model;
3. add the regression's prediction ``X_future @ beta`` back to every quantile and the mean.

The effect is linear and immediate (no lags); the wrapped model keeps the target's own
dynamics and its uncertainty. Past-only covariates, group ids and variate keys are not
used (a warning says so). A series with too few complete rows (fewer than twice the
number of coefficients) is forecast without the regression. The wrapped model is not
changed.
"""

from __future__ import annotations

import warnings

import numpy as np

from tsfm.contract import BaseForecaster, Forecaster
from tsfm.covariates import Covariates
from tsfm.errors import CovariatesIgnoredWarning, InputError


def with_covariate_regression(model: Forecaster, ridge: float = 1e-3) -> CovariateRegressionForecaster:
    """A new model that regresses each target on its known-future covariates; see the module docstring."""
    return CovariateRegressionForecaster(model, ridge)


class CovariateRegressionForecaster(BaseForecaster):
    """``model`` plus a per-series linear regression on known-future covariates.

    Parameters
    ----------
    model
        The forecaster of the residuals; left unchanged.
    ridge
        L2 penalty on the standardised covariates' coefficients (not the intercept), >= 0.
    """

    supports_covariates = True

    def __init__(self, model: Forecaster, ridge: float = 1e-3) -> None:
        if not isinstance(ridge, (int, float)) or isinstance(ridge, bool) or ridge < 0:
            raise InputError(f"ridge must be a number >= 0, got {ridge!r}")
        super().__init__(f"{model.name}+covreg")
        self.model = model
        self.ridge = float(ridge)
        self.kind = model.kind
        self.min_observations = getattr(model, "min_observations", 1)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        forecast = self.model.predict_quantiles(context, horizon, levels)
        return forecast.quantiles, forecast.mean

    def _predict_with_covariates(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray, covariates: Covariates
    ) -> tuple[np.ndarray, np.ndarray]:
        if covariates.past_only or covariates.group_ids is not None or covariates.variate_of is not None:
            warnings.warn(
                f"{self.name} uses known-future covariates only; past-only covariates "
                f"{list(covariates.past_only)}, group ids and variate keys are ignored",
                CovariatesIgnoredWarning,
                stacklevel=3,
            )
        if not covariates.known_future:
            return self._predict_quantiles(context, horizon, levels)
        residuals, effects = [], []
        for i, series in enumerate(context):
            past, future = design_matrices(covariates, i)  # [T, k], [horizon, k]
            beta = fit_ridge(past, series, self.ridge)  # [k + 1] or None
            if beta is None:
                residuals.append(series)
                effects.append(np.zeros(horizon))
                continue
            residuals.append(series - _with_intercept(past) @ beta)  # NaN where a row is incomplete
            effects.append(_with_intercept(future) @ beta)
        forecast = self.model.predict_quantiles(residuals, horizon, levels)
        effect = np.vstack(effects)  # [n_series, horizon]
        return forecast.quantiles + effect[..., None], forecast.mean + effect


def design_matrices(covariates: Covariates, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Known-future covariates of series ``i``: ``(past [T, k], future [horizon, k])``, categories one-hot."""
    past_columns, future_columns = [], []
    for name in covariates.known_future:
        past, future = covariates.past[i][name], covariates.future[i][name]
        if past.dtype != object:
            past_columns.append(past)
            future_columns.append(np.asarray(future, dtype=np.float64))
            continue
        for category in sorted({v for v in past if v is not None})[1:]:  # first category is the baseline
            past_columns.append(np.array([np.nan if v is None else float(v == category) for v in past]))
            future_columns.append(np.array([np.nan if v is None else float(v == category) for v in future]))
    if not past_columns:
        return np.zeros((len(covariates.past[i][covariates.known_future[0]]), 0)), np.zeros((len(future), 0))
    return np.column_stack(past_columns), np.column_stack(future_columns)


def fit_ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray | None:
    """Coefficients ``[intercept, k slopes]`` of a ridge fit on the complete rows; None when too few."""
    complete = np.isfinite(y) & np.isfinite(x).all(axis=1)
    k = x.shape[1]
    if k == 0 or complete.sum() < 2 * (k + 1):
        return None
    xs, ys = x[complete], y[complete]
    scale = xs.std(axis=0)
    scale[scale == 0] = 1.0
    design = _with_intercept(xs / scale)  # [n, k + 1]
    penalty = ridge * len(ys) * np.diag([0.0, *([1.0] * k)])
    coef = np.linalg.solve(design.T @ design + penalty + 1e-12 * np.eye(k + 1), design.T @ ys)
    return np.concatenate([[coef[0]], coef[1:] / scale])


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x])
