"""Ensemble selection rules compared on the suite, from cached member forecasts.

For every suite dataset (:data:`tsfm.tasks.suite.SUITE`) each member is scored once on the
scored windows (the suite's own) and once on dense validation windows cut from the data *before*
the earliest scored window (:func:`tsfm.rolling.holdout`); the forecasts are cached in
``--cache`` so selection rules can be compared without running the models again. Each rule sees
the validation forecasts only; the scored windows judge it. The table gives, per rule and
dataset, MASE and WQL relative to that dataset's best member (on the scored windows: a bar no
rule can see) and to seasonal naive, and their geometric means. ``default`` is the product's
rule (``joint-top-k`` on :func:`tsfm.tasks.evaluate.validation_windows`); ``top-2@5`` the one
before it (top-2 on WQL, 5 windows a horizon apart); ``@d20`` / ``@d40`` the latest 20 / 40
dense windows; ``c-``, ``r-`` and ``nested`` rank members on the joint criterion, on mean
per-window ranks, or choose 1, 2 or 3 members by nested validation::

    tsfm bench ensemble-rules --shared-data ../shared/data --cache /tmp/rules-cache

Dense validation windows: origins ``step = largest divisor of the horizon <= horizon / 4``
apart (every horizon-apart window of the product is among them), as many as fit up to
``--max-windows``; M4 Hourly keeps the product's 5 windows a horizon apart (414 series give
evidence enough, and fracast-0 takes minutes per window there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm import data as tsdata
from tsfm.ensemble import combine
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.rolling import RollingWindows, ValidationResult, holdout, pooled_metrics, score, score_forecasts
from tsfm.tasks.evaluate import dense_step

MODELS = ("tsfm-bolt-mini", "fracast-0", "naive", "auto-ets", "seasonal-naive")
REFERENCE = "seasonal-naive"


@dataclass
class DatasetForecasts:
    """Every member's validation and scored forecasts of one dataset."""

    name: str
    season_length: int
    validation: list[ValidationResult]
    scored: list[ValidationResult]


def load_dataset(spec, shared: Path | None) -> tuple[list[str], list[np.ndarray]] | None:
    """Item ids and series of a suite dataset; ``None`` where it is not available."""
    source = spec.load(shared)
    if source is None:
        return None
    frame = tsdata.load_frame(source)
    return tsdata.to_series(frame)


def dataset_forecasts(
    spec, shared: Path | None, models: Sequence[str], cache: Path, max_windows: int = 40,
) -> DatasetForecasts | None:
    """Score (or read from ``cache``) every member on the dataset's validation and scored windows."""
    loaded = load_dataset(spec, shared)
    if loaded is None:
        return None
    ids, series = loaded
    h, season = spec.horizon, spec.season_length
    scored = RollingWindows(h, spec.windows, None, min_train_length=season + 1)
    fewest = max(season + 1, 8)  # fracast-0 needs 8 observations, auto-ets 7
    if spec.name == "m4_hourly":
        validation = RollingWindows(h, 5, None, min_train_length=fewest)
    else:
        validation = RollingWindows(h, max_windows, dense_step(h), min_train_length=fewest)
    train = holdout(series, scored)
    val, test = [], []
    for name in models:
        val.append(_cached(spec.name, "validation", name, train, ids, validation, season, cache))
        test.append(_cached(spec.name, "scored", name, series, ids, scored, season, cache))
    return DatasetForecasts(spec.name, season, val, test)


