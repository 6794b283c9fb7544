"""The KernelSynth kernel bank: kernel expressions, their exact covariance, and a fast sampler.

A kernel expression is ``k0 op0 k1 op1 k2 ...`` over base kernels (periodic, RBF, rational
quadratic, linear, white noise) with operators ``+`` and ``*``.

Fast sampling (an approximation, by design)
--------------------------------------------
Sampling a Gaussian process exactly needs a Cholesky factor of the ``L x L`` covariance, O(L^3),
too slow for a trainer that generates its data inline. Instead every base kernel is sampled on
its own, cheaply, and the samples are combined with the same expression. A sum of independent
zero-mean samples has the sum of their covariances, and a product of independent zero-mean samples
has the product of their covariances, so each series has exactly the covariance of its kernel
expression; it is not Gaussian where the expression has a product. The base samplers:

- periodic ``exp(-2 sin^2(pi tau / p) / l^2)``: its Fourier series with Gaussian amplitudes,
  truncated at 16 harmonics (exact up to the truncation: the variance lost is 1e-5 at ``l = 0.3``,
  the smallest ``l`` drawn is 0.35). The harmonic variances are the Fourier coefficients of one
  period of the kernel (``exp(-z) I_k(z)`` with ``z = 1 / l^2``), computed by an FFT of 32 points;
- RBF and rational quadratic: 16 random Fourier features drawn from the spectral density (the
  rational quadratic as a Gamma scale mixture of RBFs). The covariance is exact on average over
  the features; each sample is a sum of 16 sinusoids;
- linear: a random line; white noise: iid Gaussian values (both exact).

Sinusoids are evaluated with float32 phases (errors about 1e-4), as sums of products of two small
phasor tables (:func:`sinusoid_sum`). :func:`kernel_matrix` and :func:`sample_kernel_exact` give
the exact covariance and an exact sampler for short series, to check the fast one against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsfm.errors import InputError

KERNELS: tuple[str, ...] = ("periodic", "rbf", "rational_quadratic", "linear", "white_noise")
# Industrial and calendar periods: quarterly, daily/weekly, monthly, hourly/daily, half-hourly,
# weekly/yearly, 15-minute, hourly/weekly, 5-minute, daily/yearly.
COMMON_PERIODS: tuple[float, ...] = (4, 7, 12, 24, 48, 52, 96, 168, 288, 365)
N_FEATURES = 16  # harmonics (periodic) or random Fourier features (RBF, RQ) per base sample
_KERNEL_SHARE = {  # how often random_kernel_series draws each kernel (renormalised over the allowed ones)
    "periodic": 0.35, "rbf": 0.2, "rational_quadratic": 0.15, "linear": 0.15, "white_noise": 0.15,
}
_PRODUCT_PROBABILITY = 0.4  # chance that an operator of a random expression is "*" rather than "+"
_LEAF_FIELDS = ("variance", "lengthscale", "period", "alpha", "offset", "bias")
_PERIODIC, _RBF, _RQ, _LINEAR, _WHITE = range(len(KERNELS))


@dataclass(frozen=True)
class KernelLeaf:
    """One base kernel of a :class:`KernelExpr` (parameters a kernel does not use are ignored).

    Parameters
    ----------
    name
        One of :data:`KERNELS`.
    variance
        Scale of the kernel: the noise variance of ``white_noise``, the slope variance of ``linear``.
    lengthscale
        ``periodic``: the dimensionless ``l`` of ``exp(-2 sin^2(pi tau / p) / l^2)``; ``rbf`` and
        ``rational_quadratic``: in samples.
    period
        Period of ``periodic``, in samples.
    alpha
        Shape of ``rational_quadratic``, ``(1 + tau^2 / (2 alpha l^2))^-alpha``.
    offset, bias
        ``linear``: ``bias + variance (x - offset)(x' - offset)`` with ``x = t / length``.
    """

    name: str
    variance: float = 1.0
    lengthscale: float = 1.0
    period: float = 24.0
    alpha: float = 1.0
    offset: float = 0.5
    bias: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in KERNELS:
            raise InputError(f"name has unknown kernel {self.name!r}; known kernels: {', '.join(KERNELS)}")
        for attr in ("variance", "lengthscale", "period", "alpha"):
            if not getattr(self, attr) > 0:
                raise InputError(f"{attr} of a {self.name} kernel must be > 0; got {getattr(self, attr)!r}")
        if not self.bias >= 0:
            raise InputError(f"bias of a {self.name} kernel must be >= 0; got {self.bias!r}")


@dataclass(frozen=True)
class KernelExpr:
    """The expression ``leaves[0] ops[0] leaves[1] ops[1] ...``, each op ``"+"`` or ``"*"``.

    ``nested=False`` reads it with the usual precedence (a sum of products); ``nested=True``
    folds from the left, ``((k0 op k1) op k2) ...``, which also gives products of sums.
    """

    leaves: tuple[KernelLeaf, ...]
    ops: tuple[str, ...] = ()
    nested: bool = False

    def __post_init__(self) -> None:
        if not self.leaves:
            raise InputError("leaves must hold at least one KernelLeaf; got none")
        if len(self.ops) != len(self.leaves) - 1 or any(op not in ("+", "*") for op in self.ops):
            raise InputError(f"ops must be {len(self.leaves) - 1} of '+' / '*'; got {self.ops!r}")


# ---- exact covariance --------------------------------------------------------------------------------
def _fold(items: list[Any], ops: tuple[str, ...], nested: bool) -> Any:
    """Combine kernel matrices (or samples) elementwise as the expression says."""
    if nested:
        acc = items[0]
        for op, item in zip(ops, items[1:]):
            acc = acc * item if op == "*" else acc + item
        return acc
    total, term = 0.0, items[0]
    for op, item in zip(ops, items[1:]):
        if op == "*":
            term = term * item
        else:
            total, term = total + term, item
    return total + term


def _leaf_matrix(leaf: KernelLeaf, length: int) -> np.ndarray:
    t = np.arange(length, dtype=np.float64)
    tau = t[:, None] - t[None, :]  # [L, L]
    if leaf.name == "periodic":
        return leaf.variance * np.exp(-2 * np.sin(np.pi * tau / leaf.period) ** 2 / leaf.lengthscale**2)
    if leaf.name == "rbf":
        return leaf.variance * np.exp(-(tau**2) / (2 * leaf.lengthscale**2))
    if leaf.name == "rational_quadratic":
        return leaf.variance * (1 + tau**2 / (2 * leaf.alpha * leaf.lengthscale**2)) ** -leaf.alpha
    if leaf.name == "linear":
        x = t / length - leaf.offset
        return leaf.bias + leaf.variance * x[:, None] * x[None, :]
    return leaf.variance * np.eye(length)


def kernel_matrix(expr: KernelExpr, length: int) -> np.ndarray:
    """Exact covariance ``[length, length]`` of ``expr`` on the grid ``t = 0 .. length-1``."""
    return _fold([_leaf_matrix(leaf, length) for leaf in expr.leaves], expr.ops, expr.nested)


def sample_kernel_exact(expr: KernelExpr, length: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` exact Gaussian-process samples ``[n, length]`` of ``expr``; O(length^3), short series only.

    Uses the symmetric square root of the covariance (an eigendecomposition), which stays valid
    where a product kernel is singular and a Cholesky factorisation would fail.
    """
    values, vectors = np.linalg.eigh(kernel_matrix(expr, length))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))  # [L, L]; root @ root.T == covariance
    return rng.standard_normal((n, length)) @ root.T


