"""tsfm.benchmarks.tail_extrapolation: the shares of outcomes below extended 0.01 / 0.99 quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import laplace, norm

from tsfm.benchmarks import tail_extrapolation
from tsfm.forecast import Forecast


class KnownDistribution:
    """Forecasts the exact quantiles of the distribution the test outcomes are drawn from."""

    name, kind = "known", "test"

    def __init__(self, ppf):
        self.ppf = ppf

    def predict_quantiles(self, context, horizon, quantile_levels):
        levels = tuple(quantile_levels)
        q = np.broadcast_to(self.ppf(np.array(levels)), (len(context), horizon, len(levels))).copy()
        return Forecast(quantiles=q, quantile_levels=levels, mean=q[..., len(levels) // 2].copy(), model_name="known")


def write_m4(folder, outcomes: np.ndarray) -> None:
    n, horizon = outcomes.shape
    ids = [f"H{i + 1}" for i in range(n)]
    pd.DataFrame(np.ones((n, 60)), index=pd.Index(ids, name="V1")).to_csv(folder / "Hourly-train.csv")
    pd.DataFrame(outcomes, index=pd.Index(ids, name="V1")).to_csv(folder / "Hourly-test.csv")


@pytest.mark.parametrize("dist, better", [(laplace, "laplace"), (norm, "normal")])
def test_the_tail_shape_that_matches_the_outcomes_covers_1_and_99_percent(tmp_path, dist, better):
    outcomes = dist.rvs(size=(200, 48), random_state=np.random.default_rng(0))
    write_m4(tmp_path, outcomes)
    shares = tail_extrapolation(KnownDistribution(dist.ppf), tmp_path, n_series=200, horizon=48)
    worse = "normal" if better == "laplace" else "laplace"
    for level, ideal in (("0.01", 0.01), ("0.99", 0.99)):
        assert shares[f"{better}_below_{level}"] == pytest.approx(ideal, abs=0.004)
        assert shares[f"native_below_{level}"] == pytest.approx(ideal, abs=0.004)
    miss = {k: abs(shares[f"{k}_below_0.01"] - 0.01) + abs(shares[f"{k}_below_0.99"] - 0.99) for k in (better, worse)}
    assert miss[better] < miss[worse]
