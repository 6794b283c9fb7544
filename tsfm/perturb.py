"""Controlled perturbations of a context: what sensors and pipelines do to data in the field.

Each perturbation is a small function ``f(series, severity, rng) -> series`` that returns a
perturbed copy of a 1-D float array (NaN = missing) and never alters its input. The
``severity`` is in the perturbation's own unit (dB for noise, a share of the length for
missing values, ...), listed in :data:`PERTURBATIONS` with a grid of severities that stress
tests sweep. :func:`random_perturbation` draws one of them for noise-injection training.

Magnitudes (spikes, level shifts) are in units of the series' own spread, the standard
deviation of its observed values, so one severity means the same on every series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tsfm.errors import InputError

PerturbFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _checked(series: np.ndarray) -> np.ndarray:
    values = np.array(series, dtype=np.float64)  # a copy: inputs are never modified
    if values.ndim != 1:
        raise InputError(f"series must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).any():
        raise InputError(f"series has no finite values (length {values.size}); nothing to perturb")
    return values


def _share(value: float, name: str, upper_inclusive: bool = False) -> float:
    ok = 0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0
    if not ok:
        allowed = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise InputError(f"{name} must lie in {allowed}, got {value!r}")
    return float(value)


def spread(values: np.ndarray) -> float:
    """Standard deviation of the observed values; 1.0 for a constant series (so offsets stay visible)."""
    std = float(np.nanstd(values))
    return std if std > 0 else 1.0


def signal_power(values: np.ndarray) -> float:
    """Power of a series' variation: the variance of its observed values (level removed)."""
    return float(np.nanvar(values))


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR in dB of ``noisy`` against ``clean``: ``10 log10(var(clean) / mean((noisy - clean)^2))``.

    Only positions observed in both count.
    """
    both = np.isfinite(clean) & np.isfinite(noisy)
    noise = float(np.mean((noisy[both] - clean[both]) ** 2))
    return float(10.0 * np.log10(signal_power(clean[both]) / noise)) if noise > 0 else float("inf")


def add_noise(series: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise so that the signal-to-noise ratio is exactly ``snr_db``.

    The signal power is the variance of the observed values (a level does not count as
    signal). The drawn noise is rescaled so its empirical power over the observed values
    is ``signal_power / 10^(snr_db / 10)``: :func:`measured_snr_db` on the output returns
    ``snr_db``. A constant series is returned unchanged (it has no signal to measure against).
    """
    values = _checked(series)
    if not np.isfinite(snr_db):
        raise InputError(f"snr_db must be a finite number of decibels, got {snr_db!r}")
    observed = np.isfinite(values)
    power = signal_power(values)
    if power == 0 or observed.sum() < 2:
        return values
    noise = rng.standard_normal(int(observed.sum()))
    noise -= noise.mean()
    noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0) / np.mean(noise**2))
    values[observed] += noise
    return values