def _cached(
    dataset: str, part: str, model_name: str, series: list[np.ndarray], ids: list[str], config: RollingWindows,
    season: int, cache: Path,
) -> ValidationResult:
    """``score`` of one model, its forecasts kept in ``cache`` under a key of the data and the windows."""
    levels = np.asarray(DEFAULT_QUANTILE_LEVELS, dtype=np.float64)
    digest = hashlib.sha256(json.dumps([config.to_dict(), [len(s) for s in series], season]).encode())
    for s in series:
        digest.update(np.ascontiguousarray(s).tobytes())
    path = cache / f"{dataset}__{part}__{model_name}__{digest.hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path) as stored:
            q, p, seconds, errors = stored["q"], stored["p"], stored["seconds"], [str(e) for e in stored["errors"]]
        windows = config.split(series, ids)
        scores = score_forecasts(windows, q, p, levels, season, model_name, ids, seconds, errors)
        return ValidationResult(model_name, config, tuple(levels), season, windows, q, p, scores, [], list(ids))
    import tsfm

    model = tsfm.load(model_name, season_length=season)
    result = score(model, series, config, levels, season, ids)  # baselines capped as the suite's backtest fits them
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, q=result.forecasts, p=result.point, seconds=result.scores["seconds"].to_numpy(),
             errors=np.asarray([str(e) for e in result.scores["error"]], dtype=str))
    print(f"  {dataset} {part} {model_name}: {len(result.windows)} windows, {result.scores['seconds'].sum():.1f} s",
          flush=True)
    return result


def subset(result: ValidationResult, keep: np.ndarray) -> ValidationResult:
    """The rows ``keep`` (boolean over ``result.windows``) of a validation result."""
    rows = np.flatnonzero(keep)
    return replace(
        result, windows=[result.windows[r] for r in rows], forecasts=result.forecasts[rows],
        point=result.point[rows], scores=result.scores.iloc[rows].reset_index(drop=True),
    )


def ensemble_scores(
    results: Sequence[ValidationResult], weights: np.ndarray, point_weights: np.ndarray, name: str
) -> dict[str, float]:
    """Pooled MASE and WQL of fixed weights applied to members' forecasts of the same windows."""
    first = results[0]
    usable = ~np.stack([r.failed for r in results])  # [n_members, n_windows]
    quantiles = combine(np.stack([r.forecasts for r in results]), weights, usable)  # [n_windows, horizon, n_q]
    point = combine(np.stack([r.point for r in results]), point_weights, usable)
    median = np.flatnonzero(np.isclose(np.asarray(first.quantile_levels), 0.5))
    if median.size:
        quantiles[..., median[0]] = point
    quantiles = np.sort(quantiles, axis=-1)
    scores = score_forecasts(first.windows, quantiles, point, np.asarray(first.quantile_levels),
                             first.season_length, name, first.item_ids)
    pooled = pooled_metrics(scores)
    return {"MASE": pooled["MASE"], "WQL": pooled["WQL"]}


Rule = Callable[[list[ValidationResult]], tuple[np.ndarray, np.ndarray]]


def compare_rules(datasets: Sequence[DatasetForecasts], rules: dict[str, Rule]) -> pd.DataFrame:
    """One row per dataset and rule (members too): test MASE / WQL, relative to the best member and to the reference."""
    rows = []
    for ds in datasets:
        names = [r.model for r in ds.scored]
        members = {n: pooled_metrics(r.scores) for n, r in zip(names, ds.scored)}
        best_mase = min(m["MASE"] for m in members.values())
        best_wql = min(m["WQL"] for m in members.values())
        ref = members[REFERENCE]
        entries = {n: {"MASE": m["MASE"], "WQL": m["WQL"]} for n, m in members.items()}
        for rule_name, rule in rules.items():
            weights, point_weights = rule(ds.validation)
            entries[rule_name] = ensemble_scores(ds.scored, weights, point_weights, rule_name)
            entries[rule_name]["weights"] = " ".join(f"{w:.2f}" for w in weights)
        for name, e in entries.items():
            rows.append({
                "dataset": ds.name, "rule": name, "MASE": e["MASE"], "WQL": e["WQL"],
                "vs_best_MASE": e["MASE"] / best_mase, "vs_best_WQL": e["WQL"] / best_wql,
                "rel_MASE": e["MASE"] / ref["MASE"], "rel_WQL": e["WQL"] / ref["WQL"],
                "weights": e.get("weights", ""),
            })
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: geometric means of the ratios, and the worst dataset against its best member."""
    def gmean(x: pd.Series) -> float:
        return float(np.exp(np.log(x.to_numpy(dtype=float)).mean()))

    return table.groupby("rule", sort=False).agg(
        gmean_rel_MASE=("rel_MASE", gmean), gmean_rel_WQL=("rel_WQL", gmean),
        worst_vs_best_MASE=("vs_best_MASE", "max"), worst_vs_best_WQL=("vs_best_WQL", "max"),
    ).reset_index()


def _member_losses(val: list[ValidationResult], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per member pooled WQL and mean MASE over ``rows`` of the validation windows."""
    wql, mase = [], []
    for r in val:
        pooled = pooled_metrics(r.scores[rows])
        wql.append(pooled["WQL"])
        mase.append(pooled["MASE"])
    return np.nan_to_num(np.array(wql), nan=np.inf), np.nan_to_num(np.array(mase), nan=np.inf)


