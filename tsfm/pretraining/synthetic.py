"""Synthetic pretraining corpus: streamed series that depend only on a seed and a batch index.

Synthetic series cannot hold an evaluation set (the real ones of :mod:`tsfm.pretraining.corpus`
are screened for that). :func:`generate_batch` is a pure function of ``(config, seed, index,
batch_size)``: a trainer that resumes at step ``index``
sees exactly the batch it would have seen, and the corpus never has to exist in memory or on disk.

Each row of a batch comes from one generator, drawn by :attr:`SyntheticConfig.weights`
(:mod:`tsfm.pretraining.synthetic_generators`):

- ``kernel_synth``: KernelSynth-style series, a random ``+`` / ``*`` expression of 1 to
  ``max_kernels`` base kernels (periodic, RBF, rational quadratic, linear, white noise), sampled
  by the fast approximate sampler of :mod:`tsfm.pretraining.synthetic_kernels` (exact covariance,
  not Gaussian where the expression has a product; see there);
- ``trend_shifts``, ``multi_seasonal``, ``intermittent``, ``regime_switch``, ``saturation_ramp``,
  ``ar``, ``spikes_dropouts`` and ``clean_seasonal`` (the warm-up curriculum): industrial-looking
  processes; ``repeated_profile`` and ``schedule``;
- ``short_trend`` (yearly/quarterly growth seen through short histories) and ``day_night``
  (solar-like on/off cycles): the shapes the first bundled models missed.

Then a share of rows is replaced by a TSMixup combination, every row gets a random scale and
offset (levels from about 1e-2 to 1e5, some strictly positive, some crossing zero), and a share
of rows gets missing values (NaN).

Chronos-2 tasks: :func:`generate_covariate_batch` (targets driven by covariates) and
:func:`generate_group_batch` (groups of series that share latent factors).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.config_io import JsonConfig
from tsfm.errors import InputError
from tsfm.pretraining.synthetic_generators import GENERATORS as _REGISTRY
from tsfm.pretraining.synthetic_generators import ar_filter, log_uniform, standardize, stretches
from tsfm.pretraining.synthetic_kernels import (
    COMMON_PERIODS,
    KERNELS,
    KernelExpr,
    KernelLeaf,
    kernel_matrix,
    sample_kernel_exact,
    sample_kernel_fast,
)

__all__ = [
    "COMMON_PERIODS", "DEFAULT_WEIGHTS", "GENERATORS", "KERNELS", "MAX_LAG", "RESPONSES",
    "KernelExpr", "KernelLeaf", "SyntheticConfig", "generate_batch", "generate_covariate_batch",
    "generate_group_batch", "iter_series", "kernel_matrix", "mean_scale", "sample_kernel_exact",
    "sample_kernel_fast", "tsmixup", "write_arrow",
]

GENERATORS: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_WEIGHTS: dict[str, float] = {
    "kernel_synth": 0.30, "multi_seasonal": 0.14, "ar": 0.10, "trend_shifts": 0.08,
    "regime_switch": 0.08, "clean_seasonal": 0.08, "intermittent": 0.08,
    "saturation_ramp": 0.07, "spikes_dropouts": 0.07,
}
_STREAM_CHUNK = 256  # rows per generate_batch call behind iter_series and write_arrow
_COVARIATE_STREAM = 0xC0FA  # salts: covariate and group tasks never reuse the univariate stream
_GROUP_STREAM = 0x6B0F
MAX_LAG = 12  # largest lag of a covariate effect in generate_covariate_batch
RESPONSES: tuple[str, ...] = ("lagged_linear", "threshold", "multiplicative")
_COVARIATE_SOURCES = ("multi_seasonal", "clean_seasonal", "saturation_ramp", "ar", "kernel_synth",
                      "regime_switch", "trend_shifts", "intermittent")
_OWN_SOURCES = ("ar", "multi_seasonal", "clean_seasonal", "trend_shifts", "kernel_synth")


# ---- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticConfig(JsonConfig):
    """What the synthetic corpus looks like; round-trips through JSON with ``to_dict``/``from_dict``.

    Parameters
    ----------
    length
        Samples per generated series (at least 2). The trainer cuts ``context + horizon`` windows
        out of each series.
    weights
        Generator name -> non-negative relative weight (the share of rows it produces). Names not
        listed get weight 0. Known names: :data:`GENERATORS`.
    kernels
        Base kernels that ``kernel_synth`` may draw, a subset of :data:`KERNELS`.
    max_kernels
        Largest number of base kernels in one ``kernel_synth`` expression (1 to ``max_kernels``).
    mixup_probability
        Share of rows replaced by a TSMixup combination of 1 to ``mixup_max_components`` rows.
    mixup_max_components
        Largest number of series in one TSMixup combination.
    missing_probability
        Share of rows that get missing values (NaN): scattered points and 0-3 gaps.
    covariate_weights
        Generator name -> relative weight of the covariates of :func:`generate_covariate_batch`;
        ``None`` draws uniformly from the original eight sources (no ``schedule``), as the first
        Chronos-2 recipe did.
    covariate_known_share
        Probability that a covariate of :func:`generate_covariate_batch` is known over the horizon
        (a schedule, a set-point, a weather forecast) rather than observed up to the forecast start
        only. Drawn per covariate, once per generated batch. Past-only covariates act with a lag of
        at most ``MAX_LAG`` steps, so over a long horizon only known-future ones can carry the target.
    weak_covariate_share
        Probability that a task of :func:`generate_covariate_batch` has a weak covariate effect:
        scaled to 0-0.3 of its usual unit standard deviation (near 0: the covariates are
        irrelevant), so a model also sees covariates it should mostly ignore. 0 (the default)
        leaves every task as before, draw for draw.
    """

    length: int = 576
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    kernels: tuple[str, ...] = KERNELS
    max_kernels: int = 5
    mixup_probability: float = 0.1
    mixup_max_components: int = 3
    missing_probability: float = 0.05
    covariate_weights: dict[str, float] | None = None
    covariate_known_share: float = 0.5
    weak_covariate_share: float = 0.0

    config_name = "synthetic-data config"

    def __post_init__(self) -> None:
        _check_int("length", self.length, 2)
        object.__setattr__(self, "weights", _checked_weights(self.weights))
        if self.covariate_weights is not None:
            object.__setattr__(self, "covariate_weights", _checked_weights(self.covariate_weights))
        object.__setattr__(self, "kernels", _checked_kernels(self.kernels))
        _check_int("max_kernels", self.max_kernels, 1)
        _check_int("mixup_max_components", self.mixup_max_components, 1)
        for name in ("mixup_probability", "missing_probability", "covariate_known_share", "weak_covariate_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a probability in [0, 1]; got {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _checked_weights(weights: Any) -> dict[str, float]:
    if not isinstance(weights, Mapping) or not weights:
        raise InputError(f"weights must be a non-empty mapping of generator name to weight; got {weights!r}")
    out = {}
    for name, value in weights.items():
        if name not in _REGISTRY:
            known = ", ".join(_REGISTRY)
            raise InputError(f"weights has unknown generator {name!r}; known generators: {known}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0:
            raise InputError(f"weights[{name!r}] must be a finite number >= 0; got {value!r}")
        out[str(name)] = float(value)
    if sum(out.values()) <= 0:
        raise InputError(f"weights must give at least one generator a positive weight; got {weights!r}")
    return out


def _checked_kernels(kernels: Any) -> tuple[str, ...]:
    if isinstance(kernels, str) or not isinstance(kernels, (list, tuple)) or not kernels:
        raise InputError(f"kernels must be a non-empty list of kernel names; got {kernels!r}")
    for name in kernels:
        if name not in KERNELS:
            raise InputError(f"kernels has unknown kernel {name!r}; known kernels: {', '.join(KERNELS)}")
    return tuple(kernels)


def _check_stream(seed: Any, index: Any, count: Any, count_name: str) -> None:
    _check_int("seed", seed, 0)
    _check_int("index", index, 0)
    _check_int(count_name, count, 0)


def _check_range(name: str, value: Any, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2
    if not ok or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair) \
            or not minimum <= pair[0] <= pair[1]:
        raise InputError(f"{name} must be an integer >= {minimum} or a pair (low, high) with "
                         f"{minimum} <= low <= high; got {value!r}")
    return int(pair[0]), int(pair[1])


# ---- the batch pipeline: generators -> TSMixup -> scale and offset -> missing values ----------------
def _draw_names(weights: Mapping[str, float], rng: np.random.Generator, n: int,
                order: Sequence[str] | None = None) -> np.ndarray:
    """Generator names ``[n]`` drawn by relative ``weights``, the candidates listed in ``order``
    (default: the order of ``weights``); the order fixes which name each random draw selects."""
    names = [name for name in (weights if order is None else order) if weights.get(name, 0.0) > 0]
    shares = np.array([weights[name] for name in names], dtype=np.float64)
    return np.asarray(names)[rng.choice(len(names), size=n, p=shares / shares.sum())]


def _run_generators(config: SyntheticConfig, rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """One series per entry of ``names``: ``[n, length]`` float32, generators run in registry order."""
    out = np.empty((len(names), config.length), dtype=np.float32)
    for name, generator in _REGISTRY.items():
        rows = np.flatnonzero(names == name)
        if rows.size:
            out[rows] = generator.fn(rng, rows.size, config)
    return out


def mean_scale(series: np.ndarray) -> np.ndarray:
    """Divide each series (last axis) by its mean absolute value, ignoring NaN (all-zero rows: by 1)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row's mean is NaN: scaled by 1 below
        scale = np.nanmean(np.abs(series), axis=-1, keepdims=True)
    return series / np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def tsmixup(components: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """TSMixup: the convex combination of mean-scaled series.

    Parameters
    ----------
    components
        ``[n, k, length]``: ``k`` series to mix for each of ``n`` outputs.
    weights
        ``[n, k]``, non-negative, each row summing to 1 (Dirichlet draws in :func:`generate_batch`;
        a zero weight drops a component).

    Returns
    -------
    np.ndarray
        ``[n, length]``; at every time step it lies between the smallest and largest mean-scaled
        component.
    """
    return np.einsum("nk,nkl->nl", weights, mean_scale(components))


def _mixup(series: np.ndarray, rescale: np.ndarray, rng: np.random.Generator,
           config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``mixup_probability`` of the rows by TSMixup of the row and 0..k-1 other rows.

    The other components are other rows of the same batch (before mixing), so a batch of one
    row is never mixed. Mixed rows are mean-scaled, so they then get a positive scale only.
    """
    n, k_max = len(series), config.mixup_max_components
    mixed = np.flatnonzero(rng.random(n) < config.mixup_probability)
    if n < 2 or mixed.size == 0:
        return series, rescale
    partners = (mixed[:, None] + rng.integers(1, n, (mixed.size, k_max - 1))) % n  # never the row itself
    rows = np.concatenate([mixed[:, None], partners], axis=1)  # [m, k_max]
    used = np.arange(k_max) < rng.integers(1, k_max + 1, (mixed.size, 1))  # 1..k_max components
    weights = rng.gamma(1.5, size=rows.shape) * used  # normalised below: Dirichlet(1.5, ...)
    out = series.copy()
    out[mixed] = tsmixup(series[rows], weights / weights.sum(axis=1, keepdims=True))
    rescale = rescale.copy()
    rescale[mixed] = "scale"
    return out, rescale


def _rescale(series: np.ndarray, rescale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale diversity: levels from about 1e-2 to 1e5, 60% strictly positive, the rest around zero.

    ``affine`` rows are standardised, shifted (to 0.05..30 standard deviations above zero, or by
    -3..3 standard deviations) and multiplied by 10^U(-2.5, 4.5); ``scale`` rows are mean-scaled
    and multiplied by the same kind of factor (zeros stay zeros); ``none`` rows are left alone.
    """
    n = len(series)
    mean, sd = series.mean(axis=1), series.std(axis=1)
    sd = np.where(sd > 1e-12, sd, 1.0)
    lowest = (series.min(axis=1) - mean) / sd
    positive = -lowest + log_uniform(rng, 0.05, 30.0, n)
    offset = np.where(rng.random(n) < 0.6, positive, rng.uniform(-3, 3, n))
    factor = 10 ** rng.uniform(-2.5, 4.5, n)
    mean_abs = np.abs(series).mean(axis=1)
    mean_abs = np.where(mean_abs > 0, mean_abs, 1.0)
    # every mode is y = x * gain + shift
    gain = np.select([rescale == "affine", rescale == "scale"], [factor / sd, factor / mean_abs], 1.0)
    shift = np.where(rescale == "affine", (offset - mean / sd) * factor, 0.0)
    return series * gain[:, None].astype(series.dtype) + shift[:, None].astype(series.dtype)


def _add_missing(series: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """NaN in ``probability`` of the rows: scattered points (0.2..5%) and 0..3 gaps of up to L/10."""
    rows = np.flatnonzero(rng.random(len(series)) < probability)
    if rows.size == 0:
        return series
    length = series.shape[1]
    points = rng.random((rows.size, length)) < log_uniform(rng, 0.002, 0.05, (rows.size, 1))
    gaps = stretches(rng, rng.integers(0, 4, rows.size), max(1, length // 10), length)
    series[rows] = np.where(points | gaps, np.nan, series[rows])
    return series


def _batch(config: SyntheticConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    names = _draw_names(config.weights, rng, n, GENERATORS)
    rescale = np.array([_REGISTRY[name].rescale for name in names], dtype="<U6")
    series = _run_generators(config, rng, names)
    series, rescale = _mixup(series, rescale, rng, config)
    series = _rescale(series, rescale, rng)
    return _add_missing(series, rng, config.missing_probability)


# ---- public API ------------------------------------------------------------------------------------
def generate_batch(config: SyntheticConfig, seed: int, index: int, batch_size: int) -> np.ndarray:
    """The synthetic batch number ``index`` of the stream ``seed``.

    Parameters
    ----------
    config
        What to generate.
    seed, index
        Non-negative integers. The batch is a pure function of ``(config, seed, index,
        batch_size)`` (random generator ``np.random.default_rng([seed, index])``), so a resumed
        trainer regenerates exactly the batches it would have had.
    batch_size
        Number of series (0 gives an empty batch).

    Returns
    -------
    np.ndarray
        ``[batch_size, config.length]`` float32; NaN marks missing values.
    """
    _check_stream(seed, index, batch_size, "batch_size")
    rng = np.random.default_rng([seed, index])
    return _batch(config, rng, batch_size).astype(np.float32)


def iter_series(config: SyntheticConfig, seed: int, n: int | None = None) -> Iterator[np.ndarray]:
    """Stream series ``[config.length]`` float32 one at a time; forever when ``n`` is None.

    The stream is the rows of ``generate_batch(config, seed, j, 256)`` for ``j = 0, 1, ...``, so
    its first ``n`` series do not depend on ``n`` and memory stays at one chunk.
    """
    _check_int("seed", seed, 0)
    if n is not None:
        _check_int("n", n, 0)
    produced, index = 0, 0
    while n is None or produced < n:
        chunk = generate_batch(config, seed, index, _STREAM_CHUNK)
        take = _STREAM_CHUNK if n is None else min(_STREAM_CHUNK, n - produced)
        yield from chunk[:take]
        produced, index = produced + take, index + 1


def _arrow_rows(config: dict[str, Any], seed: int, n_series: int) -> Iterator[dict[str, Any]]:
    for i, values in enumerate(iter_series(SyntheticConfig.from_dict(config), seed, n_series)):
        yield {"item_id": f"synthetic-{seed}-{i}", "target": values}


def write_arrow(path: str | Path, config: SyntheticConfig, seed: int, n_series: int) -> Path:
    """Write ``n_series`` series of :func:`iter_series` as a Hugging Face ``datasets`` folder.

    Columns: ``item_id`` (str, ``synthetic-<seed>-<i>``) and ``target`` (list of float32, NaN =
    missing). Rows are generated and written in chunks, never all in memory. Read it back with
    ``datasets.load_from_disk(path)``.
    """
    from datasets import Dataset, Features, List, Value

    _check_int("seed", seed, 0)
    _check_int("n_series", n_series, 1)
    features = Features({"item_id": Value("string"), "target": List(Value("float32"))})
    with tempfile.TemporaryDirectory() as cache:  # from_generator's cache: keep it out of ~/.cache
        dataset = Dataset.from_generator(
            _arrow_rows, features=features, cache_dir=cache, writer_batch_size=_STREAM_CHUNK,
            gen_kwargs={"config": config.to_dict(), "seed": int(seed), "n_series": int(n_series)},
        )
        dataset.save_to_disk(str(path))
    return Path(path)


# ---- Chronos-2 tasks: covariates and groups ---------------------------------------------------------
def _lagged(x: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``x[..., t - lag]`` along the last axis, the first value repeated before the start."""
    t = np.arange(x.shape[-1])
    return np.take_along_axis(x, np.maximum(t - lags[..., None], 0), axis=-1)


def _covariate_response(rng: np.random.Generator, shifted: np.ndarray,
                        own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised effect ``[B, L]`` of lagged covariates ``shifted [B, C, L]``, and its kind ``[B]``.

    ``lagged_linear``: a weighted sum; ``threshold``: steps (or hinges) where a covariate crosses a
    set-point; ``multiplicative``: the target's own dynamics ``own [B, L]`` scaled by
    ``exp(0.5 * linear)`` (a load effect). Half of the linear and threshold effects act through a
    first-order lag (a dynamic response).
    """
    batch, n_cov, _ = shifted.shape
    kind = rng.integers(0, len(RESPONSES), batch)
    beta = rng.choice([-1.0, 1.0], (batch, n_cov)) * rng.uniform(0.3, 1.0, (batch, n_cov))
    linear = np.einsum("bc,bcl->bl", beta, shifted)
    excess = shifted - rng.uniform(-0.8, 0.8, (batch, n_cov, 1))
    hinge = rng.random((batch, 1, 1)) < 0.5
    threshold = np.einsum("bc,bcl->bl", beta, np.where(hinge, np.maximum(excess, 0), (excess > 0) * 1.0))
    smooth = np.where(rng.random(batch) < 0.5, rng.uniform(0.2, 0.8, batch), 0.0)
    dynamic = ar_filter(smooth, (1 - smooth)[:, None] * np.where((kind == 0)[:, None], linear, threshold))
    load = (1.5 + 0.5 * own) * np.exp(0.5 * standardize(linear))
    effect = standardize(np.where((kind == 2)[:, None], load, dynamic))
    flat = effect.std(axis=1) < 0.5  # a threshold that is never crossed: fall back to linear
    effect[flat] = standardize(linear[flat])
    return effect, kind


def generate_covariate_batch(config: SyntheticConfig, seed: int, index: int, batch_size: int,
                             n_covariates: int | tuple[int, int] = (1, 3)) -> dict[str, np.ndarray]:
    """Targets driven by covariates, for in-context learning with covariates (Chronos-2).

    Each of the ``batch_size`` tasks has ``C`` covariates (``C`` drawn once per batch in the
    ``n_covariates`` range, so arrays stay rectangular), each of them past-only or known in the
    future. The target is ``effect + own + noise``: ``effect`` (unit variance) is a known function of
    the covariates lagged by 0..``MAX_LAG`` steps (at least 1 for past-only ones, so their past
    predicts the target): see ``RESPONSES``; ``own`` is the target's own dynamics (a standardised
    series from ar / seasonal / trend / kernel generators) with standard deviation 0.1..0.6;
    the noise has standard deviation 0.02..0.3. Targets and covariates then get independent random
    scales and offsets; targets get missing values like :func:`generate_batch`.

    Returns
    -------
    dict[str, np.ndarray]
        All series cover the same ``L = config.length`` time steps (the trainer shows only the
        context part of past-only covariates):

        - ``target`` ``[B, L]`` float32;
        - ``past_covariates`` ``[B, Cp, L]`` float32: observed up to the forecast start only;
        - ``future_covariates`` ``[B, Cf, L]`` float32: known over the horizon too;
        - ``lags`` ``[B, Cp + Cf]`` int: each covariate's lag, past ones first;
        - ``response`` ``[B]`` str: the kind of effect, one of ``RESPONSES``;
        - ``effect_scale`` ``[B]`` float: the effect's standard deviation before noise (1, or
          0-0.3 for the weak tasks of ``weak_covariate_share``).

        ``Cp + Cf = C``; either may be 0.
    """
    _check_stream(seed, index, batch_size, "batch_size")
    low, high = _check_range("n_covariates", n_covariates, 1)
    rng = np.random.default_rng([seed, index, _COVARIATE_STREAM])
    length = config.length
    n_cov = int(rng.integers(low, high + 1))
    known = rng.random(n_cov) < config.covariate_known_share
    if config.covariate_weights is None:
        sources = np.asarray(_COVARIATE_SOURCES)[rng.integers(0, len(_COVARIATE_SOURCES), batch_size * n_cov)]
    else:
        sources = _draw_names(config.covariate_weights, rng, batch_size * n_cov)
    covariates = standardize(_run_generators(config, rng, sources)).reshape(batch_size, n_cov, length)
    lags = rng.integers(0, MAX_LAG + 1, (batch_size, n_cov))
    lags[:, ~known] = np.maximum(lags[:, ~known], 1)
    own_names = np.asarray(_OWN_SOURCES)[rng.integers(0, len(_OWN_SOURCES), batch_size)]
    own = standardize(_run_generators(config, rng, own_names))
    effect, kind = _covariate_response(rng, _lagged(covariates, lags), own)
    scale = np.ones(batch_size)
    if config.weak_covariate_share > 0:  # no extra draws otherwise: older configs' tasks stay the same
        weak = rng.random(batch_size) < config.weak_covariate_share
        scale[weak] = rng.uniform(0.0, 0.3, int(weak.sum()))
        effect = effect * scale[:, None]
    target = (effect + rng.uniform(0.1, 0.6, (batch_size, 1)) * own
              + rng.uniform(0.02, 0.3, (batch_size, 1)) * rng.standard_normal((batch_size, length)))
    target = _rescale(target, np.full(batch_size, "affine"), rng)
    target = _add_missing(target, rng, config.missing_probability)
    flat = covariates.reshape(-1, length)
    covariates = _rescale(flat, np.full(len(flat), "affine"), rng).reshape(batch_size, n_cov, length)
    return {
        "target": target.astype(np.float32),
        "past_covariates": covariates[:, ~known].astype(np.float32),
        "future_covariates": covariates[:, known].astype(np.float32),
        "lags": np.concatenate([lags[:, ~known], lags[:, known]], axis=1),
        "response": np.asarray(RESPONSES)[kind],
        "effect_scale": scale,
    }


def generate_group_batch(config: SyntheticConfig, seed: int, index: int, n_groups: int,
                         group_size: int | tuple[int, int] = (2, 8)) -> dict[str, np.ndarray]:
    """Groups of related series, for in-context learning across series (Chronos-2 ``group_ids``).

    Each group has two latent factors (standardised series from the configured mix). A member is
    ``a * factor1 + b * factor2 + s * own + noise``, ``a`` in 0.5..1.5, ``b`` 0 or N(0, 0.5),
    ``s`` in 0.1..0.8, noise 0.01..0.2, and 30% of members lag the factors by 1..7 steps. Members
    then get independent random scales and offsets, and missing values like :func:`generate_batch`.

    Returns
    -------
    dict[str, np.ndarray]
        ``target`` ``[N, L]`` float32 (members of a group are adjacent), ``group_ids`` ``[N]``
        int64, ``common_share`` ``[N]`` float32: ``var(common) / (var(common) + var(rest))`` of a
        member before scaling, the share of its variation that the group's factors drive. ``N`` is
        the sum of the group sizes.
    """
    _check_stream(seed, index, n_groups, "n_groups")
    low, high = _check_range("group_size", group_size, 1)
    rng = np.random.default_rng([seed, index, _GROUP_STREAM])
    length = config.length
    group_ids = np.repeat(np.arange(n_groups), rng.integers(low, high + 1, n_groups))
    members = len(group_ids)
    factors = standardize(_run_generators(config, rng, _draw_names(config.weights, rng, 2 * n_groups, GENERATORS)))
    factors = factors.reshape(n_groups, 2, length)[group_ids]  # [N, 2, L]
    shift = np.where(rng.random(members) < 0.3, rng.integers(1, 8, members), 0)
    loading = np.stack([rng.uniform(0.5, 1.5, members),
                        rng.normal(0, 0.5, members) * (rng.random(members) < 0.5)], axis=1)
    common = np.einsum("nf,nfl->nl", loading, _lagged(factors, np.repeat(shift[:, None], 2, axis=1)))
    own = standardize(_run_generators(config, rng, _draw_names(config.weights, rng, members, GENERATORS)))
    noise = rng.uniform(0.01, 0.2, (members, 1)) * rng.standard_normal((members, length))
    rest = rng.uniform(0.1, 0.8, (members, 1)) * own + noise
    series = common + rest
    share = common.var(axis=1) / np.maximum(common.var(axis=1) + rest.var(axis=1), 1e-12)
    series = _add_missing(_rescale(series, np.full(members, "affine"), rng), rng, config.missing_probability)
    return {"target": series.astype(np.float32), "group_ids": group_ids.astype(np.int64),
            "common_share": share.astype(np.float32)}