def _stretches(n: int, total: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` non-overlapping ``[start, end)`` stretches inside ``n`` positions covering ``total`` of them."""
    count = max(1, min(count, total))
    lengths = np.full(count, total // count)
    lengths[: total % count] += 1
    # place the stretches among the n - total kept positions: random gaps before each one
    gaps = np.sort(rng.integers(0, n - total + 1, size=count))
    out, shift = [], 0
    for gap, length in zip(gaps, rng.permutation(lengths)):
        start = int(gap) + shift
        out.append((start, start + int(length)))
        shift += int(length)
    return out


def drop_missing(series: np.ndarray, fraction: float, rng: np.random.Generator, stretches: int = 4) -> np.ndarray:
    """Set ``round(fraction * n)`` values to NaN, in up to ``stretches`` contiguous stretches.

    Stretches never overlap, so exactly that many positions become missing; at least one
    observed value is always kept.
    """
    values = _checked(series)
    _share(fraction, "fraction")
    n = values.size
    total = min(int(round(fraction * n)), n - 1)
    if total == 0:
        return values
    for start, end in _stretches(n, total, stretches, rng):
        values[start:end] = np.nan
    if not np.isfinite(values).any():  # only possible when the input already had gaps
        keep = int(np.flatnonzero(np.isfinite(np.asarray(series, dtype=np.float64)))[-1])
        values[keep] = float(np.asarray(series, dtype=np.float64)[keep])
    return values


def add_spikes(
    series: np.ndarray, rate: float, rng: np.random.Generator, magnitude: float = 5.0
) -> np.ndarray:
    """Add isolated spikes of ``±magnitude`` spreads at ``round(rate * n)`` random observed positions."""
    values = _checked(series)
    _share(rate, "rate", upper_inclusive=True)
    observed = np.flatnonzero(np.isfinite(values))
    count = int(round(rate * values.size))
    if count == 0:
        return values
    where = rng.choice(observed, size=min(count, observed.size), replace=False)
    signs = rng.choice([-1.0, 1.0], size=where.size)
    values[where] += signs * magnitude * spread(values)
    return values


def level_shift(
    series: np.ndarray, magnitude: float, rng: np.random.Generator, duration: float = 0.25
) -> np.ndarray:
    """Offset a stretch of ``duration * n`` steps by ``±magnitude`` spreads (a sensor offset, later fixed).

    The stretch ends before the last tenth of the series, so the most recent values stay
    clean and the forecast target, which is never perturbed, stays consistent with them.
    """
    values = _checked(series)
    n = values.size
    length = max(1, int(round(_share(duration, "duration") * n)))
    latest_end = max(length, int(0.9 * n))
    start = int(rng.integers(0, latest_end - length + 1))
    values[start : start + length] += rng.choice([-1.0, 1.0]) * magnitude * spread(values)
    return values


def stuck_sensor(series: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Flat-line a stretch of ``round(fraction * n)`` steps at the value where it starts (a frozen sensor)."""
    values = _checked(series)
    _share(fraction, "fraction")
    n = values.size
    length = int(round(fraction * n))
    if length < 2:
        return values
    start = int(rng.integers(0, n - length + 1))
    observed = np.flatnonzero(np.isfinite(values[: start + 1]))
    held = values[observed[-1]] if observed.size else np.nanmean(values)
    values[start : start + length] = held
    return values


def time_warp(series: np.ndarray, max_shift: float, rng: np.random.Generator) -> np.ndarray:
    """Warp the time axis smoothly: position ``t`` reads the series at ``t + d sin(pi t / (n - 1))``.

    ``|d| = max_shift`` steps (sign random) is the largest displacement, reached in the middle;
    both ends stay in place, so the last observation is unchanged. The warp is kept monotone
    (``|d| < (n - 1) / pi``). Values between samples are linearly interpolated; NaN spreads
    to the samples that read next to it.
    """
    values = _checked(series)
    n = values.size
    if n < 3 or max_shift == 0:
        return values
    d = min(abs(float(max_shift)), 0.95 * (n - 1) / np.pi) * rng.choice([-1.0, 1.0])
    t = np.arange(n, dtype=np.float64)
    source = np.clip(t + d * np.sin(np.pi * t / (n - 1)), 0, n - 1)
    left = np.floor(source).astype(int)
    right = np.minimum(left + 1, n - 1)
    weight = source - left
    return (1.0 - weight) * values[left] + weight * values[right]


def resample(series: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Keep every ``factor``-th value (aligned on the last one) and linearly interpolate the rest.

    Models a sensor logged at a coarser rate and up-sampled: detail shorter than ``factor``
    steps is lost. ``rng`` is unused (the perturbation is deterministic).
    """
    values = _checked(series)
    k = int(round(factor))
    if k < 1:
        raise InputError(f"factor must be a positive integer, got {factor!r}")
    if k == 1:
        return values
    n = values.size
    kept = np.arange(n - 1, -1, -k)[::-1]
    kept = kept[np.isfinite(values[kept])]
    if kept.size == 0:
        return values
    return np.interp(np.arange(n), kept, values[kept])


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation and the severities a stress test sweeps.

    Attributes
    ----------
    name
        Registry key, e.g. ``"missing"``.
    apply
        ``f(series, severity, rng) -> perturbed copy``.
    severities
        Grid of severities, mildest first.
    unit
        What the severity measures, for tables and plots.
    description
        One line for help texts.
    """

    name: str
    apply: PerturbFn
    severities: tuple[float, ...]
    unit: str
    description: str


PERTURBATIONS: dict[str, Perturbation] = {}


def register_perturbation(perturbation: Perturbation) -> Perturbation:
    """Add ``perturbation`` to :data:`PERTURBATIONS`; a duplicate name is rejected."""
    if perturbation.name in PERTURBATIONS:
        raise ValueError(f"perturbation {perturbation.name!r} is already registered")
    PERTURBATIONS[perturbation.name] = perturbation
    return perturbation


for _p in (
    Perturbation("noise", add_noise, (30.0, 20.0, 10.0, 5.0), "SNR dB", "additive Gaussian noise at a given SNR"),
    Perturbation("missing", drop_missing, (0.05, 0.1, 0.2, 0.4), "share missing", "stretches of missing values"),
    Perturbation("spikes", add_spikes, (0.01, 0.02, 0.05), "share of points", "isolated ±5-spread outliers"),
    Perturbation("level_shift", level_shift, (1.0, 2.0, 4.0), "spreads", "a temporary offset on a quarter"),
    Perturbation("stuck", stuck_sensor, (0.05, 0.1, 0.2), "share flat", "a flat-lined (frozen sensor) stretch"),
    Perturbation("time_warp", time_warp, (2.0, 4.0, 8.0), "max shift, steps", "smooth warp of the time axis"),
    Perturbation("resample", resample, (2.0, 4.0, 8.0), "factor", "coarser sampling, linearly up-sampled"),
):
    register_perturbation(_p)


def get_perturbation(name: str) -> Perturbation:
    """The registered perturbation ``name``; an unknown name lists the known ones."""
    if name not in PERTURBATIONS:
        raise InputError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]


def perturb_context(
    context: Sequence[np.ndarray], name: str, severity: float, seed: int = 0
) -> list[np.ndarray]:
    """Apply one perturbation at one severity to every series of a batch, reproducibly.

    Parameters
    ----------
    context
        Series, 1-D float arrays of any lengths (NaN = missing).
    name
        Key of :data:`PERTURBATIONS`.
    severity
        In the perturbation's unit (see its ``unit``).
    seed
        Seed of the random generator shared by the batch.

    Returns
    -------
    list[np.ndarray]
        Perturbed copies, same lengths as the inputs.
    """
    perturbation = get_perturbation(name)
    rng = np.random.default_rng(seed)
    return [perturbation.apply(np.asarray(s, dtype=np.float64), float(severity), rng) for s in context]


def random_perturbation(
    rng: np.random.Generator, series: np.ndarray, names: Sequence[str] | None = None
) -> tuple[np.ndarray, str, float]:
    """Draw a perturbation and a severity from its grid, uniformly, and apply it (augmentation).

    Parameters
    ----------
    rng
        Random generator of the training loop.
    series
        ``[n]`` 1-D float array.
    names
        Perturbations to draw from; default all of :data:`PERTURBATIONS`.

    Returns
    -------
    tuple[np.ndarray, str, float]
        The perturbed copy ``[n]``, the perturbation's name and the severity used.
    """
    pool = list(names) if names is not None else list(PERTURBATIONS)
    if not pool:
        raise InputError("names is empty: pass at least one perturbation name")
    perturbation = get_perturbation(pool[int(rng.integers(len(pool)))])
    severity = float(perturbation.severities[int(rng.integers(len(perturbation.severities)))])
    return perturbation.apply(np.asarray(series, dtype=np.float64), severity, rng), perturbation.name, severity


def perturb_windows(
    contexts: np.ndarray,
    share: float,
    seed: Sequence[int],
    names: Sequence[str] | None = None,
    rows: Sequence[int] | None = None,
) -> np.ndarray:
    """Noise-injection augmentation of a batch of training windows.

    Each row is perturbed with probability ``share`` by :func:`random_perturbation`, drawn
    from its own generator ``default_rng([*seed, row])``, so a row's fate depends only on the
    seed and its index in the batch, not on how the batch is split across processes.

    Parameters
    ----------
    contexts
        ``[n, length]`` windows, left-padded with NaN; the padding is kept as it is and only
        the observed part (from the first finite value on) is perturbed.
    share
        Probability in [0, 1] that a row is perturbed; 0 returns an unchanged copy.
    seed
        Integers that, with the row index, seed each row's generator (e.g. seed, step, micro).
    names
        Perturbations to draw from; default all of :data:`PERTURBATIONS`.
    rows
        Index of each row in the full batch (default ``0..n-1``), for per-process shards.

    Returns
    -------
    np.ndarray
        A perturbed copy, same shape and dtype as ``contexts``.
    """
    share = _share(share, "share", upper_inclusive=True)
    out = np.array(contexts, copy=True)
    if out.ndim != 2:
        raise InputError(f"contexts must be 2-D [n, length], got shape {out.shape}")
    indices = list(range(len(out))) if rows is None else [int(r) for r in rows]
    if len(indices) != len(out):
        raise InputError(f"rows has {len(indices)} entries for {len(out)} windows")
    for position, row in enumerate(indices):
        rng = np.random.default_rng([*(int(s) for s in seed), row])
        if share == 0.0 or rng.random() >= share:
            continue
        window = out[position]
        finite = np.flatnonzero(np.isfinite(window))
        if finite.size < 2:
            continue  # nothing to perturb
        start = finite[0]
        perturbed, _, _ = random_perturbation(rng, window[start:], names)
        out[position, start:] = perturbed.astype(out.dtype)
    return out


def check_augment(owner: str, share: float, names: Sequence[str] | None) -> None:
    """Validate the noise-injection settings of a training config (``owner`` names it in errors)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise InputError(f"{owner}.augment must be a probability in [0, 1], got {share!r}")
    if names is None:
        return
    if isinstance(names, str) or not all(isinstance(n, str) for n in names) or not names:
        raise InputError(f"{owner}.augment_perturbations must be None or a non-empty list of names, got {names!r}")
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown:
        raise InputError(f"{owner}.augment_perturbations has unknown name(s) {unknown}; known: {list(PERTURBATIONS)}")
