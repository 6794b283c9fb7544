"""Each perturbation does what it says, on a copy, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from tsfm import perturb
from tsfm.errors import InputError


def _series(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50.0 + 10.0 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)


@pytest.mark.parametrize("snr_db", [30.0, 10.0, 0.0])
def test_when_noise_is_added_then_snr_measured_on_output_matches(snr_db):
    clean = _series()
    noisy = perturb.add_noise(clean, snr_db, np.random.default_rng(1))
    assert perturb.measured_snr_db(clean, noisy) == pytest.approx(snr_db, abs=1e-9)
    assert not np.allclose(noisy, clean)


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.4])
def test_when_values_are_dropped_then_exactly_that_share_is_missing_in_stretches(fraction):
    clean = _series(500)
    out = perturb.drop_missing(clean, fraction, np.random.default_rng(2), stretches=3)
    missing = np.isnan(out)
    assert missing.sum() == round(fraction * 500)
    starts = np.flatnonzero(np.diff(np.r_[0, missing.astype(int)]) == 1)
    assert 1 <= starts.size <= 3
    np.testing.assert_array_equal(out[~missing], clean[~missing])


def test_when_spikes_are_added_then_that_many_points_move_by_the_magnitude():
    clean = _series(300)
    out = perturb.add_spikes(clean, 0.05, np.random.default_rng(3), magnitude=5.0)
    moved = np.abs(out - clean)
    changed = moved > 0
    assert changed.sum() == 15
    np.testing.assert_allclose(moved[changed], 5.0 * np.std(clean))


def test_when_level_shifts_then_one_stretch_is_offset_and_the_end_stays_clean():
    clean = _series(400)
    out = perturb.level_shift(clean, 2.0, np.random.default_rng(4))
    delta = out - clean
    changed = np.flatnonzero(delta != 0)
    assert changed.size == 100 and np.ptp(changed) == 99  # one contiguous quarter
    np.testing.assert_allclose(np.abs(delta[changed]), 2.0 * np.std(clean))
    assert changed.max() < 360


def test_when_sensor_is_stuck_then_a_stretch_is_flat():
    clean = _series(200)
    out = perturb.stuck_sensor(clean, 0.1, np.random.default_rng(5))
    changed = np.flatnonzero(out != clean)
    assert 18 <= changed.size <= 20  # the first value of the stretch keeps its own value
    assert np.ptp(out[changed]) == 0


def test_when_time_is_warped_then_ends_stay_and_middle_moves_by_the_shift():
    t = np.arange(201, dtype=float)  # a ramp reads back its own source positions
    out = perturb.time_warp(t, 8.0, np.random.default_rng(6))
    assert out[0] == 0 and out[-1] == 200
    assert abs(out[100] - 100) == pytest.approx(8.0)
    assert np.all(np.diff(out) > 0)


def test_when_resampled_then_kept_points_match_and_the_rest_is_linear():
    clean = _series(97)
    out = perturb.resample(clean, 4, np.random.default_rng(0))
    np.testing.assert_allclose(out[96::-4], clean[96::-4])
    np.testing.assert_allclose(out[94], 0.5 * (clean[92] + clean[96]))


@pytest.mark.parametrize("name", list(perturb.PERTURBATIONS))
def test_when_any_perturbation_runs_then_input_is_untouched_and_seed_reproduces(name):
    clean = _series(150)
    before = clean.copy()
    severity = perturb.PERTURBATIONS[name].severities[-1]
    first = perturb.perturb_context([clean], name, severity, seed=7)[0]
    second = perturb.perturb_context([clean], name, severity, seed=7)[0]
    np.testing.assert_array_equal(clean, before)
    np.testing.assert_array_equal(first, second)
    assert first.shape == clean.shape and not np.array_equal(first, clean, equal_nan=True)


def test_when_sampling_randomly_then_draws_come_from_the_registry_grids():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        out, name, severity = perturb.random_perturbation(rng, _series(100))
        assert severity in perturb.PERTURBATIONS[name].severities and out.shape == (100,)
        seen.add(name)
    assert seen == set(perturb.PERTURBATIONS)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: perturb.drop_missing(_series(), 1.0, np.random.default_rng()), "fraction must lie in"),
        (lambda: perturb.add_spikes(_series(), -0.1, np.random.default_rng()), "rate must lie in"),
        (lambda: perturb.add_noise(_series(), float("nan"), np.random.default_rng()), "snr_db must be"),
        (lambda: perturb.resample(_series(), 0, np.random.default_rng()), "factor must be a positive"),
        (lambda: perturb.perturb_context([_series()], "dust", 1.0), "unknown perturbation 'dust'"),
        (lambda: perturb.add_noise(np.full(5, np.nan), 10.0, np.random.default_rng()), "no finite values"),
    ],
)
def test_when_arguments_are_bad_then_clear_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_when_windows_are_augmented_then_a_share_changes_and_the_padding_stays():
    windows = np.tile(np.sin(np.arange(96) / 3.0), (400, 1)).astype(np.float32)
    windows[:, :20] = np.nan
    out = perturb.perturb_windows(windows, 0.25, (7,))
    changed = ~np.all(np.isclose(out, windows, equal_nan=True), axis=1)
    assert 0.18 < changed.mean() < 0.32  # binomial(400, 0.25): +-3.5 sd
    assert np.isnan(out[:, :20]).all() and out.dtype == np.float32
    assert np.array_equal(perturb.perturb_windows(windows, 0.0, (7,)), windows, equal_nan=True)
    halves = [perturb.perturb_windows(windows[r::2], 0.25, (7,), rows=range(r, 400, 2)) for r in (0, 1)]
    assert np.allclose(np.stack(halves, 1).reshape(400, 96), out, equal_nan=True)


def test_when_the_augmentation_share_is_bad_then_the_error_names_it():
    with pytest.raises(InputError, match=r"share must lie in \[0, 1\], got 2"):
        perturb.perturb_windows(np.zeros((2, 8)), 2, (0,))
