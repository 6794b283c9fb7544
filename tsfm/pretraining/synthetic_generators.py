"""The named series generators of the synthetic corpus, and the vectorised blocks they share.

Every generator maps ``(rng, n, config)`` to ``n`` series ``[n, config.length]`` and works on the
whole group of rows at once (no Python loop over series or time steps), so a batch costs a few
milliseconds. Registration is explicit: ``@register(name, rescale)``, where ``rescale`` tells the
scale augmentation what it may do to the generator's output without breaking it (``"affine"``:
standardise, shift and scale; ``"scale"``: a positive factor only, so exact zeros stay zeros;
``"none"``: leave alone, e.g. integer demand).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tsfm.pretraining.synthetic_kernels import choose_periods, random_kernel_series, sinusoid_sum

if TYPE_CHECKING:
    from tsfm.pretraining.synthetic import SyntheticConfig

RESCALE_MODES = ("affine", "scale", "none")


@dataclass(frozen=True)
class Generator:
    """A registered generator: ``fn(rng, n, config) -> [n, length]`` and its rescale mode."""

    fn: Callable[[np.random.Generator, int, SyntheticConfig], np.ndarray]
    rescale: str


GENERATORS: dict[str, Generator] = {}


def register(name: str, rescale: str = "affine") -> Callable:
    """Register a generator under ``name``; duplicate names and unknown modes are errors."""
    if rescale not in RESCALE_MODES:
        raise ValueError(f"rescale must be one of {RESCALE_MODES}; got {rescale!r}")

    def decorate(fn: Callable) -> Callable:
        if name in GENERATORS:
            raise ValueError(f"generator {name!r} is already registered")
        GENERATORS[name] = Generator(fn, rescale)
        return fn

    return decorate


# ---- shared building blocks -------------------------------------------------------------------------
def log_uniform(rng: np.random.Generator, low: float, high: float, size: Any) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def standardize(x: np.ndarray) -> np.ndarray:
    """Rows (last axis) with mean 0 and standard deviation 1; constant rows become 0."""
    sd = x.std(axis=-1, keepdims=True)
    return (x - x.mean(axis=-1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)


def ar_filter(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y[:, t] = coef * y[:, t-1] + x[:, t]`` with ``y[:, -1] = 0``; ``coef [n]`` (may be complex).

    Blocked, because a loop over all L time steps costs L interpreter steps: the recursion runs
    inside blocks of about ``sqrt(L)`` steps (all blocks at once), then carries each block's end
    state into the next block, about ``2 sqrt(L)`` vector steps in all.
    """
    n, length = x.shape
    dtype = np.result_type(coef, x)
    m = math.isqrt(max(length - 1, 0)) + 1
    blocks = -(-length // m)
    padded = np.zeros((n, blocks * m), dtype=dtype)
    padded[:, :length] = x
    local = padded.reshape(n, blocks, m).transpose(0, 2, 1).copy()  # [n, m, blocks]: t = block * m + i
    step = np.asarray(coef, dtype=dtype)[:, None]
    for i in range(1, m):  # the recursion inside every block, from a zero state
        local[:, i] += step * local[:, i - 1]
    jump = step[:, 0] ** m
    state = np.zeros((n, blocks), dtype=dtype)  # the state just before each block
    for b in range(1, blocks):
        state[:, b] = local[:, -1, b - 1] + jump * state[:, b - 1]
    local += state[:, None, :] * step[:, :, None] ** np.arange(1, m + 1)[None, :, None]  # coef^(i+1) * state
    return local.transpose(0, 2, 1).reshape(n, blocks * m)[:, :length]


def ar1_noise(rng: np.random.Generator, phi: np.ndarray, sigma: np.ndarray, length: int) -> np.ndarray:
    """AR(1) noise ``[n, length]``, coefficient ``phi [n]``, innovation scale ``sigma [n]``."""
    return ar_filter(phi, sigma[:, None] * rng.standard_normal((len(phi), length)))


def jumps(rng: np.random.Generator, expected: np.ndarray, size: np.ndarray, length: int) -> np.ndarray:
    """``[n, length]``: zero except at random events (``expected[i]`` per row), Gaussian sizes ``size[i]``."""
    events = rng.random((len(expected), length)) < (expected / length)[:, None]
    out = np.zeros(events.shape)
    out[events] = rng.standard_normal(events.sum()) * size[np.nonzero(events)[0]]
    return out


def stretches(rng: np.random.Generator, count: np.ndarray, max_len: int, length: int) -> np.ndarray:
    """Boolean ``[n, length]``: ``count[i]`` (at most 3) random stretches of 1..max_len samples."""
    n = len(count)
    start = rng.integers(0, length, (n, 3))[:, :, None]
    span = rng.integers(1, max(max_len, 1) + 1, (n, 3))[:, :, None]
    t = np.arange(length)
    inside = (t >= start) & (t < start + span) & (np.arange(3)[None, :] < count[:, None])[:, :, None]
    return inside.any(axis=1)


def periodic_signal(rng: np.random.Generator, periods: np.ndarray, amplitude: np.ndarray,
                    n_harmonics: np.ndarray, length: int, max_harmonics: int = 6) -> np.ndarray:
    """Smooth random periodic shapes ``[n, length]``, summed over the columns of ``periods [n, P]``.

    Each period gets ``n_harmonics[i]`` harmonics with random phases and amplitudes falling as
    ``amplitude / k``.
    """
    n = len(periods)
    k = np.arange(1, max_harmonics + 1)
    omega = 2 * np.pi * k / periods[:, :, None]  # [n, P, H]
    magnitude = amplitude[:, :, None] / k * (k <= n_harmonics[:, None, None])
    coef = magnitude * (rng.standard_normal(omega.shape) + 1j * rng.standard_normal(omega.shape))
    return sinusoid_sum(omega.reshape(n, -1), coef.reshape(n, -1), length).astype(np.float64)


# ---- generators ------------------------------------------------------------------------------------
@register("kernel_synth")
def kernel_synth(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """KernelSynth-style: a random ``+`` / ``*`` expression of 1..max_kernels of ``config.kernels``."""
    return random_kernel_series(rng, n, config.length, config.kernels, config.max_kernels)


@register("trend_shifts")
def trend_shifts(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """A linear or curved trend with kinks (slope changes) and level shifts, plus AR(1) noise."""
    length = config.length
    t = np.arange(length) / length
    curve = rng.normal(0, 0.7, (n, 1)) * (rng.random((n, 1)) < 0.3)
    trend = rng.normal(0, 1, (n, 1)) * t + curve * t**2
    slope_changes = np.cumsum(jumps(rng, rng.uniform(0, 3, n), np.full(n, 2.0), length), axis=1) / length
    shifts = jumps(rng, rng.uniform(0.5, 5, n), rng.uniform(0.3, 2.0, n), length)
    noise = ar1_noise(rng, rng.uniform(0, 0.9, n), log_uniform(rng, 0.03, 0.4, n), length)
    return trend + np.cumsum(slope_changes + shifts, axis=1) + noise


_SEASONAL_GRIDS = np.array([  # (primary, secondary period); secondary 0 = none
    (24, 168), (24, 168), (48, 336), (96, 672), (288, 2016), (60, 1440),
    (7, 365.25), (7, 30.44), (12, 0), (52.18, 0), (4, 0), (24, 0), (168, 0),
])


@register("multi_seasonal")
def multi_seasonal(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Calendar seasonalities (daily + weekly on an hourly grid, weekly + yearly on a daily one, ...).

    In 15% of the series the primary period is random. With probability 0.3 the secondary season
    modulates the primary one (a daily profile whose amplitude depends on the weekday) instead of
    adding to it. Plus a slow trend and AR(1) noise.
    """
    length = config.length
    grid = _SEASONAL_GRIDS[rng.integers(0, len(_SEASONAL_GRIDS), n)].copy()
    custom = rng.random(n) < 0.15
    grid[custom, 0] = log_uniform(rng, 3.0, max(4.0, length / 3), custom.sum())
    has_second = grid[:, 1] > 0
    periods = np.where(grid > 0, grid, 1.0)
    amplitude = np.stack([np.ones(n), rng.uniform(0.2, 1.0, n) * has_second], axis=1)
    harmonics = rng.integers(1, 7, n)
    first = periodic_signal(rng, periods[:, :1], amplitude[:, :1], harmonics, length)
    second = periodic_signal(rng, periods[:, 1:], amplitude[:, 1:], harmonics, length)
    scale = first.std(axis=1, keepdims=True) + 1e-12
    interact = ((rng.random(n) < 0.3) & has_second)[:, None]
    season = np.where(interact, first * (1 + 0.5 * np.tanh(second / scale)), first + second)
    trend = rng.normal(0, 0.5, (n, 1)) * np.arange(length) / length * scale
    noise = ar1_noise(rng, rng.uniform(0, 0.8, n), log_uniform(rng, 0.02, 0.5, n), length) * scale
    return season + trend + noise


@register("intermittent", rescale="none")
def intermittent(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Croston-like demand: mostly exact zeros; when demand occurs, an integer size 1 + Gamma-Poisson.

    The occurrence probability (0.03..0.5) follows a seasonal pattern in 30% of the series.
    Values stay non-negative integers, so the scale augmentation leaves these series alone.
    """
    length = config.length
    prob = log_uniform(rng, 0.03, 0.5, (n, 1))
    period = choose_periods(rng, n, length, 0.8)[:, None]
    phase = 2 * np.pi * np.arange(length) / period + rng.uniform(0, 7, (n, 1))
    seasonal = (rng.random((n, 1)) < 0.3) * 0.8 * np.sin(phase)
    occurs = rng.random((n, length)) < prob * (1 + seasonal)
    rows = np.nonzero(occurs)[0]
    mean, shape = log_uniform(rng, 0.3, 50.0, n)[rows], log_uniform(rng, 0.5, 5.0, n)[rows]
    out = np.zeros((n, length))
    out[occurs] = 1 + rng.poisson(rng.gamma(shape, mean / shape))
    return out


@register("regime_switch")
def regime_switch(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Piecewise regimes (2..4 per series, switching 1..6 times) that differ in level, volatility and
    persistence; in 40% of the series the level moves to its new value gradually.

    Persistence: each series has a calm and a persistent AR(1) path driven by the same shocks, and
    each regime follows one of them.
    """
    length, n_regimes, max_segments = config.length, 4, 8
    switches = rng.random((n, length)) < (rng.uniform(1, 6, n) / length)[:, None]
    segment = np.minimum(np.cumsum(switches, axis=1), max_segments - 1)
    regime_of_segment = (rng.random((n, max_segments)) * rng.integers(2, n_regimes + 1, (n, 1))).astype(int)
    regime = np.take_along_axis(regime_of_segment, segment, axis=1)  # [n, L]
    level = np.take_along_axis(rng.normal(0, 2, (n, n_regimes)), regime, axis=1)
    sigma = np.take_along_axis(log_uniform(rng, 0.05, 1.0, (n, n_regimes)), regime, axis=1)
    persistent = np.take_along_axis(rng.random((n, n_regimes)) < 0.5, regime, axis=1)
    phi = np.stack([rng.uniform(-0.3, 0.5, n), rng.uniform(0.7, 0.98, n)], axis=1).reshape(-1)
    shocks = np.repeat(rng.standard_normal((n, length)), 2, axis=0)
    paths = ar_filter(phi, shocks).reshape(n, 2, length)
    noise = np.where(persistent, paths[:, 1], paths[:, 0]) * sigma
    smooth = np.where(rng.random(n) < 0.4, 0.9, 0.0)
    return ar_filter(smooth, (1 - smooth)[:, None] * level) + noise


def _setpoint_response(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Set-point steps followed by a first- or second-order lag (a controlled process variable)."""
    setpoint = np.cumsum(jumps(rng, rng.uniform(1, 8, n), np.ones(n), length), axis=1)
    lag = rng.uniform(0.5, 0.97, n)
    response = ar_filter(lag, (1 - lag)[:, None] * setpoint)
    second = rng.random((n, 1)) < 0.5
    return np.where(second, ar_filter(lag, (1 - lag)[:, None] * response), response)


def _clipped_ramps(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Ramps up and down between hard limits (trapezoids: batch cycles, tank levels)."""
    phase = np.arange(length) / log_uniform(rng, max(4.0, length / 8), max(5.0, 1.5 * length), (n, 1))
    phase = (phase + rng.random((n, 1))) % 1.0
    rise = rng.uniform(0.1, 0.9, (n, 1))
    wave = np.where(phase < rise, phase / rise, (1 - phase) / (1 - rise))
    return np.clip(rng.uniform(1.0, 3.0, (n, 1)) * (wave - 0.5) + 0.5, 0.0, 1.0)


def _logistic_ramps(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """One to three S-curves (adoption, warm-up, capacity build-out) of random height and width."""
    t = np.arange(length)
    center = rng.uniform(0, length, (n, 3, 1))
    width = log_uniform(rng, max(length / 100, 0.5), max(length / 5, 1.0), (n, 3, 1))
    height = rng.normal(1.0, 1.0, (n, 3, 1)) * (np.arange(3)[None, :, None] < rng.integers(1, 4, (n, 1, 1)))
    return (height / (1 + np.exp(-np.clip((t - center) / width, -50, 50)))).sum(axis=1)


@register("saturation_ramp")
def saturation_ramp(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Set-point steps, clipped ramps or logistic ramps; 40% saturate at a capacity; sensor noise."""
    length = config.length
    kind = rng.integers(0, 3, n)
    out = np.empty((n, length))
    for code, make in enumerate((_setpoint_response, _clipped_ramps, _logistic_ramps)):
        rows = np.flatnonzero(kind == code)
        out[rows] = make(rng, rows.size, length)
    rank = (rng.uniform(0.7, 0.95, (n, 1)) * (length - 1)).astype(int)
    cap = np.take_along_axis(np.sort(out, axis=1), rank, axis=1)  # a per-row upper quantile
    out = np.where(rng.random((n, 1)) < 0.4, np.minimum(out, cap), out)
    spread = out.std(axis=1, keepdims=True) + 1e-3
    return out + log_uniform(rng, 0.003, 0.1, (n, 1)) * spread * rng.standard_normal((n, length))


@register("schedule")
def schedule(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Operating schedules: blocks of 4 to 48 steps, each at one of 2-3 levels (shifts, batches, set-points).

    What plants know in advance and what drives their signals; its future cannot be read off its
    past, so a model can only forecast a target it drives by reading the schedule itself.
    """
    length = config.length
    out = np.empty((n, length), dtype=np.float32)
    for i in range(n):
        blocks = rng.integers(4, 49, size=length // 4 + 1)
        levels = rng.normal(size=int(rng.integers(2, 4)))
        out[i] = np.repeat(levels[rng.integers(0, len(levels), size=len(blocks))], blocks)[:length]
    return out


@register("ar")
def ar(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """AR(p), p <= 6, with random stable coefficients; 15% integrated once (ARIMA(p,1,0) with drift).

    Stable by construction: the AR polynomial is drawn through its roots (up to two complex pairs,
    quasi-cycles, and up to two real roots), all inside the unit circle. By partial fractions,
    ``1 / prod_i (1 - r_i B) = sum_i A_i / (1 - r_i B)`` with ``A_i = prod_{j != i} r_i / (r_i - r_j)``,
    so the process is a weighted sum of AR(1) filters of the same shocks (a conjugate pair gives
    twice the real part of one of them). 100 steps of burn-in.
    """
    length, burn = config.length, 100
    pair_on, real_on = rng.random((n, 2)) < 0.5, rng.random((n, 2)) < 0.6
    real_on[:, 0] |= ~(pair_on.any(axis=1) | real_on[:, 1])  # at least one root
    pairs = rng.uniform(0.5, 0.98, (n, 2)) * np.exp(1j * rng.uniform(0.05, np.pi - 0.05, (n, 2)))
    reals = rng.uniform(-0.9, 0.98, (n, 2)) + 0j
    roots = np.concatenate([pairs, reals, pairs.conj()], axis=1)  # [n, 6]; the first four are filtered
    active = np.concatenate([pair_on, real_on, pair_on], axis=1)
    others = active[:, None, :] & ~np.eye(6, dtype=bool)  # [n, i, j]: j active and j != i
    ratio = roots[:, :, None] / np.where(others, roots[:, :, None] - roots[:, None, :], 1.0)
    weight = np.where(others, ratio, 1.0).prod(axis=2)[:, :4] * active[:, :4] * np.array([2, 2, 1, 1])
    shocks = rng.standard_normal((n, length + burn))
    row, col = np.nonzero(active[:, :4])
    paths = ar_filter(roots[row, col], shocks[row])  # [n_active, length + burn]
    x = np.zeros((n, length + burn))
    np.add.at(x, row, (weight[row, col, None] * paths).real)
    x = x[:, burn:]
    integrated = rng.random((n, 1)) < 0.15
    drift = rng.normal(0, 0.2, (n, 1)) * x.std(axis=1, keepdims=True)
    return np.where(integrated, np.cumsum(x + drift, axis=1), x)


@register("spikes_dropouts", rescale="scale")
def spikes_dropouts(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """A positive seasonal signal with outliers (80% upward spikes) and stretches of exact zeros.

    Zeros model outages or sensor dropouts; missing values (NaN) come from the shared missing-value
    step. Only a positive scale factor is applied afterwards, so the zeros stay zeros.
    """
    length = config.length
    periods = choose_periods(rng, n, length, 0.8)[:, None]
    season = standardize(periodic_signal(rng, periods, np.ones((n, 1)), rng.integers(1, 4, n), length))
    noise = ar1_noise(rng, rng.uniform(0, 0.7, n), rng.uniform(0.02, 0.2, n), length)
    out = np.maximum(1 + rng.uniform(0.05, 0.5, (n, 1)) * season + noise, 0.0)
    spikes = rng.random((n, length)) < log_uniform(rng, 0.002, 0.03, (n, 1))
    count = int(spikes.sum())
    up = rng.random(count) < 0.8
    out[spikes] *= np.where(up, 1 + np.exp(rng.normal(0.5, 0.7, count)), rng.uniform(0, 0.5, count))
    out[stretches(rng, rng.integers(0, 4, n), max(1, length // 15), length)] = 0.0
    return out


def _circular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between phases in [0, 1) on the circle (0.9 and 0.1 are 0.2 apart)."""
    d = np.abs(a - b)
    return np.minimum(d, 1 - d)


@register("repeated_profile", rescale="scale")
def repeated_profile(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """A sharp daily-load-like profile repeated almost exactly, cycle after cycle.

    The profile is 1..5 bumps (narrow peaks to broad plateaus) on a base level; in 30% of the rows
    the signal is exactly zero outside an active window of the cycle (day/night, shifts). Half the
    rows add a day-of-week factor per cycle (period ``7 * p``), 40% a slow drift of the amplitude,
    and the noise is small (0.2-5% of the spread). Smooth harmonics (``clean_seasonal``) cannot make
    these shapes, and many real hourly series repeat such a cycle so closely that a forecaster must
    copy the last cycle rather than smooth it. Non-negative; only a positive scale is applied later.
    """
    length = config.length
    period = np.round(choose_periods(rng, n, length, 0.8))[:, None]
    phase = (np.arange(length)[None, :] % period) / period  # [n, L] in [0, 1)
    bumps = 5
    centre, width = rng.random((n, bumps, 1)), log_uniform(rng, 0.01, 0.25, (n, bumps, 1))
    height = rng.uniform(0.2, 1.0, (n, bumps, 1))
    height = height * (np.arange(bumps)[None, :, None] < rng.integers(1, bumps + 1, (n, 1, 1)))
    distance = _circular_distance(phase[:, None, :], centre)
    profile = rng.uniform(0.0, 1.0, (n, 1)) + (height * np.exp(-0.5 * (distance / width) ** 2)).sum(axis=1)
    cycle = np.arange(length)[None, :] // period  # [n, L]
    weekday = np.where(rng.random((n, 1)) < 0.5, rng.uniform(0.6, 1.2, (n, 7)), 1.0)
    profile = profile * np.take_along_axis(weekday, (cycle % 7).astype(np.int64), axis=1)
    drift = np.exp(rng.normal(0, 0.15, (n, 1)) * standardize(ar1_noise(rng, np.full(n, 0.995), np.ones(n), length)))
    profile = np.where(rng.random((n, 1)) < 0.4, profile * drift, profile)
    active = _circular_distance(phase, rng.random((n, 1))) < rng.uniform(0.15, 0.4, (n, 1))
    profile = np.where((rng.random((n, 1)) < 0.3) & ~active, 0.0, profile)
    noise = log_uniform(rng, 0.002, 0.05, (n, 1)) * profile.std(axis=1, keepdims=True)
    noise = noise * rng.standard_normal((n, length))
    return np.maximum(profile + np.where(profile > 0, noise, 0.0), 0.0)


@register("clean_seasonal")
def clean_seasonal(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Warm-up curriculum: one smooth period (1..3 harmonics) plus small noise; 20% add a weaker
    second period, 30% a slight trend."""
    length = config.length
    periods = np.stack([choose_periods(rng, n, length, 0.7), choose_periods(rng, n, length, 0.7)], axis=1)
    amplitude = np.stack([np.ones(n), rng.uniform(0.1, 0.5, n) * (rng.random(n) < 0.2)], axis=1)
    season = standardize(periodic_signal(rng, periods, amplitude, rng.integers(1, 4, n), length, 3))
    trend = rng.normal(0, 0.5, (n, 1)) * (rng.random((n, 1)) < 0.3) * np.arange(length) / length
    return season + trend + rng.uniform(0, 0.1, (n, 1)) * rng.standard_normal((n, length))


@register("short_trend", rescale="scale")
def short_trend(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Yearly or quarterly economic series: persistent growth that bends slowly, seen over a few dozen steps.

    The log level integrates a growth rate that follows an AR(1) (persistence 0.85-0.99) around a
    drift of -3..+8% per step, with small level noise, so any window of 10-60 steps (what an M1
    yearly or M4 quarterly series holds) shows a clear, mostly upward trend that the forecast
    should extend (and, in 30% of the rows, damp: the growth decays to 0). 40% of the rows add a
    quarterly pattern (period 4, 1-15% of the level), 10% a monthly one (period 12). The trainer's
    ``short_context_share`` then shows them through short histories. Positive; only a positive
    scale is applied later (the level's growth, not its offset, is the signal).
    """
    length = config.length
    drift = np.where(rng.random(n) < 0.8, log_uniform(rng, 0.005, 0.08, n), -log_uniform(rng, 0.005, 0.03, n))
    persistence = rng.uniform(0.85, 0.99, n)
    damped = rng.random(n) < 0.3
    impulse = log_uniform(rng, 0.002, 0.02, (n, 1)) * rng.standard_normal((n, length))
    impulse[:, 0] += np.where(damped, 3 * drift, 0.0)  # a damped row starts fast and slows down
    growth = np.where(damped, 0.0, drift)[:, None] + ar_filter(persistence, impulse)
    growth = np.clip(growth, -0.3, 0.3)  # no step moves the level by more than e^0.3
    level = np.cumsum(growth, axis=1)
    level -= level.max(axis=1, keepdims=True)  # the largest value is 1: no overflow over long rows
    period = np.where(rng.random(n) < 0.8, 4, 12)[:, None]
    seasonal = (rng.random((n, 1)) < 0.5) * log_uniform(rng, 0.01, 0.15, (n, 1))
    pattern = np.take_along_axis(rng.normal(0, 1, (n, 12)), np.arange(length)[None, :] % period, axis=1)
    noise = log_uniform(rng, 0.002, 0.03, (n, 1)) * rng.standard_normal((n, length))
    return np.exp(np.maximum(level + seasonal * pattern + noise, -60.0))


@register("day_night", rescale="scale")
def day_night(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Solar-like on/off cycles: exactly zero every night, a daytime bell scaled by the weather of the day.

    The day has ``p`` steps (24 hourly, 48 half-hourly, 96 quarter-hourly, 144 ten-minute or 288
    five-minute), of which 30-70% are daylight (drifting slowly over the days). Daylight follows
    ``sin(pi x) ** k`` (``k`` 1-2.5, ``x`` the position within daylight); 25% of the rows are
    plateaus instead (a plant or machine that runs in the day shift: fast ramps, flat top). Each
    day gets a clear-sky factor (AR(1) across days, 0.05-1) and, on cloudy days, fast multiplicative
    flicker. Non-negative with exact zeros, so only a positive scale is applied later.
    """
    length = config.length
    period = np.array([24, 24, 48, 48, 96, 144, 288])[rng.integers(0, 7, n)][:, None]
    t = np.arange(length)[None, :]
    day = t // period  # [n, L]
    days = int(day.max()) + 1
    daylight = rng.uniform(0.3, 0.7, (n, 1)) + rng.uniform(-0.1, 0.1, (n, 1)) * np.sin(
        2 * np.pi * day / rng.uniform(20, 365, (n, 1)))
    x = ((t % period) / period - rng.uniform(0.15, 0.35, (n, 1))) / daylight  # 0..1 in daylight
    lit = (x > 0) & (x < 1)
    bell = np.sin(np.pi * np.clip(x, 0, 1)) ** rng.uniform(1.0, 2.5, (n, 1))
    plateau = np.clip(np.minimum(x, 1 - x) * rng.uniform(5, 20, (n, 1)), 0, 1)
    shape = np.where(rng.random((n, 1)) < 0.25, plateau, bell)
    weather = ar_filter(rng.uniform(0.3, 0.9, n), rng.normal(0, 0.3, (n, days)))
    clear = np.clip(rng.uniform(0.6, 1.0, (n, 1)) + weather, 0.05, 1.0)
    clear_day = np.take_along_axis(clear, day, axis=1)
    flicker = np.exp(ar1_noise(rng, rng.uniform(0.3, 0.9, n), rng.uniform(0.05, 0.3, n), length))
    flicker = np.where(clear_day < 0.7, flicker, 1.0)
    return np.where(lit, shape * clear_day * flicker, 0.0)
