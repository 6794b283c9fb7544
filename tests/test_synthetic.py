"""The synthetic pretraining corpus: determinism, generator properties, kernels, tasks, I/O, config.

Everything runs offline on small batches; the whole file takes a few seconds on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from tsfm.errors import InputError
from tsfm.pretraining import synthetic as syn
from tsfm.pretraining.synthetic import KernelExpr, KernelLeaf, SyntheticConfig

PURE = {"mixup_probability": 0.0, "missing_probability": 0.0}  # one generator's own output


def only(name: str, length: int = 576, **changes) -> SyntheticConfig:
    """A config that draws every row from generator ``name``, without mixup or missing values."""
    return SyntheticConfig(length=length, weights={name: 1.0}, **{**PURE, **changes})


# ---- determinism ---------------------------------------------------------------------------------
def test_when_seed_and_index_repeat_then_the_batch_is_identical_whatever_came_before():
    config = SyntheticConfig(length=100)
    first = syn.generate_batch(config, seed=7, index=5, batch_size=32)
    for index in range(5):  # a trainer that ran steps 0..4 first must see the same step 5
        syn.generate_batch(config, seed=7, index=index, batch_size=32)
    again = syn.generate_batch(config, seed=7, index=5, batch_size=32)
    np.testing.assert_array_equal(first, again)  # NaN compare equal here
    assert first.shape == (32, 100) and first.dtype == np.float32


def test_when_index_or_seed_changes_then_the_batch_changes():
    config = SyntheticConfig(length=100)
    base = syn.generate_batch(config, 7, 5, 16)
    for other in (syn.generate_batch(config, 7, 6, 16), syn.generate_batch(config, 8, 5, 16)):
        assert not np.allclose(np.nan_to_num(base), np.nan_to_num(other))


def test_when_covariate_and_group_tasks_repeat_then_they_are_identical():
    config = SyntheticConfig(length=64)
    a, b = (syn.generate_covariate_batch(config, 1, 2, 8) for _ in range(2))
    c, d = (syn.generate_group_batch(config, 1, 2, 4) for _ in range(2))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for key in c:
        np.testing.assert_array_equal(c[key], d[key])


# ---- generators ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", syn.GENERATORS)
@pytest.mark.parametrize("length", [2, 37, 576])
def test_when_a_generator_runs_then_its_values_are_finite_with_the_right_shape(name, length):
    batch = syn.generate_batch(only(name, length), seed=0, index=1, batch_size=24)
    assert batch.shape == (24, length) and batch.dtype == np.float32
    assert np.isfinite(batch).all()


def test_when_missing_probability_is_set_then_nan_marks_gaps_in_that_share_of_rows():
    none = syn.generate_batch(SyntheticConfig(length=300, missing_probability=0.0), 0, 0, 64)
    assert np.isfinite(none).all()
    every = syn.generate_batch(SyntheticConfig(length=300, missing_probability=1.0), 0, 0, 64)
    has_nan = np.isnan(every).any(axis=1)
    assert has_nan.mean() > 0.6
    assert np.isnan(every).mean(axis=1).max() < 0.5  # mostly observed even where values are missing


def test_when_demand_is_intermittent_then_most_values_are_exact_zeros_and_the_rest_integers():
    batch = syn.generate_batch(only("intermittent"), 0, 0, 64)
    zeros = batch == 0
    assert zeros.mean() > 0.6 and zeros.mean(axis=1).min() > 0.2
    demand = batch[~zeros]
    assert (demand >= 1).all() and np.array_equal(demand, np.round(demand))


def test_when_sensors_drop_out_then_series_stay_non_negative_with_zero_stretches():
    batch = syn.generate_batch(only("spikes_dropouts"), 0, 0, 64)
    assert (batch >= 0).all()
    assert ((batch == 0).sum(axis=1) >= 2).mean() > 0.4  # dropouts: at least a short stretch of zeros


def test_when_profiles_repeat_then_some_lag_reproduces_each_series_and_on_off_rows_hold_exact_zeros():
    batch = syn.generate_batch(only("repeated_profile"), 0, 0, 64)
    assert (batch >= 0).all()
    error = [min(np.abs(row[lag:] - row[:-lag]).mean() for lag in range(2, 192)) / row.std() for row in batch]
    assert np.mean(np.array(error) < 0.05) > 0.3  # many rows copy an earlier cycle to within 5% of their spread
    assert ((batch == 0).mean(axis=1) > 0.2).mean() > 0.1  # day/night rows: exactly zero off-cycle


def test_when_a_default_batch_is_generated_then_levels_span_many_orders_of_magnitude():
    batch = syn.generate_batch(SyntheticConfig(length=200), 3, 0, 512)
    level = np.log10(np.nanmean(np.abs(batch), axis=1) + 1e-30)
    assert np.quantile(level, 0.05) < -1 and np.quantile(level, 0.95) > 3.5
    assert (np.nanmin(batch, axis=1) > 0).mean() > 0.3  # strictly positive series
    assert (np.nanmin(batch, axis=1) < 0).mean() > 0.1  # series with negative values


# ---- kernels -------------------------------------------------------------------------------------
@pytest.mark.parametrize("period", [7, 24, 52])
def test_when_a_periodic_kernel_is_sampled_then_its_period_is_the_spectral_peak(period):
    expr = KernelExpr((KernelLeaf("periodic", period=period, lengthscale=1.0),))
    samples = syn.sample_kernel_fast(expr, 576, np.random.default_rng(period), n=32)
    power = (np.abs(np.fft.rfft(samples - samples.mean(axis=1, keepdims=True), axis=1)) ** 2).mean(axis=0)
    assert abs(int(np.argmax(power)) - 576 / period) <= 1


EXPRESSIONS = [
    KernelExpr((KernelLeaf("periodic", period=12, lengthscale=0.8), KernelLeaf("rbf", lengthscale=10.0),
                KernelLeaf("linear", offset=0.3, bias=0.2), KernelLeaf("white_noise", variance=0.1)),
               ops=("*", "+", "+")),
    KernelExpr((KernelLeaf("rational_quadratic", lengthscale=4.0, alpha=0.5),
                KernelLeaf("periodic", period=7.5), KernelLeaf("rbf", lengthscale=20.0)),
               ops=("+", "*"), nested=True),
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=["sum_of_products", "nested"])
def test_when_fast_kernel_samples_are_compared_with_the_kernel_then_the_covariance_matches(expr):
    length, n = 40, 6000
    exact = syn.kernel_matrix(expr, length)
    for sampler in (syn.sample_kernel_fast, syn.sample_kernel_exact):
        samples = sampler(expr, length, np.random.default_rng(1), n).astype(np.float64)
        empirical = np.einsum("ni,nj->ij", samples, samples) / n  # zero-mean processes
        assert np.linalg.norm(empirical - exact) / np.linalg.norm(exact) < 0.12, sampler.__name__


def test_when_only_white_noise_is_allowed_then_kernel_synth_series_are_uncorrelated_in_time():
    batch = syn.generate_batch(only("kernel_synth", 400, kernels=("white_noise",), max_kernels=1), 0, 0, 32)
    z = batch - batch.mean(axis=1, keepdims=True)
    lag1 = (z[:, 1:] * z[:, :-1]).sum(axis=1) / (z * z).sum(axis=1)
    assert np.abs(lag1).max() < 0.25


# ---- mixup ---------------------------------------------------------------------------------------
def test_when_series_are_mixed_then_the_result_is_a_convex_combination_of_the_scaled_components():
    rng = np.random.default_rng(0)
    components = rng.gamma(2.0, size=(50, 3, 80)) * rng.uniform(0.01, 1e4, size=(50, 3, 1))
    weights = rng.dirichlet(np.ones(3), size=50)
    mixed = syn.tsmixup(components, weights)
    scaled = syn.mean_scale(components)
    assert mixed.shape == (50, 80)
    assert (mixed >= scaled.min(axis=1) - 1e-9).all() and (mixed <= scaled.max(axis=1) + 1e-9).all()
    one_hot = syn.tsmixup(components, np.eye(3)[np.zeros(50, dtype=int)])
    np.testing.assert_allclose(one_hot, scaled[:, 0])


# ---- Chronos-2 tasks -----------------------------------------------------------------------------
def _lagged_design(covariates: np.ndarray) -> np.ndarray:
    """``[B, L - MAX_LAG, C * (MAX_LAG + 1) + 1]``: every covariate at lags 0..MAX_LAG, and a constant."""
    lags, (batch, _, length) = syn.MAX_LAG, covariates.shape
    columns = [np.ones((batch, length - lags))]
    for c in range(covariates.shape[1]):
        columns += [covariates[:, c, lags - lag : length - lag] for lag in range(lags + 1)]
    return np.stack(columns, axis=2)


def _r2(target: np.ndarray, design: np.ndarray) -> np.ndarray:
    """R^2 of a least-squares fit per row; einsum normal equations, not a threaded BLAS (stalls when
    the cores are busy)."""
    y = target[:, syn.MAX_LAG :]
    gram = np.einsum("bti,btj->bij", design, design) + 1e-8 * np.eye(design.shape[2])
    beta = np.linalg.solve(gram, np.einsum("bti,bt->bi", design, y)[..., None])[..., 0]
    residual = y - np.einsum("bti,bi->bt", design, beta)
    return 1 - residual.var(axis=1) / y.var(axis=1)


def test_when_covariates_drive_the_target_then_lagged_least_squares_explains_it_and_others_do_not():
    config = SyntheticConfig(missing_probability=0.0)
    out = syn.generate_covariate_batch(config, seed=0, index=3, batch_size=48, n_covariates=(2, 3))
    covariates = np.concatenate([out["past_covariates"], out["future_covariates"]], axis=1).astype(np.float64)
    covariates = (covariates - covariates.mean(axis=2, keepdims=True)) / covariates.std(axis=2, keepdims=True)
    target = out["target"].astype(np.float64)
    own = _r2(target, _lagged_design(covariates))
    other = _r2(target, _lagged_design(np.roll(covariates, 1, axis=0)))  # another task's covariates
    assert np.median(own) > 0.5 and np.median(other) < 0.3
    assert (own > other).mean() > 0.8


def test_when_a_covariate_batch_is_made_then_its_layout_is_the_documented_one():
    out = syn.generate_covariate_batch(SyntheticConfig(length=96), 5, 0, 16, n_covariates=(1, 3))
    past, future = out["past_covariates"], out["future_covariates"]
    assert out["target"].shape == (16, 96)
    assert past.shape[::2] == (16, 96) and future.shape[::2] == (16, 96)
    assert 1 <= past.shape[1] + future.shape[1] <= 3
    assert out["lags"].shape == (16, past.shape[1] + future.shape[1])
    assert (out["lags"][:, : past.shape[1]] >= 1).all() and (out["lags"] <= syn.MAX_LAG).all()
    assert set(out["response"]) <= set(syn.RESPONSES)
    assert np.isfinite(past).all() and np.isfinite(future).all()


def test_when_groups_are_generated_then_members_correlate_more_within_than_across_groups():
    config = SyntheticConfig(length=300, missing_probability=0.0)
    out = syn.generate_group_batch(config, seed=0, index=0, n_groups=12, group_size=(2, 5))
    ids, target = out["group_ids"], out["target"].astype(np.float64)
    sizes = np.bincount(ids)
    assert (np.diff(ids) >= 0).all() and sizes.min() >= 2 and sizes.max() <= 5
    corr = np.abs(np.corrcoef(np.diff(target, axis=1)))  # differences: trends do not fake correlation
    same = ids[:, None] == ids[None, :]
    off_diagonal = ~np.eye(len(ids), dtype=bool)
    assert corr[same & off_diagonal].mean() > corr[~same].mean() + 0.1
    assert ((out["common_share"] > 0) & (out["common_share"] <= 1)).all()


# ---- streaming and Arrow -------------------------------------------------------------------------
def test_when_series_are_streamed_then_a_prefix_does_not_depend_on_n():
    config = SyntheticConfig(length=30)
    short = list(syn.iter_series(config, 3, n=5))
    endless = list(itertools.islice(syn.iter_series(config, 3), 5))
    np.testing.assert_array_equal(np.stack(short), np.stack(endless))
    np.testing.assert_array_equal(np.stack(short), syn.generate_batch(config, 3, 0, 256)[:5])


def test_when_written_to_arrow_then_load_from_disk_returns_the_same_series(tmp_path):
    from datasets import load_from_disk

    config = SyntheticConfig(length=40, missing_probability=0.5)
    path = syn.write_arrow(tmp_path / "corpus", config, seed=11, n_series=300)  # crosses a 256-row chunk
    loaded = load_from_disk(str(path))
    assert len(loaded) == 300 and loaded.column_names == ["item_id", "target"]
    assert len(set(loaded["item_id"])) == 300
    expected = np.stack(list(syn.iter_series(config, 11, 300)))
    np.testing.assert_array_equal(np.asarray(loaded["target"], dtype=np.float32), expected)


# ---- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, match",
    [
        ({"kernels": ("rbf", "matern")}, r"kernels.*'matern'.*known kernels: periodic"),
        ({"weights": {"sine_waves": 1.0}}, r"weights.*'sine_waves'.*known generators: kernel_synth"),
        ({"weights": {"ar": -0.5}}, r"weights\['ar'\].*-0.5"),
        ({"weights": {"ar": 0.0}}, r"weights.*positive"),
        ({"length": 1}, r"length.*got 1"),
        ({"max_kernels": 0}, r"max_kernels.*got 0"),
        ({"mixup_probability": 1.5}, r"mixup_probability.*1.5"),
        ({"missing_probability": -0.1}, r"missing_probability.*-0.1"),
        ({"mixup_max_components": 0}, r"mixup_max_components.*got 0"),
    ],
)
def test_when_a_config_value_is_bad_then_input_error_names_the_field_and_value(changes, match):
    with pytest.raises(InputError, match=match):
        SyntheticConfig(**changes)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda c: syn.generate_batch(c, -1, 0, 4), "seed.*-1"),
        (lambda c: syn.generate_batch(c, 0, 0, -2), "batch_size.*-2"),
        (lambda c: syn.generate_covariate_batch(c, 0, 0, 4, n_covariates=(0, 2)), "n_covariates"),
        (lambda c: syn.generate_group_batch(c, 0, 0, 4, group_size=(3, 2)), "group_size"),
        (lambda c: SyntheticConfig.from_dict({"lenght": 10}), r"'lenght'.*known fields: length"),
    ],
)
def test_when_a_call_argument_is_bad_then_input_error_names_it(call, match):
    with pytest.raises(InputError, match=match):
        call(SyntheticConfig(length=20))


def test_when_a_config_goes_through_json_then_it_comes_back_equal():
    config = SyntheticConfig(length=123, weights={"ar": 2, "clean_seasonal": 0.5},
                             kernels=("rbf", "periodic"), max_kernels=3, mixup_probability=0.3,
                             missing_probability=0.2)
    again = SyntheticConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.kernels, tuple)
    assert dataclasses.replace(config, weights={"clean_seasonal": 1.0}).weights == {"clean_seasonal": 1.0}


def test_when_schedules_are_generated_then_they_hold_two_or_three_levels_in_blocks():
    config = SyntheticConfig(length=300)
    rows = syn._run_generators(config, np.random.default_rng(0), np.array(["schedule"] * 20))
    for row in rows:
        changes = np.flatnonzero(np.diff(row) != 0)
        runs = np.diff(np.r_[-1, changes])  # lengths of the constant stretches before each change
        assert 1 <= len(np.unique(row)) <= 3
        assert len(runs) == 0 or runs.min() >= 4  # blocks of at least 4 steps


def test_when_covariate_weights_name_schedules_then_covariates_are_schedules_and_unknown_names_fail():
    config = SyntheticConfig(length=200, covariate_weights={"schedule": 1.0}, missing_probability=0.0)
    batch = syn.generate_covariate_batch(config, seed=3, index=0, batch_size=8, n_covariates=2)
    covariates = np.concatenate([batch["past_covariates"], batch["future_covariates"]], axis=1)
    levels = [len(np.unique(np.round(c, 5))) for task in covariates for c in task]
    assert max(levels) <= 3  # affine-rescaled schedules keep their 2-3 levels
    with pytest.raises(InputError, match="unknown generator 'shifts'"):
        SyntheticConfig(covariate_weights={"shifts": 1.0})


@pytest.mark.parametrize("share, known", [(0.0, False), (1.0, True)])
def test_when_covariate_known_share_is_zero_or_one_then_every_covariate_is_past_only_or_known(share, known):
    config = SyntheticConfig(length=120, covariate_known_share=share)
    for index in range(4):
        batch = syn.generate_covariate_batch(config, seed=1, index=index, batch_size=4, n_covariates=3)
        assert batch["future_covariates"].shape[1] == (3 if known else 0)
        assert batch["past_covariates"].shape[1] == (0 if known else 3)
    with pytest.raises(InputError, match=r"covariate_known_share must be a probability in \[0, 1\]; got 1.5"):
        SyntheticConfig(covariate_known_share=1.5)


def _lagged_covariate_correlation(batch: dict) -> np.ndarray:
    """|corr(target, its one known-future covariate shifted by its lag)| per task."""
    target, covariate = batch["target"].astype(np.float64), batch["future_covariates"][:, 0].astype(np.float64)
    out = []
    for y, x, lag in zip(target, covariate, batch["lags"][:, 0], strict=True):
        shifted = x[: len(x) - lag] if lag else x
        out.append(abs(np.corrcoef(y[lag:], shifted)[0, 1]))
    return np.asarray(out)


def test_when_tasks_are_weak_then_their_covariates_explain_less_of_the_target():
    base = SyntheticConfig(length=200, missing_probability=0.0, covariate_known_share=1.0)
    weak = SyntheticConfig(length=200, missing_probability=0.0, covariate_known_share=1.0, weak_covariate_share=1.0)
    strong_batch = syn.generate_covariate_batch(base, seed=3, index=0, batch_size=64, n_covariates=1)
    weak_batch = syn.generate_covariate_batch(weak, seed=3, index=0, batch_size=64, n_covariates=1)

    np.testing.assert_array_equal(strong_batch["effect_scale"], 1.0)
    assert ((weak_batch["effect_scale"] >= 0.0) & (weak_batch["effect_scale"] < 0.3)).all()
    # Same covariate paths (drawn before the weak scale); the correlation ignores their different rescaling.
    assert np.median(_lagged_covariate_correlation(weak_batch)) < 0.5 * np.median(
        _lagged_covariate_correlation(strong_batch)
    )
    with pytest.raises(InputError, match=r"weak_covariate_share must be a probability in \[0, 1\]; got -0.1"):
        SyntheticConfig(weak_covariate_share=-0.1)


# ---- the shapes the first bundled model missed ------------------------------------------------------
def test_when_short_trend_series_are_cut_to_twenty_steps_then_most_follow_a_line_that_continues():
    batch = syn.generate_batch(only("short_trend"), 0, 0, 256).astype(np.float64)
    assert (batch > 0).all()
    log = np.log(batch[:, -26:])
    t = np.arange(20)
    fit = [np.polyfit(t, row[:20], 1, full=True) for row in log]
    r2 = np.array([1 - res[0] / ((row[:20] - row[:20].mean()) ** 2).sum() if len(res) else 1.0
                   for (_, res, *_), row in zip(fit, log)])
    assert np.median(r2) > 0.8  # twenty steps of a short yearly series: mostly a clear trend
    past, future = log[:, 19] - log[:, 0], log[:, -1] - log[:, 19]
    assert np.mean(np.sign(past) == np.sign(future)) > 0.65  # the trend goes on past the window
    assert np.mean(past > 0) > 0.55  # mostly growth, as in yearly economic series


def test_when_short_trend_rows_are_seasonal_then_their_growth_rate_repeats_every_four_or_twelve_steps():
    batch = syn.generate_batch(only("short_trend"), 0, 1, 256).astype(np.float64)
    growth = np.diff(np.log(batch), axis=1)
    growth -= growth.mean(axis=1, keepdims=True)

    def corr(lag):
        return (growth[:, lag:] * growth[:, :-lag]).mean(axis=1) / growth.var(axis=1)

    # a period-4 pattern correlates at lag 4 and anti-correlates at lag 2; smooth growth does the opposite
    seasonal = (corr(4) - corr(2) > 0.2) | (corr(12) - corr(6) > 0.2)
    assert 0.2 < seasonal.mean() < 0.7  # the 50% of rows with a quarterly or monthly pattern, the strong ones


def test_when_day_night_series_are_generated_then_nights_are_exactly_zero_at_the_same_hours_every_day():
    batch = syn.generate_batch(only("day_night"), 0, 0, 128).astype(np.float64)
    assert (batch >= 0).all()
    dark = (batch == 0).mean(axis=1)
    assert dark.min() > 0.2 and dark.max() < 0.8  # a night every day, never all night
    for row in batch:
        zero = row == 0
        agreement = max((zero[p:] == zero[:-p]).mean() for p in (24, 48, 96, 144, 288))
        assert agreement > 0.9  # the night falls at (nearly) the same phase of each day
    daily_peak = [row[: 576 // 48 * 48].reshape(-1, 48).max(axis=1) for row in batch]
    assert np.mean([peak.std() / peak.mean() > 0.05 for peak in daily_peak]) > 0.5  # weather varies by day