def _equal(members: Sequence[int], n: int) -> np.ndarray:
    w = np.zeros(n)
    w[list(members)] = 1.0 / len(members)
    return w


def _top(score: np.ndarray, k: int) -> np.ndarray:
    return _equal(list(np.argsort(score, kind="stable")[:k]), len(score))


def _combined(val: list[ValidationResult], rows: np.ndarray) -> np.ndarray:
    """Geometric mean of each member's WQL and MASE relative to the best member on each."""
    wql, mase = _member_losses(val, rows)
    return np.sqrt((wql / wql.min()) * (mase / mase.min()))


def _window_ranks(val: list[ValidationResult], rows: np.ndarray) -> np.ndarray:
    """Each member's mean rank over window indices (pooled over series) of WQL and of MASE, averaged."""
    index = np.array([w.window for w in val[0].windows])
    ranks = []
    for k in np.unique(index[rows]):
        here = rows & (index == k)
        wql, mase = _member_losses(val, here)
        ranks.append(pd.Series(wql).rank().to_numpy() + pd.Series(mase).rank().to_numpy())
    return np.mean(ranks, axis=0)


def _candidates(val: list[ValidationResult], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate weights chosen on ``rows`` only."""
    crit = _combined(val, rows)
    n = len(val)
    return {"best-1": _top(crit, 1), "top-2": _top(crit, 2), "top-3": _top(crit, 3), "all": _equal(range(n), n)}


def _loss_of(val: list[ValidationResult], rows: np.ndarray, w: np.ndarray) -> float:
    sub = [subset(r, rows) for r in val]
    e = ensemble_scores(sub, w, w, "x")
    return e["WQL"], e["MASE"]


def nested(val: list[ValidationResult], later_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Candidates chosen on the earlier windows, judged on the later ones; the winner refitted on all."""
    index = np.array([w.window for w in val[0].windows])
    order = np.unique(index)
    cut = order[int(np.floor(len(order) * (1 - later_share)))] if len(order) > 1 else order[0] + 1
    early, late = index < cut, index >= cut
    if not early.any() or not late.any():
        w = _candidates(val, np.ones_like(early))["top-2"]
        return w, w
    scores = {}
    for name, w in _candidates(val, early).items():
        scores[name] = _loss_of(val, late, w)
    wqls = np.array([v[0] for v in scores.values()])
    mases = np.array([v[1] for v in scores.values()])
    crit = np.sqrt(wqls / wqls.min() * mases / mases.min())
    winner = list(scores)[int(np.argmin(crit))]
    w = _candidates(val, np.ones_like(early))[winner]
    return w, w


def rules() -> dict[str, Rule]:
    """The rules compared: each a selection method of the product on a set of validation windows."""
    from tsfm.ensemble_selection import select_weights

    def product(windows: Callable[[list[ValidationResult]], list[ValidationResult]], **options) -> Rule:
        def rule(val: list[ValidationResult]) -> tuple[np.ndarray, np.ndarray]:
            s = select_weights(windows(val), **options)
            return s.weights, s.point_weights
        return rule

    def fixed(name: str, windows) -> Rule:
        def rule(val: list[ValidationResult]) -> tuple[np.ndarray, np.ndarray]:
            val = windows(val)
            w = _candidates(val, np.ones(len(val[0].windows), dtype=bool))[name]
            return w, w
        return rule

    def ranked(k: int, windows) -> Rule:
        def rule(val: list[ValidationResult]) -> tuple[np.ndarray, np.ndarray]:
            val = windows(val)
            w = _top(_window_ranks(val, np.ones(len(val[0].windows), dtype=bool)), k)
            return w, w
        return rule

    five, d20, d40 = _product_windows, lambda v: _dense_windows(v, 20), lambda v: _dense_windows(v, 40)
    def default(val: list[ValidationResult]) -> list[ValidationResult]:
        """The windows evaluate/quickstart/suite now use (:func:`tsfm.tasks.evaluate.validation_windows`)."""
        from tsfm.tasks.evaluate import MIN_VALIDATION_ROWS, VALIDATION_WINDOWS

        return five(val) if len(val[0].item_ids) * VALIDATION_WINDOWS >= MIN_VALIDATION_ROWS else d20(val)

    return {
        "default": product(default),
        "top-2@5": product(five, method="top-k", top_k=2), "greedy@5": product(five, method="greedy"),
        "joint-top-2@5": product(five, method="joint-top-k"),
        "top-2@d20": product(d20, method="top-k", top_k=2), "joint-top-2@d20": product(d20, method="joint-top-k"),
        "top-2@d40": product(d40, method="top-k", top_k=2),
        "joint-top-3@d20": product(d20, method="joint-top-k", top_k=3),
        "c-best-1@d20": fixed("best-1", d20), "c-top-2@d20": fixed("top-2", d20), "c-top-3@d20": fixed("top-3", d20),
        "nested-h@d20": lambda v: nested(d20(v)),
        "r-top-2@d20": ranked(2, d20), "r-top-3@d20": ranked(3, d20), "r-top-2@5": ranked(2, five),
    }


def _product_windows(val: list[ValidationResult]) -> list[ValidationResult]:
    """The windows the product used before: the latest 5 a horizon apart, among the dense ones."""
    first = val[0]
    h, stride = first.config.horizon, first.config.stride
    back = np.array([(first.config.windows - 1 - w.window) * stride for w in first.windows])
    keep = (back % h == 0) & (back < 5 * h)
    return [subset(r, keep) for r in val]


def _dense_windows(val: list[ValidationResult], count: int) -> list[ValidationResult]:
    """The latest ``count`` dense windows (M4 Hourly: its 5 windows a horizon apart)."""
    index = np.array([w.window for w in val[0].windows])
    keep = index >= index.max() - count + 1
    return [subset(r, keep) for r in val]


def main(argv: Sequence[str] | None = None) -> int:
    """Ensemble selection rules on the suite's datasets: chosen on validation windows, judged on the scored ones."""
    from tsfm.tasks.suite import SUITE

    p = argparse.ArgumentParser(prog="tsfm bench ensemble-rules", description=__doc__.splitlines()[0])
    p.add_argument("--shared-data", default=None, help="folder holding m4/ and ett/ (skipped where absent)")
    p.add_argument("--cache", required=True, help="folder for the members' forecasts (reused when present)")
    p.add_argument("--datasets", default=None, help="comma-separated suite datasets (default: all available)")
    p.add_argument("--models", default=",".join(MODELS), help="members (seasonal-naive must be among them)")
    args = p.parse_args(argv)
    shared = Path(args.shared_data) if args.shared_data else None
    chosen = args.datasets.split(",") if args.datasets else [s.name for s in SUITE]
    models = args.models.split(",")
    found = []
    for spec in SUITE:
        if spec.name in chosen:
            ds = dataset_forecasts(spec, shared, models, Path(args.cache))
            if ds is not None:
                found.append(ds)
    table = compare_rules(found, rules())
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.round(3).to_string(index=False))
        print(summarise(table).round(3).to_string(index=False))
    return 0

