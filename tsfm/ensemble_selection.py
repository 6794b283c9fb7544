"""How an ensemble's weights are chosen from validation forecasts (see :mod:`tsfm.ensemble`).

Three methods: ``"joint-top-k"`` (default: equal weights over the ``top_k`` members ranked on
WQL and MASE together), ``"top-k"`` (equal weights over the members of lowest pooled WQL) and
``"greedy"`` (Caruana's selection with replacement, with a tolerance and shrinkage toward equal
weights). Where the validation holds enough windows (``point_min_windows``), each also chooses
the point weights apart, on mean MASE (the ``top_k`` members of lowest MASE for the two top-k
methods, greedy selection for ``"greedy"``); with fewer, one set of weights serves both. :func:`series_weights` adds,
optionally, weights per series, shrunk toward these and kept only where they clearly beat them on that series' windows.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.metrics import pinball, seasonal_scale
from tsfm.rolling import ValidationResult

METHODS = ("joint-top-k", "top-k", "greedy")
DEFAULT_METHOD = "joint-top-k"
DEFAULT_TOP_K = 2
DEFAULT_MAX_ITER = 100  # AutoGluon's ensemble_size
DEFAULT_SHRINKAGE = 0.5
DEFAULT_TOLERANCE = 0.01
DEFAULT_POINT_MIN_WINDOWS = 30  # scored validation windows (series x origins) before point weights are chosen apart


@dataclass(frozen=True)
class Selection:
    """Greedy ensemble selection on validation forecasts.

    Attributes
    ----------
    weights
        ``[n_members]`` final quantile weights (after shrinkage), summing to 1.
    counts
        ``[n_members]`` times each member was added, up to the kept prefix.
    trajectory
        Pooled WQL after each addition.
    dropped
        Member index -> why it takes no part (it failed on every window).
    rows
        Number of validation windows the selection scored (those where every kept member forecast).
    kept
        Length of the prefix of additions the counts come from.
    point_weights
        ``[n_members]`` weights of the point forecast: chosen on MASE where ``rows`` reaches
        ``point_min_windows``, else the same array as ``weights``.
    point_counts
        ``[n_members]`` additions of the point selection (``counts`` when it did not run).
    """

    weights: np.ndarray
    counts: np.ndarray
    trajectory: list[float]
    dropped: dict[int, str]
    rows: int
    kept: int
    point_weights: np.ndarray
    point_counts: np.ndarray

    @property
    def separate_point(self) -> bool:
        """Whether the point weights were chosen on their own (on MASE)."""
        return self.point_weights is not self.weights


def select_weights(
    results: Sequence[ValidationResult], max_iter: int = DEFAULT_MAX_ITER, shrinkage: float = DEFAULT_SHRINKAGE,
    tolerance: float = DEFAULT_TOLERANCE, point_min_windows: int | None = DEFAULT_POINT_MIN_WINDOWS,
    method: str = DEFAULT_METHOD, top_k: int = DEFAULT_TOP_K,
) -> Selection:
    """Weights for the members whose validation forecasts are ``results`` (same windows, same levels).

    Members that failed on every window are dropped. The loss is the pooled WQL over the windows
    where every other member forecast; windows where a kept member failed are left out of the
    choice (the ensemble renormalises there when it forecasts). ``method`` ``"top-k"`` gives equal
    weights to the ``top_k`` members of lowest loss; ``"greedy"`` runs the greedy selection with
    ``max_iter``, ``tolerance`` and ``shrinkage``. See the module doc, and for ``point_min_windows``
    (``None``: never choose point weights apart).
    """
    check_selection_options(max_iter, shrinkage, tolerance, point_min_windows, method, top_k)
    levels = np.asarray(results[0].quantile_levels)
    forecasts = np.stack([r.forecasts for r in results])  # [n_members, n_windows, horizon, n_q]
    failed = np.stack([r.failed for r in results])  # [n_members, n_windows]
    dropped = {m: _first_error(r) for m, r in enumerate(results) if failed[m].all()}
    alive = [m for m in range(len(results)) if m not in dropped]
    if not alive:
        reasons = "; ".join(f"{results[m].model}: {why}" for m, why in dropped.items())
        raise InputError(f"every member failed on every validation window: {reasons}")
    common = ~failed[alive].any(axis=0)
    if not common.any():
        raise InputError(
            "no validation window was forecast by every remaining member "
            f"({', '.join(results[m].model for m in alive)}); they fail on different series"
        )
    y = results[0].targets[common]  # [rows, horizon]
    scale = float(np.nansum(np.abs(y))) or 1.0
    if method == "greedy":
        choose = lambda c, loss: _greedy(c, loss, alive, max_iter, tolerance, shrinkage)  # noqa: E731
    else:  # top-k, and joint-top-k's point weights
        choose = lambda c, loss: _top_k(c, loss, alive, top_k)  # noqa: E731
    if method == "joint-top-k":
        weights, counts, trajectory, keep = _joint_top_k(results, common, alive, top_k)
    else:
        weights, counts, trajectory, keep = choose(forecasts[:, common], lambda avg: _pinball(y, avg, levels) / scale)
    rows = int(common.sum())
    point_weights, point_counts = weights, counts
    if point_min_windows is not None and rows >= point_min_windows:
        point_loss = _mase_loss(results[0], common)
        if point_loss is not None:
            points = np.stack([r.point for r in results])[:, common]  # [n_members, rows, horizon]
            point_weights, point_counts, _, _ = choose(points, point_loss)
    return Selection(weights, counts, trajectory, dropped, rows, keep, point_weights, point_counts)


def _greedy(
    candidates: np.ndarray, loss: Any, alive: Sequence[int], max_iter: int, tolerance: float, shrinkage: float
) -> tuple[np.ndarray, np.ndarray, list[float], int]:
    """Caruana's selection with replacement over ``candidates [n_members, rows, ...]``.

    ``loss(average)`` scores an average forecast. Returns the shrunk weights, the counts of the
    kept prefix, the loss after each addition and the kept prefix's length (module doc).
    """
    n = candidates.shape[0]
    total, picks, trajectory = np.zeros_like(candidates[0]), [], []
    for it in range(max_iter):
        losses = [loss((total + candidates[m]) / (it + 1)) if m in alive else np.inf for m in range(n)]
        best = int(np.argmin(losses))  # ties go to the earlier member
        total += candidates[best]
        picks.append(best)
        trajectory.append(float(losses[best]))
    near_best = np.asarray(trajectory) <= min(trajectory) * (1.0 + tolerance) + 1e-15
    keep = int(np.argmax(near_best)) + 1  # the shortest prefix within tolerance of the lowest loss
    counts = np.bincount(picks[:keep], minlength=n)
    selected = counts > 0
    weights = (1.0 - shrinkage) * counts / counts.sum() + shrinkage * selected / selected.sum()
    return weights, counts, trajectory, keep


def _top_k(
    candidates: np.ndarray, loss: Any, alive: Sequence[int], top_k: int
) -> tuple[np.ndarray, np.ndarray, list[float], int]:
    """Equal weights over the ``top_k`` members of lowest ``loss`` (ties: the earlier member).

    Returns the weights, the 0/1 counts, the chosen members' losses in rank order and how many were chosen.
    """
    n = candidates.shape[0]
    losses = np.array([loss(candidates[m]) if m in alive else np.inf for m in range(n)])
    ranked = [int(m) for m in np.argsort(losses, kind="stable") if m in alive][:top_k]
    counts = np.zeros(n, dtype=np.int64)
    counts[ranked] = 1
    return counts / counts.sum(), counts, [float(losses[m]) for m in ranked], len(ranked)


def _joint_top_k(
    results: Sequence[ValidationResult], common: np.ndarray, alive: Sequence[int], top_k: int
) -> tuple[np.ndarray, np.ndarray, list[float], int]:
    """Equal weights over the ``top_k`` members ranked by :func:`_criterion` on the ``common`` windows.

    Returns what :func:`_top_k` returns: the weights, the 0/1 counts, the chosen members' criterion
    in rank order and how many were chosen.
    """
    n = len(results)
    members = [(r.forecasts, r.point) for m, r in enumerate(results) if m in alive]
    scores = _criterion(results, common, members)
    order = np.argsort(scores, kind="stable")[:top_k]  # ties: the earlier member
    counts = np.zeros(n, dtype=np.int64)
    counts[[alive[i] for i in order]] = 1
    return counts / counts.sum(), counts, [float(scores[i]) for i in order], len(order)


def _criterion(
    results: Sequence[ValidationResult], rows: np.ndarray, forecasts: Sequence[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """For each ``(quantiles, point)`` over every window: sqrt(WQL / best WQL x MASE / best MASE) on ``rows``.

    WQL is pooled over ``rows``, MASE the mean over them; each is divided by the lowest among the
    forecasts, so the two count alike whatever their scales. MASE is left out where no row of
    ``rows`` has a scale (WQL alone decides).
    """
    first = results[0]
    levels = np.asarray(first.quantile_levels)
    y = first.targets[rows]  # [rows, horizon]
    scale = float(np.nansum(np.abs(y))) or 1.0
    wql = np.array([_pinball(y, q[rows], levels) / scale for q, _ in forecasts])
    mase_loss = _mase_loss(first, rows)
    ratio = wql / max(wql.min(), 1e-12)
    if mase_loss is None:
        return ratio
    mase = np.array([mase_loss(p[rows]) for _, p in forecasts])
    return np.sqrt(ratio * mase / max(mase.min(), 1e-12))


def _mase_loss(first: ValidationResult, rows: np.ndarray) -> Any:
    """Mean MASE over ``rows`` of an average point forecast ``[rows, horizon]``; None if no row has a scale."""
    windows = [w for w, keep in zip(first.windows, rows) if keep]
    scales = np.array([_scale_or_nan(w.history, first.season_length) for w in windows])  # [rows]
    usable = np.isfinite(scales) & (scales > 0)
    if not usable.any():
        return None
    y = first.targets[rows][usable]  # [usable rows, horizon]

    def loss(point: np.ndarray) -> float:
        errors = np.abs(y - point[usable])  # NaN where y is missing
        return float(np.mean(np.nanmean(errors, axis=1) / scales[usable]))

    return loss


def _scale_or_nan(history: np.ndarray, season_length: int) -> float:
    """MASE's scale of ``history``; NaN where it is undefined (too short, no observed pair)."""
    try:
        return seasonal_scale(history, season_length)
    except InputError:
        return math.nan