# ---- fast sampling ---------------------------------------------------------------------------------
def sinusoid_sum(omega: np.ndarray, coef: np.ndarray, length: int) -> np.ndarray:
    """``Re(sum_m coef[:, m] exp(i omega[:, m] t))`` for ``t < length``: ``[n, M] -> [n, length]`` float32.

    Why not ``cos(omega t)`` directly: that costs ``n * M * length`` trig calls. Writing
    ``t = start + offset`` splits ``exp(i omega t)`` into two tables of about ``sqrt(length)``
    phasors each, and the sum over features becomes one batched matrix product. Frequencies are
    first reduced to ``(-pi, pi]``, which changes nothing on the integer grid and keeps the float32
    phases small (accurate and on the fast path of ``np.cos``).
    """
    n = len(omega)
    offsets_len = math.isqrt(max(length - 1, 0)) + 1
    starts = np.arange(-(-length // offsets_len), dtype=np.float32) * offsets_len
    omega = (np.remainder(omega + np.pi, 2 * np.pi) - np.pi).astype(np.float32)
    outer = _phasor(omega[:, None, :] * starts[None, :, None])  # [n, blocks, M]
    inner = _phasor(omega[:, :, None] * np.arange(offsets_len, dtype=np.float32))  # [n, M, offsets]
    total = np.matmul(outer * coef.astype(np.complex64)[:, None, :], inner)  # [n, blocks, offsets]
    return np.ascontiguousarray(total.real).reshape(n, -1)[:, :length]


def _phasor(angle: np.ndarray) -> np.ndarray:
    """``exp(i angle)`` as complex64, written straight into the interleaved (real, imag) layout."""
    out = np.empty((*angle.shape, 2), dtype=np.float32)
    np.cos(angle, out=out[..., 0])
    np.sin(angle, out=out[..., 1])
    return out.view(np.complex64)[..., 0]


def _periodic_power(lengthscale: np.ndarray) -> np.ndarray:
    """Harmonic variances ``[m, N_FEATURES]`` of unit periodic kernels: Fourier series of one period."""
    theta = 2 * np.pi * np.arange(2 * N_FEATURES) / (2 * N_FEATURES)
    one_period = np.exp((np.cos(theta) - 1) / lengthscale[:, None] ** 2)  # k at lag theta/(2 pi) periods
    spectrum = np.fft.rfft(one_period, axis=1).real[:, :N_FEATURES] / (2 * N_FEATURES)
    return np.clip(spectrum, 0.0, None) * np.where(np.arange(N_FEATURES) == 0, 1.0, 2.0)


def _stationary_samples(kind: np.ndarray, p: dict[str, np.ndarray], length: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Samples ``[m, length]`` of periodic / RBF / RQ leaves, each a sum of ``N_FEATURES`` sinusoids."""
    shape = (len(kind), N_FEATURES)
    omega, power = np.empty(shape), np.empty(shape)  # power: the variance of each sinusoid
    per, rbf, rq = kind == _PERIODIC, kind == _RBF, kind == _RQ
    power[per] = _periodic_power(p["lengthscale"][per]) * p["variance"][per, None]
    omega[per] = 2 * np.pi * np.arange(N_FEATURES) / p["period"][per, None]
    omega[rbf] = rng.standard_normal((rbf.sum(), N_FEATURES)) / p["lengthscale"][rbf, None]
    alpha, scale = p["alpha"][rq, None], p["lengthscale"][rq, None]
    # RQ = Gamma mixture of RBFs: precision ~ Gamma(alpha, rate alpha l^2), then w ~ N(0, precision)
    precision = rng.gamma(alpha, 1.0 / (alpha * scale**2), size=(rq.sum(), N_FEATURES))
    omega[rq] = rng.standard_normal((rq.sum(), N_FEATURES)) * np.sqrt(precision)
    power[rbf | rq] = p["variance"][rbf | rq, None] / N_FEATURES
    # Re((a - ib) e^{i w t}) = a cos(w t) + b sin(w t): variance `power` at every t.
    coef = np.sqrt(power) * (rng.standard_normal(shape) - 1j * rng.standard_normal(shape))
    return sinusoid_sum(omega, coef, length)


def _sample_leaves(kind: np.ndarray, p: dict[str, np.ndarray], length: int,
                   rng: np.random.Generator) -> np.ndarray:
    """One independent zero-mean sample ``[m, length]`` float32 per leaf; ``kind`` indexes :data:`KERNELS`."""
    out = np.empty((len(kind), length), dtype=np.float32)
    spectral = np.flatnonzero(kind <= _RQ)
    if spectral.size:
        chosen = {f: v[spectral] for f, v in p.items()}
        out[spectral] = _stationary_samples(kind[spectral], chosen, length, rng)
    lin = kind == _LINEAR
    x = np.arange(length) / length - p["offset"][lin, None]
    a, b = rng.standard_normal((2, lin.sum(), 1))
    out[lin] = np.sqrt(p["bias"][lin, None]) * a + np.sqrt(p["variance"][lin, None]) * b * x
    white = kind == _WHITE
    noise = rng.standard_normal((white.sum(), length), dtype=np.float32)
    out[white] = np.sqrt(p["variance"][white, None]).astype(np.float32) * noise
    return out


def _fold_batch(samples: np.ndarray, is_product: np.ndarray, count: np.ndarray,
                nested: np.ndarray) -> np.ndarray:
    """Vectorised :func:`_fold` over series: ``samples [n, K, L]``, ``is_product [n, K-1]`` -> ``[n, L]``.

    Series ``i`` uses its first ``count[i]`` leaves; ``nested[i]`` picks the left fold. Each step
    touches only the rows that still have a leaf to add.
    """
    out = samples[:, 0].copy()
    left, flat = np.flatnonzero(nested), np.flatnonzero(~nested)
    total = np.zeros((len(flat), samples.shape[2]), dtype=samples.dtype)
    term = samples[flat, 0]  # the running product term of the precedence form
    for j in range(1, int(count.max(initial=1))):
        rows = left[count[left] > j]
        prod = is_product[rows, j - 1]
        out[rows[prod]] *= samples[rows[prod], j]
        out[rows[~prod]] += samples[rows[~prod], j]
        pos = np.flatnonzero(count[flat] > j)
        prod = is_product[flat[pos], j - 1]
        term[pos[prod]] *= samples[flat[pos[prod]], j]
        added = pos[~prod]
        total[added] += term[added]
        term[added] = samples[flat[added], j]
    out[flat] = total + term
    return out


def sample_kernel_fast(expr: KernelExpr, length: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` samples ``[n, length]`` float32 with the covariance of ``expr``, by the fast sampler.

    The code path of the ``kernel_synth`` generator; see the module docstring.
    """
    n_leaves = len(expr.leaves)
    kind = np.tile([KERNELS.index(leaf.name) for leaf in expr.leaves], n)
    params = {f: np.tile([float(getattr(leaf, f)) for leaf in expr.leaves], n) for f in _LEAF_FIELDS}
    samples = _sample_leaves(kind, params, length, rng).reshape(n, n_leaves, length)
    is_product = np.tile([op == "*" for op in expr.ops], (n, 1)).reshape(n, n_leaves - 1)
    return _fold_batch(samples, is_product, np.full(n, n_leaves), np.full(n, expr.nested))


def choose_periods(rng: np.random.Generator, n: int, length: int, common_share: float) -> np.ndarray:
    """Periods ``[n]``: with probability ``common_share`` a common period that fits three times into
    ``length`` (:data:`COMMON_PERIODS`), otherwise log-uniform in 2.5 .. length / 4."""
    fitting = [p for p in COMMON_PERIODS if 3 * p <= length] or [2.0]
    common = np.asarray(fitting, dtype=np.float64)[rng.integers(0, len(fitting), n)]
    random = np.exp(rng.uniform(np.log(2.5), np.log(max(3.0, length / 4)), n))
    return np.where(rng.random(n) < common_share, common, random)


def random_kernel_series(rng: np.random.Generator, n: int, length: int, kernels: tuple[str, ...],
                         max_kernels: int) -> np.ndarray:
    """``n`` KernelSynth series ``[n, length]`` float32 from random expressions of 1..max_kernels leaves.

    Leaves are drawn from ``kernels`` (periodic most often), operators are ``*`` with probability
    0.4, half the expressions are nested. Periods: :data:`COMMON_PERIODS` (70%) or random, up to
    2/3 of the length; RBF / RQ length scales 2% .. 150% of the length; periodic ``l`` 0.35 .. 1.5;
    white-noise variance 1e-3 .. 1.
    """
    slots, size = max_kernels, (n, max_kernels)
    share = np.array([_KERNEL_SHARE[k] for k in kernels])
    allowed = np.array([KERNELS.index(k) for k in kernels])
    kind = allowed[rng.choice(len(kernels), size=size, p=share / share.sum())]
    count = rng.integers(1, slots + 1, n)
    active = np.arange(slots)[None, :] < count[:, None]

    def log_uniform(low: float, high: float) -> np.ndarray:
        return np.exp(rng.uniform(np.log(low), np.log(high), size))

    smooth = np.where(kind == _RBF, log_uniform(0.02, 1.5), log_uniform(0.02, 1.0)) * length
    params = {
        "variance": np.where(kind == _WHITE, log_uniform(1e-3, 1.0), 1.0),
        "lengthscale": np.where(kind == _PERIODIC, log_uniform(0.35, 1.5), np.maximum(smooth, 1.0)),
        "period": choose_periods(rng, n * slots, 2 * length, 0.7).reshape(size),
        "alpha": log_uniform(0.1, 10.0),
        "offset": rng.uniform(-0.5, 1.5, size),
        "bias": rng.uniform(0.0, 1.0, size),
    }
    samples = np.zeros((n, slots, length), dtype=np.float32)
    samples[active] = _sample_leaves(kind[active], {f: v[active] for f, v in params.items()}, length, rng)
    is_product = rng.random((n, slots - 1)) < _PRODUCT_PROBABILITY
    return _fold_batch(samples, is_product, count, rng.random(n) < 0.5)
