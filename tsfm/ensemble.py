"""Ensembles of any contract models, weighted on validation windows, saved as a folder.

:class:`EnsembleForecaster` forecasts with every member at the requested levels and averages
their quantiles with fixed weights; quantiles stay non-decreasing. A member that fails on a
series (it raises, or returns NaN) is left out for that series only and the other members'
weights are renormalised there; the failures of the latest call are kept in
:attr:`EnsembleForecaster.last_failures`.

:func:`fit_ensemble` scores every member on the same validation windows and chooses the weights
(:mod:`tsfm.ensemble_selection`) by one of three methods:

- ``"joint-top-k"`` (default): equal weights over the ``top_k`` (default 2) members ranked by
  the geometric mean of their validation WQL and MASE, each relative to the best member's (and,
  where the validation holds enough windows, the point forecast's own top ``top_k`` on MASE;
  below). The suite's targets, and a user's
  choice, are on both metrics: a member ranked on WQL alone can win on sharp quantiles with a
  poor median (tsfm-bolt-mini on aeon's solar set). Compared by ``python -m
  tsfm.tasks.ensemble_rules`` on the suite's eight datasets (every rule chosen on windows before
  the scored ones), it beat ranking on WQL alone and greedy selection, and equal weights over
  the best 1, 2 or 3 members chosen by nested validation (earlier windows choose, later ones judge).
- ``"top-k"``: equal weights over the ``top_k`` members of lowest pooled validation WQL (the
  default before ``"joint-top-k"``).
- ``"greedy"``: greedy ensemble selection (Caruana et al., 2004, as AutoGluon does): add with
  replacement the member whose addition most lowers the pooled WQL of the average, ``max_iter``
  times; keep the shortest prefix within ``tolerance`` (relative) of the lowest loss, and blend
  its weights with equal weights over the members it selected,
  ``w = (1 - shrinkage) * w_greedy + shrinkage / n_selected``.

The point forecast (the median, and the mean) is scored by MASE, not by WQL, and the member that
makes the best quantiles is not always the one that makes the best point forecast (on M4 Hourly
tsfm-bolt-mini has the sharpest quantiles while seasonal naive's point forecast is as good as
its). So where the validation holds enough windows (``point_min_windows`` scored windows,
series x origins, default 30), **point weights** are chosen on the mean MASE of the averaged
point forecasts: equal weights over the ``top_k`` members of lowest MASE for ``"joint-top-k"``
and ``"top-k"``, greedy selection on MASE for ``"greedy"``; they combine the members'
medians (the 0.5 quantile) and means, the other levels keep the WQL weights, and the quantiles
are sorted afterwards (on M4 Hourly, 2,070 validation windows: the quantiles from
tsfm-bolt-mini and fracast-0, the median from tsfm-bolt-mini and seasonal naive). With fewer
windows one set of weights serves both, since twice the
choices on little evidence fit its noise.

Optionally (``per_series=SeriesWeighting()``) series whose own windows give strong evidence get
weights of their own, shrunk toward the global ones; the contract's ``predict_quantiles`` carries
no item ids, so the ensemble takes them as an extra keyword, ``item_ids``, and uses the global
weights for series it is not told about.

Classical baseline members are fitted on at most the last ``max_history`` values of each context
(:data:`tsfm.rolling.DEFAULT_MAX_HISTORY` by default), in validation and in every forecast alike,
as every backtest fits them (:func:`tsfm.rolling.history_cap`).

Saved folders hold one ``ensemble.json`` (members by name or path, weights and point weights,
weights per series, quantile levels, the baseline members' history cap,
season length, the windows' config, the selection settings and the validation scores);
:mod:`tsfm.ensemble_folder` reads them back for ``tsfm.load(folder)``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.contract import BaseForecaster, Forecaster
from tsfm.covariates import Covariates
from tsfm.ensemble_selection import (
    DEFAULT_MAX_ITER,
    DEFAULT_METHOD,
    DEFAULT_POINT_MIN_WINDOWS,
    DEFAULT_SHRINKAGE,
    DEFAULT_TOLERANCE,
    DEFAULT_TOP_K,
    Selection,
    SeriesWeighting,
    check_selection_options,
    select_weights,
    series_weights,
)
from tsfm.errors import InputError
from tsfm.forecast import Forecast
from tsfm.outputs import staged_folder, write_json
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.registry import list_models, load
from tsfm.rolling import (
    DEFAULT_MAX_HISTORY,
    RollingWindows,
    ValidationResult,
    capped_contexts,
    history_cap,
    pooled_metrics,
    predict_robustly,
    score,
    score_forecasts,
)
from tsfm.validation import validate_quantile_levels, validate_season_length

FILE_NAME = "ensemble.json"
FORMAT = "tsfm-ensemble"
VERSION = 1
# Where backends keep the levels they forecast natively (others forecast any level).
_NATIVE_LEVEL_ATTRIBUTES = ("native_levels", "pipeline.quantiles", "runtime.quantile_levels", "config.quantile_levels")


class EnsembleForecaster(BaseForecaster):
    """A weighted average of members' quantile forecasts.

    Parameters
    ----------
    members
        Forecasters of the contract, at least one.
    weights
        One non-negative weight per member, not all 0; normalised to sum to 1. They combine the
        quantiles (and the point forecast, unless ``point_weights`` is given).
    point_weights
        Weights of the point forecast: the 0.5 quantile and the mean; ``None`` = ``weights``.
    series_weights
        Item id -> ``(weights, point_weights)`` for series with weights of their own (see
        :class:`tsfm.ensemble_selection.SeriesWeighting`); used when ``predict_quantiles`` is given
        ``item_ids``. Other series take ``weights`` and ``point_weights``.
    quantile_levels
        Levels the weights were chosen at; every member must be able to forecast them (see
        :func:`check_member_levels`). Other levels can be asked for, as from any model.
    name
        Name in forecasts and reports.
    refs
        How to load each member again (a registered name or a path); default the members' names.
    season_length
        Season length the members were loaded with (baselines need it to load the same way).
    config
        The validation windows the weights were chosen on, recorded when saved.
    report
        Validation table, one row per candidate member and one for the ensemble.
    selection
        How the weights were chosen (method and settings), recorded when saved.
    max_history
        Most values (the last ones) of each context the classical baseline members are fitted on,
        as :func:`fit_ensemble` validated them and every backtest fits baselines
        (:func:`tsfm.rolling.history_cap`); ``None``: the whole context. Other members see it whole.
    """

    kind = "ensemble"

    def __init__(
        self, members: Sequence[Forecaster], weights: Sequence[float],
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS, name: str = "ensemble",
        refs: Sequence[str] | None = None, season_length: int = 1, config: RollingWindows | None = None,
        report: pd.DataFrame | None = None, selection: dict[str, Any] | None = None,
        point_weights: Sequence[float] | None = None,
        series_weights: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        super().__init__(name)
        self.members = _checked_members(members)
        self.caps = [history_cap(m, max_history) for m in self.members]  # baselines' caps; checks max_history
        self.max_history = max_history
        self.weights = _normalised(weights, len(self.members))
        self.point_weights = self.weights if point_weights is None else _normalised(
            point_weights, len(self.members), "point_weights")
        self.series_weights = {
            str(item): (_normalised(w, len(self.members), f"series_weights[{item!r}] weights"),
                        _normalised(pw, len(self.members), f"series_weights[{item!r}] point weights"))
            for item, (w, pw) in (series_weights or {}).items()
        }
        self._item_ids: list[str] | None = None  # of the call in progress, for series_weights
        self.quantile_levels = tuple(float(x) for x in validate_quantile_levels(quantile_levels))
        check_member_levels(self.members, self.quantile_levels)
        self.refs = [str(r) for r in refs] if refs is not None else [m.name for m in self.members]
        if len(self.refs) != len(self.members):
            raise InputError(f"refs has {len(self.refs)} entries for {len(self.members)} members")
        self.season_length = validate_season_length(season_length)
        self.config = config
        self.report = report if report is not None else pd.DataFrame()
        self.selection = dict(selection or {})
        self.min_observations = max(getattr(m, "min_observations", 1) for m in self.members)
        horizons = [h for h in (getattr(m, "max_horizon", None) for m in self.members) if h is not None]
        self.max_horizon = min(horizons) if horizons else None
        self.supports_covariates = any(getattr(m, "supports_covariates", False) for m in self.members)
        self.last_failures = pd.DataFrame(columns=["series", "member", "error"])

    def __repr__(self) -> str:
        parts = ", ".join(f"{m.name}: {w:.3f}" for m, w in zip(self.members, self.weights))
        points = "" if self.point_weights is self.weights else ", point_weights={" + ", ".join(
            f"{m.name}: {w:.3f}" for m, w in zip(self.members, self.point_weights)) + "}"
        return f"EnsembleForecaster(name={self.name!r}, weights={{{parts}}}{points})"

    def describe_weights(self) -> str:
        """``"a 0.500, b 0.500"``, then ``"; point weights (median, mean) a 0.500, c 0.500"`` where they differ."""
        weights = ", ".join(f"{m.name} {w:.3f}" for m, w in zip(self.members, self.weights))
        if np.array_equal(self.point_weights, self.weights):
            return weights
        return weights + "; point weights (median, mean) " + ", ".join(
            f"{m.name} {w:.3f}" for m, w in zip(self.members, self.point_weights))

    def predict_quantiles(
        self, context: Any, horizon: int, quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        covariates: Covariates | None = None, item_ids: Sequence[str] | None = None,
    ) -> Forecast:
        """The contract's ``predict_quantiles``, plus ``item_ids``: one id per series of ``context``.

        With ``item_ids``, series fitted with weights of their own (``series_weights``) use them;
        without, or for ids it has no weights for, a series takes the global weights. The contract
        itself carries no item ids, so backtests that call models through it use the global weights.
        """
        if item_ids is not None:
            n = len(context) if isinstance(context, (list, tuple)) else np.atleast_2d(np.asarray(context)).shape[0]
            if isinstance(item_ids, str) or len(item_ids) != n:
                raise InputError(f"item_ids must give one id per series: got {item_ids!r} for {n} series")
        self._item_ids = [str(i) for i in item_ids] if item_ids is not None else None
        try:
            return super().predict_quantiles(context, horizon, quantile_levels, covariates)
        finally:
            self._item_ids = None

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._combine(context, horizon, levels, None)

    def _predict_with_covariates(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray, covariates: Covariates
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._combine(context, horizon, levels, covariates)

    def _combine(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray, covariates: Covariates | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each member once on the whole batch; covariates only to the members that use them."""
        quantiles, means, usable, failures = [], [], [], []
        for member, cap in zip(self.members, self.caps):
            uses = covariates is not None and getattr(member, "supports_covariates", False)
            extra = {"covariates": covariates} if uses else {}
            contexts = capped_contexts(context, cap)  # baselines: the values they were validated on
            q, mean, _, errors = predict_robustly(member, contexts, horizon, levels, point="mean", **extra)
            quantiles.append(q)  # [n, horizon, n_q]
            means.append(mean)  # [n, horizon]
            usable.append([not e for e in errors])
            failures += [{"series": j, "member": member.name, "error": e} for j, e in enumerate(errors) if e]
        self.last_failures = pd.DataFrame(failures, columns=["series", "member", "error"])
        usable_array = np.array(usable)  # [n_members, n]
        lost = np.flatnonzero(~usable_array.any(axis=0))
        if lost.size:
            j = int(lost[0])
            why = "; ".join(f"{f['member']}: {f['error']}" for f in failures if f["series"] == j)
            raise InputError(f"every member of ensemble {self.name!r} failed on context[{j}]: {why}")
        if failures:
            counts = self.last_failures.groupby("member", sort=False).size()
            warnings.warn(
                f"ensemble {self.name!r}: " + ", ".join(f"{m} failed on {n} series" for m, n in counts.items())
                + "; the other members forecast those series (see last_failures)",
                stacklevel=4,
            )
        weights, point_weights = self._row_weights(len(context))
        return combine_forecasts(np.stack(quantiles), np.stack(means), levels, weights, point_weights, usable_array)

    def _row_weights(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The global weights, or ``[n_members, n]`` weights per series where the call's ids have their own."""
        ids = self._item_ids
        if ids is None or not self.series_weights or not any(i in self.series_weights for i in ids):
            return self.weights, self.point_weights
        weights = np.repeat(self.weights[:, None], n, axis=1)  # [n_members, n]
        point_weights = np.repeat(self.point_weights[:, None], n, axis=1)
        for j, item in enumerate(ids):
            if item in self.series_weights:
                weights[:, j], point_weights[:, j] = self.series_weights[item]
        return weights, point_weights

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: members by reference with their weights, levels, windows, scores."""
        return {
            "format": FORMAT, "version": VERSION, "name": self.name,
            "members": _member_entries(self.refs, self.weights, self.point_weights),
            "quantile_levels": list(self.quantile_levels), "season_length": self.season_length,
            "baseline_max_history": self.max_history,
            "config": self.config.to_dict() if self.config is not None else None,
            "selection": self.selection,
            "series_weights": {item: {"weights": w.tolist(), "point_weights": pw.tolist()}
                               for item, (w, pw) in self.series_weights.items()},
            "validation": json.loads(self.report.to_json(orient="records")) if len(self.report) else [],
        }

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write ``folder/ensemble.json`` atomically; ``tsfm.load(folder)`` loads it back.

        Every member must be loadable again: a registered name, a hub id or an existing path
        (stored as an absolute path). The folder is staged and swapped in whole, so a failed
        save leaves an earlier one intact; a folder holding other files is refused unless ``overwrite``.
        """
        refs = [_portable_ref(ref, member) for ref, member in zip(self.refs, self.members)]
        payload = {**self.to_dict(), "members": _member_entries(refs, self.weights, self.point_weights)}
        with staged_folder(folder, kind="ensemble", overwrite=overwrite, flag="folder") as stage:
            write_json(payload, stage / FILE_NAME, flag="folder")
        return Path(folder)


def fit_ensemble(
    members: Sequence[Forecaster | str],
    series: Sequence[np.ndarray],
    config: RollingWindows,
    quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
    season_length: int = 1,
    max_iter: int = DEFAULT_MAX_ITER,
    shrinkage: float = DEFAULT_SHRINKAGE,
    tolerance: float = DEFAULT_TOLERANCE,
    point_min_windows: int | None = DEFAULT_POINT_MIN_WINDOWS,
    method: str = DEFAULT_METHOD,
    top_k: int = DEFAULT_TOP_K,
    per_series: SeriesWeighting | None = None,
    item_ids: Sequence[str] | None = None,
    name: str = "ensemble",
    device: str = "auto",
    batch_size: int = 256,
    max_history: int | None = DEFAULT_MAX_HISTORY,
) -> EnsembleForecaster:
    """Score every member on the validation windows of ``series`` and weight them by greedy selection.

    Parameters
    ----------
    members
        Forecasters, or names/paths for ``tsfm.load`` (loaded with ``season_length``, ``device``
        and ``batch_size``; the name or path is what a saved ensemble records).
    series
        Histories to validate on; windows are cut from their ends by ``config``. Pass only data
        the ensemble will not be scored on (e.g. the training part of a benchmark).
    config
        The validation windows.
    quantile_levels
        Levels forecast, scored and combined.
    season_length
        Season of MASE and of the baselines.
    max_iter, shrinkage, tolerance
        Greedy additions; the share of equal weights blended in, in [0, 1]; the relative loss
        within which the shortest prefix of additions is preferred, >= 0 (module doc).
    point_min_windows
        Scored validation windows from which the point forecast gets weights of its own, chosen
        on MASE (module doc); ``None``: never, one set of weights serves both.
    method, top_k
        ``"joint-top-k"`` (default): equal weights over the ``top_k`` members ranked on WQL and MASE;
        ``"top-k"``: on WQL; ``"greedy"``: with ``max_iter``, ``shrinkage``, ``tolerance`` (module doc).
    per_series
        Also choose weights per series where its windows give strong evidence (see
        :class:`~tsfm.ensemble_selection.SeriesWeighting`); they are used when the ensemble is
        given ``item_ids`` (``predict_quantiles(..., item_ids=...)``). ``None``: global weights only.
    max_history
        Most values of a context a baseline member is fitted on (the last ones), in validation and
        forecasts alike, as in a backtest (:func:`tsfm.rolling.history_cap`); ``None``: all.

    Returns
    -------
    EnsembleForecaster
        Members with positive weight; ``report`` holds per member its weight, validation MASE,
        WQL, coverage, failures and status (selected, not selected, or dropped and why), and a last
        row for the ensemble itself (scored on the windows its weights were chosen on, so optimistic).
    """
    check_selection_options(max_iter, shrinkage, tolerance, point_min_windows, method, top_k)
    _check_per_series(per_series)
    levels = validate_quantile_levels(quantile_levels)
    season = validate_season_length(season_length)
    models, refs = _resolve_members(members, season, device, batch_size)
    check_member_levels(models, levels)
    results = [score(m, series, config, levels, season, item_ids, max_history) for m in models]
    selection = select_weights(results, max_iter, shrinkage, tolerance, point_min_windows, method, top_k)
    own = series_weights(results, selection, per_series, max_iter, tolerance, shrinkage) if per_series else {}
    ens_scores = _ensemble_scores(results, selection, name)
    settings = _settings(method, top_k, max_iter, shrinkage, tolerance, point_min_windows, selection)
    if per_series is not None:
        settings["per_series"] = {**asdict(per_series), "series_with_own_weights": len(own)}
    report = _report(results, refs, selection, ens_scores)
    used = _used_members(selection, own)
    point_weights = selection.point_weights[used] if selection.separate_point else None
    return EnsembleForecaster(
        [models[i] for i in used], selection.weights[used], levels, name=name, refs=[refs[i] for i in used],
        season_length=season, config=config, report=report, selection=settings, point_weights=point_weights,
        series_weights={item: (w[used], pw[used]) for item, (w, pw) in own.items()}, max_history=max_history,
    )


def _check_per_series(per_series: object) -> None:
    if per_series is not None and not isinstance(per_series, SeriesWeighting):
        raise InputError(f"per_series must be a SeriesWeighting or None, got {type(per_series).__name__}")


def _used_members(selection: Selection, own: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Positions of the members with a positive weight anywhere: quantiles, point, or some series' own."""
    positive = (selection.weights > 0) | (selection.point_weights > 0)
    for w, pw in own.values():
        positive |= (w > 0) | (pw > 0)
    return np.flatnonzero(positive)


def combine(values: np.ndarray, weights: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Weighted average over members ``values [n_members, n, ...]``, renormalised per row ``n``.

    ``weights`` is ``[n_members]``, or ``[n_members, n]`` for weights per row. ``usable
    [n_members, n]`` says which member may be used for which row; rows no member may be used
    for come out NaN.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = (w[:, None] if w.ndim == 1 else w) * usable  # [n_members, n]: one set of weights, or one per row
    total = w.sum(axis=0)  # [n]
    filled = np.where(usable.reshape(usable.shape + (1,) * (values.ndim - 2)), values, 0.0)
    summed = np.einsum("mn,mn...->n...", w, filled)
    with np.errstate(invalid="ignore", divide="ignore"):
        return summed / total.reshape(total.shape + (1,) * (values.ndim - 2))


def _settings(
    method: str, top_k: int, max_iter: int, shrinkage: float, tolerance: float, point_min_windows: int | None,
    selection: Selection,
) -> dict[str, Any]:
    """How the weights were chosen, as ``ensemble.json`` records it."""
    if method == "greedy":
        settings: dict[str, Any] = {"method": "greedy", "max_iter": max_iter, "shrinkage": shrinkage,
                                    "tolerance": tolerance, "kept_additions": selection.kept}
    else:
        settings = {"method": method, "top_k": top_k}
    point = "own weights, chosen on mean MASE" if selection.separate_point else "the quantile weights"
    quantiles = "chosen on pooled WQL and mean MASE together" if method == "joint-top-k" else "chosen on pooled WQL"
    return {**settings, "quantiles": quantiles, "point": point, "point_min_windows": point_min_windows,
            "windows_scored": selection.rows}


def combine_forecasts(
    quantiles: np.ndarray, means: np.ndarray, levels: np.ndarray, weights: np.ndarray, point_weights: np.ndarray,
    usable: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Members' ``quantiles [n_members, n, horizon, n_q]`` and ``means [n_members, n, horizon]`` combined.

    The quantiles take ``weights``; the 0.5 quantile (where asked) and the mean take
    ``point_weights``; the result is sorted along the levels. Returns ``(quantiles [n, horizon, n_q],
    mean [n, horizon])``.
    """
    combined = combine(quantiles, weights, usable)  # [n, horizon, n_q]
    if point_weights is weights or (np.shape(point_weights) == np.shape(weights)
                                    and np.array_equal(point_weights, weights)):
        return np.sort(combined, axis=-1), combine(means, weights, usable)
    median = np.flatnonzero(np.isclose(np.asarray(levels, dtype=np.float64), 0.5))
    if median.size:  # [n_members, n, horizon] -> [n, horizon]
        combined[..., median[0]] = combine(quantiles[..., median[0]], point_weights, usable)
    return np.sort(combined, axis=-1), combine(means, point_weights, usable)


def native_quantile_levels(model: Forecaster) -> np.ndarray | None:
    """The levels ``model`` forecasts natively, where it declares them; ``None`` = any level."""
    for path in _NATIVE_LEVEL_ATTRIBUTES:
        value: Any = model
        for part in path.split("."):
            value = getattr(value, part, None)
        if value is not None:
            try:
                levels = np.asarray(value, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                continue
            if levels.size and ((levels > 0) & (levels < 1)).all():
                return np.sort(levels)
    return None


def check_member_levels(members: Sequence[Forecaster], levels: Sequence[float]) -> None:
    """Refuse members whose native quantile levels do not span ``levels``.

    A model trained on levels 0.1..0.9 answers a request for 0.02 with its 0.1 quantile;
    averaged with members that really forecast 0.02, the ensemble's tail would mean nothing.
    """
    wanted = np.asarray(levels, dtype=np.float64)
    for member in members:
        native = native_quantile_levels(member)
        if native is None:
            continue
        outside = wanted[(wanted < native[0] - 1e-9) | (wanted > native[-1] + 1e-9)]
        if outside.size:
            raise InputError(
                f"members have different quantile levels: {member.name!r} forecasts levels "
                f"{native[0]:g}..{native[-1]:g} natively and cannot produce {outside.tolist()}; "
                f"ask for levels within {native[0]:g}..{native[-1]:g} or leave this member out"
            )


def _portable_ref(ref: str, member: Forecaster) -> str:
    """``ref`` in the form a saved ensemble records; refuse one that nothing could load again."""
    if ref in _registered_names():
        return ref
    path = Path(ref).expanduser()
    if path.exists():
        return str(path.resolve())
    parts = ref.split("/")
    if len(parts) == 2 and all(parts) and not ref.startswith((".", "~")):
        return ref  # a hub id
    raise InputError(
        f"member {member.name!r} cannot be saved: its reference {ref!r} is not a registered model, a hub id "
        "or an existing path; pass the members to fit_ensemble by name or path, or give refs="
    )


def _registered_names() -> set[str]:
    return {spec.name for spec in list_models()}


def _resolve_members(
    members: Sequence[Forecaster | str], season: int, device: str, batch_size: int
) -> tuple[list[Forecaster], list[str]]:
    if isinstance(members, str) or not isinstance(members, Sequence):
        raise InputError(f"members must be a list of models or names, got {type(members).__name__}")
    if not members:
        raise InputError("members is empty: pass at least one model or name (see `tsfm models`)")
    models, refs = [], []
    for member in members:
        if isinstance(member, str):
            models.append(load(member, device=device, batch_size=batch_size, season_length=season))
            refs.append(member)
        else:
            models.append(member)
            refs.append(member.name)
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"member names must be unique, got {duplicates} more than once")
    return models, refs


def _ensemble_scores(results: Sequence[ValidationResult], selection: Selection, name: str) -> pd.DataFrame:
    """The ensemble's scores on the validation windows, renormalising where members failed."""
    first = results[0]
    usable = ~np.stack([r.failed for r in results])  # [n_members, n_windows]
    quantiles = np.sort(combine(np.stack([r.forecasts for r in results]), selection.weights, usable), axis=-1)
    point = combine(np.stack([r.point for r in results]), selection.point_weights, usable)
    median = np.flatnonzero(np.isclose(np.asarray(first.quantile_levels), 0.5))
    if selection.separate_point and median.size:
        quantiles[..., median[0]] = point  # the point is the median here (score uses the median)
        quantiles = np.sort(quantiles, axis=-1)
    return score_forecasts(first.windows, quantiles, point, np.asarray(first.quantile_levels),
                           first.season_length, name, first.item_ids)


def _report(
    results: Sequence[ValidationResult], refs: Sequence[str], selection: Selection, ens_scores: pd.DataFrame
) -> pd.DataFrame:
    rows = []
    for m, result in enumerate(results):
        failed_ids = sorted(set(result.failures["item_id"]))
        if m in selection.dropped:
            status = f"dropped: failed on every window ({selection.dropped[m]})"
        elif selection.weights[m] > 0 or selection.point_weights[m] > 0:
            status = "selected" + (f"; left out on {len(failed_ids)} series where it failed" if failed_ids else "")
        else:
            status = "not selected"
        rows.append({"member": result.model, "ref": refs[m], "weight": float(selection.weights[m]),
                     "point_weight": float(selection.point_weights[m]),
                     "count": int(selection.counts[m]), **_summary(result.scores),
                     "failed_series": ",".join(failed_ids), "status": status})
    used_seconds = sum(r["seconds"] for r in rows if r["weight"] > 0 or r["point_weight"] > 0)  # runs all it weights
    rows.append({"member": ens_scores["model"].iloc[0], "ref": "", "weight": 1.0, "point_weight": 1.0,
                 "count": int(selection.counts.sum()), **_summary(ens_scores), "failed_series": "",
                 "status": "ensemble (scored on the windows its weights were chosen on)"})
    rows[-1]["seconds"] = used_seconds
    return pd.DataFrame(rows)


def _summary(scores: pd.DataFrame) -> dict[str, float]:
    pooled = pooled_metrics(scores)
    return {k: pooled[k] for k in ("MASE", "WQL", "mean_WQL", "coverage_80", "windows", "failed", "seconds")}


def _checked_members(members: Sequence[Forecaster]) -> list[Forecaster]:
    if isinstance(members, (str, Forecaster)) or not isinstance(members, Sequence):
        raise InputError(f"members must be a list of forecasters, got {type(members).__name__}")
    if not members:
        raise InputError("members is empty: an ensemble needs at least one member")
    for i, m in enumerate(members):
        if not isinstance(m, Forecaster):
            raise InputError(f"members[{i}] is a {type(m).__name__}, not a forecaster (load names with tsfm.load)")
    return list(members)


def _normalised(weights: Sequence[float], n: int, label: str = "weights") -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{label} must be numbers, got {weights!r}") from None
    if w.size != n:
        raise InputError(f"{label} has {w.size} entries for {n} members")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"{label} must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w / w.sum()


def _member_entries(refs: Sequence[str], weights: np.ndarray, point_weights: np.ndarray) -> list[dict[str, Any]]:
    """``ensemble.json``'s members: reference, weight and point weight of each."""
    return [{"ref": r, "weight": float(w), "point_weight": float(p)}
            for r, w, p in zip(refs, weights, point_weights)]