def _pinball(y: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> float:
    """Sum over windows and steps of the mean over levels of twice the pinball loss (NaN y adds 0)."""
    observed = np.isfinite(y)
    target = np.where(observed, y, np.nan)[..., None]  # missing: adds 0 whatever the forecast there
    quantiles = np.where(observed[..., None], quantiles, 0.0)
    return float((2.0 * pinball(quantiles, target, levels)).sum(axis=(0, 1)).mean())


def _first_error(result: ValidationResult) -> str:
    errors = [e for e in result.scores["error"] if e]
    return errors[0] if errors else "no forecast"


def check_selection_options(
    max_iter: int, shrinkage: float, tolerance: float, point_min_windows: int | None = None,
    method: str = DEFAULT_METHOD, top_k: int = DEFAULT_TOP_K,
) -> None:
    if method not in METHODS:
        raise InputError(f"method must be one of {list(METHODS)}, got {method!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, numbers.Real) or not 0.0 <= shrinkage <= 1.0:
        raise InputError(f"shrinkage must be a number in [0, 1], got {shrinkage!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not 0.0 <= tolerance < math.inf:
        raise InputError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if point_min_windows is not None and (
        isinstance(point_min_windows, bool) or not isinstance(point_min_windows, numbers.Integral)
        or point_min_windows < 1
    ):
        raise InputError(f"point_min_windows must be a positive integer or None, got {point_min_windows!r}")


@dataclass(frozen=True)
class SeriesWeighting:
    """Weights per series, used only where a series' own windows give strong evidence.

    A series with ``n >= min_windows`` validation windows (where every member forecast) gets
    ``n / (n + strength)`` of weights chosen by greedy selection on its own windows and the rest
    of the global weights; the blend replaces the global weights for that series only when it
    lowers the series' validation loss (WQL for the quantiles, MASE for the point) by at least
    ``min_gain`` (relative). Other series, and series unknown at forecast time, take the global weights.

    Attributes
    ----------
    min_windows
        Fewest validation windows a series needs for weights of its own, >= 1.
    strength
        How many windows' worth of evidence the global weights count for, > 0.
    min_gain
        Relative drop of the series' validation loss the blend must reach, in [0, 1).
    """

    min_windows: int = 3
    strength: float = 5.0
    min_gain: float = 0.05

    def __post_init__(self) -> None:
        if isinstance(self.min_windows, bool) or not isinstance(self.min_windows, numbers.Integral) \
                or self.min_windows < 1:
            raise InputError(f"SeriesWeighting.min_windows must be a positive integer, got {self.min_windows!r}")
        if not _is_real(self.strength) or not 0 < self.strength < math.inf:
            raise InputError(f"SeriesWeighting.strength must be a finite number > 0, got {self.strength!r}")
        if not _is_real(self.min_gain) or not 0 <= self.min_gain < 1:
            raise InputError(f"SeriesWeighting.min_gain must be a number in [0, 1), got {self.min_gain!r}")


def series_weights(
    results: Sequence[ValidationResult], selection: Selection, weighting: SeriesWeighting,
    max_iter: int = DEFAULT_MAX_ITER, tolerance: float = DEFAULT_TOLERANCE, shrinkage: float = DEFAULT_SHRINKAGE,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Item id -> ``(weights, point_weights)`` for the series whose own windows earn them (see
    :class:`SeriesWeighting`); series that keep the global weights of ``selection`` are left out."""
    first = results[0]
    levels = np.asarray(first.quantile_levels)
    alive = [m for m in range(len(results)) if m not in selection.dropped]
    common = ~np.stack([results[m].failed for m in alive]).any(axis=0)  # [n_windows] every kept member forecast
    items = np.array([w.item for w in first.windows])
    forecasts = np.stack([r.forecasts for r in results])  # [n_members, n_windows, horizon, n_q]
    points = np.stack([r.point for r in results])  # [n_members, n_windows, horizon]
    options = (alive, weighting, max_iter, tolerance, shrinkage)
    out = {}
    for item in np.unique(items):
        rows = common & (items == item)
        if rows.sum() < weighting.min_windows:
            continue
        y = first.targets[rows]  # [n, horizon]
        scale = float(np.nansum(np.abs(y))) or 1.0
        quantile = _own_weights(forecasts[:, rows], lambda avg, y=y, scale=scale: _pinball(y, avg, levels) / scale,
                                selection.weights, *options)
        point = quantile
        if selection.separate_point:
            point = _own_weights(points[:, rows], _mase_loss(first, rows), selection.point_weights, *options)
        if quantile is not selection.weights or point is not selection.point_weights:
            out[str(first.item_ids[item]) if first.item_ids else str(item)] = (quantile, point)
    return out


def _own_weights(
    candidates: np.ndarray, loss: Any, base: np.ndarray, alive: Sequence[int], weighting: SeriesWeighting,
    max_iter: int, tolerance: float, shrinkage: float,
) -> np.ndarray:
    """A series' blend of its own greedy weights and ``base``, or ``base`` itself when the blend does not pay."""
    if loss is None:
        return base
    own, _, _, _ = _greedy(candidates, loss, alive, max_iter, tolerance, shrinkage)
    n = candidates.shape[1]
    share = n / (n + weighting.strength)
    blend = share * own + (1.0 - share) * base

    def average(w: np.ndarray) -> np.ndarray:
        return np.einsum("m,m...->...", w, candidates)

    return blend if loss(average(blend)) < loss(average(base)) * (1.0 - weighting.min_gain) else base


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
