"""Metrics against values worked out by hand, and against the official M4 Hourly scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsfm.datasets import load_m4
from tsfm.errors import InputError
from tsfm.metrics import interval_coverage, mase, mse, quantile_loss, seasonal_scale, smape, wql

M4_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m4"


def test_when_seasonal_scale_then_mean_absolute_lag_m_difference():
    # lag-2 differences: |3-1|, |5-2|, |4-3|, |8-5| = 2, 3, 1, 3
    assert seasonal_scale([1, 2, 3, 5, 4, 8], 2) == pytest.approx(9 / 4)


def test_when_insample_has_nan_then_pairs_with_nan_are_ignored():
    # pairs: (3,1)=2, (5,nan) skipped, (4,3)=1, (8,5)=3
    assert seasonal_scale([1, np.nan, 3, 5, 4, 8], 2) == pytest.approx(2.0)


def test_when_mase_then_mean_absolute_error_over_seasonal_scale():
    # MAE = (|9-8| + |10-12|) / 2 = 1.5; scale 2.25
    assert mase([9, 10], [8, 12], [1, 2, 3, 5, 4, 8], 2) == pytest.approx(1.5 / 2.25)


def test_when_insample_repeats_exactly_then_mase_is_inf_or_nan():
    assert mase([2.0], [3.0], [1.0, 2.0, 1.0, 2.0], 2) == np.inf
    assert np.isnan(mase([2.0], [2.0], [1.0, 2.0, 1.0, 2.0], 2))


def test_when_smape_then_m4_definition_in_percent():
    # terms |1-2|/(1+2) = 1/3, 0/4 = 0, |4-2|/(4+2) = 1/3 -> 200 * (2/3) / 3
    assert smape([1, 2, 4], [2, 2, 2]) == pytest.approx(200 * 2 / 9)


def test_when_actual_and_forecast_are_both_zero_then_smape_term_is_zero():
    # terms 0 (0/0 counted as perfect) and |1-3|/(1+3) = 0.5 -> 200 * 0.25
    assert smape([0, 1], [0, 3]) == pytest.approx(50.0)


def test_when_mse_then_mean_squared_error():
    # (1 + 0 + 4) / 3
    assert mse([1, 2, 3], [2, 2, 5]) == pytest.approx(5 / 3)


def test_when_y_true_has_nan_then_point_metrics_skip_it():
    assert mse([1, np.nan, 3], [2, 100, 5]) == pytest.approx((1 + 4) / 2)
    assert smape([1, np.nan], [3, np.nan]) == pytest.approx(100.0)


LEVELS = np.array([0.1, 0.5, 0.9])
# Series 0: y = 2, 4; quantiles (1, 2, 3) and (3, 5, 6). Series 1: y = 1, NaN.
Y_TRUE = np.array([[2.0, 4.0], [1.0, np.nan]])
QUANTILES = np.array([[[1.0, 2.0, 3.0], [3.0, 5.0, 6.0]], [[1.0, 1.0, 1.0], [np.nan, np.nan, np.nan]]])


def test_when_quantile_loss_then_mean_over_levels_of_twice_summed_pinball():
    # Series 0, pinball rho_tau(u) = max(tau*u, (tau-1)*u), u = y - q:
    #   tau 0.1: u = 1, 1   -> 0.1 + 0.1 = 0.2
    #   tau 0.5: u = 0, -1  -> 0 + 0.5   = 0.5
    #   tau 0.9: u = -1, -2 -> 0.1 + 0.2 = 0.3
    # mean over levels of 2 * sum = (0.4 + 1.0 + 0.6) / 3. Series 1: exact at t=0, NaN at t=1 -> 0.
    np.testing.assert_allclose(quantile_loss(Y_TRUE, QUANTILES, LEVELS), [2.0 / 3.0, 0.0])


def test_when_pinball_gets_numpy_or_torch_then_it_is_the_max_formula_and_a_nan_target_adds_nothing():
    import torch

    from tsfm.metrics import pinball

    rng = np.random.default_rng(0)
    prediction, target, levels = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 1)), np.linspace(0.1, 0.9, 5)
    target[0, 1] = np.nan
    error = target - prediction
    expected = np.where(np.isnan(error), 0.0, np.maximum(levels * error, (levels - 1.0) * error))
    np.testing.assert_array_equal(pinball(prediction, target, levels), expected)
    tensor = torch.tensor(prediction, requires_grad=True)
    loss = pinball(tensor, torch.tensor(target), torch.tensor(levels))
    loss.sum().backward()
    np.testing.assert_array_equal(loss.detach().numpy(), expected)
    assert (tensor.grad[0, 1] == 0).all() and (tensor.grad[1] != 0).all()


def test_when_wql_then_summed_quantile_loss_over_summed_absolute_target():
    # (2/3 + 0) / (2 + 4 + 1)
    assert wql(Y_TRUE, QUANTILES, LEVELS) == pytest.approx((2.0 / 3.0) / 7.0)


def test_when_interval_coverage_then_share_of_values_inside_bounds():
    # 1 in [0,2] yes, 2 in [2,2] yes (bounds included), 3 in [4,5] no, 4 in [0,3] no, NaN skipped
    y = [1.0, 2.0, 3.0, 4.0, np.nan]
    assert interval_coverage(y, [0, 2, 4, 0, 0], [2, 2, 5, 3, 0]) == pytest.approx(0.5)


BAD_METRIC_CALLS = [
    ("shape mismatch", lambda: smape([1, 2, 3], [1, 2]), r"shape \(3,\) but y_pred has shape \(2,\)"),
    ("empty", lambda: mse([], []), "empty"),
    ("all nan", lambda: mse([np.nan], [1.0]), "no observed values"),
    ("nan forecast", lambda: mse([1.0, 2.0], [1.0, np.nan]), "y_pred has NaN or inf"),
    ("inf actual", lambda: smape([np.inf], [1.0]), "inf"),
    ("too short insample", lambda: seasonal_scale([1, 2, 3], 3), "3 values but season_length is 3"),
    ("bad season length", lambda: seasonal_scale([1, 2, 3], 0), "season_length must be a positive"),
    (
        "2-D insample",
        lambda: seasonal_scale([[1, 2], [3, 4]], 1),
        r"insample must be 1-D, got shape \(2, 2\)",
    ),
    ("2-D mase", lambda: mase([[1.0]], [[1.0]], [1, 2, 3], 1), r"1-D .* shape \(1, 1\)"),
    (
        "quantile shape",
        lambda: wql(Y_TRUE, QUANTILES[:, :, :2], LEVELS),
        r"\(2, 2, 3\) for y_true of shape \(2, 2\) .* got \(2, 2, 2\)",
    ),
    ("1-D y for quantiles", lambda: quantile_loss([1.0, 2.0], QUANTILES, LEVELS), r"got shape \(2,\)"),
    ("level out of range", lambda: wql(Y_TRUE, QUANTILES, [0.1, 0.5, 1.0]), "strictly between 0 and 1"),
    ("lower above upper", lambda: interval_coverage([1.0], [2.0], [0.0]), "lower is above upper"),
]


@pytest.mark.parametrize(("case", "call", "message"), BAD_METRIC_CALLS, ids=[c[0] for c in BAD_METRIC_CALLS])
def test_when_metric_input_is_bad_then_input_error_names_it(case, call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_when_seasonal_naive_on_m4_hourly_then_official_smape_and_mase():
    if not M4_FOLDER.exists():
        pytest.skip(f"{M4_FOLDER} is absent (M4 Hourly CSVs live in ../shared/data beside the checkout)")
    ids, train, test = load_m4(M4_FOLDER, "Hourly")
    assert len(ids) == 414 and all(len(t) == 48 for t in test)
    smapes, mases = [], []
    for history, actual in zip(train, test, strict=True):
        forecast = np.tile(history[-24:], 2)  # seasonal naive: repeat the last day twice
        smapes.append(smape(actual, forecast))
        mases.append(mase(actual, forecast, history, 24))
    assert round(float(np.mean(smapes)), 3) == 13.912
    assert round(float(np.mean(mases)), 3) == 1.193
