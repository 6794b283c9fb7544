"""The zero-shot suite: several offline datasets, several models, one table.

Each dataset is backtested with :func:`tsfm.tasks.evaluate.evaluate` under its own protocol (horizon,
season, windows). Per dataset a model's MASE and WQL are divided by seasonal naive's; the suite
reports each ratio and their geometric mean across datasets, the aggregate that the Chronos paper
and fev use. Below 1 means better than seasonal naive on a typical dataset. Beside the mean MASE
each row has the median over series of the per-series MASE: on M4 Hourly a handful of series that
repeat their last day almost exactly can pull a model's mean far above its typical series.

Datasets come from two places: the forecasting sets shipped inside aeon (always available) and
the public files under a ``shared_data`` folder (M4 Hourly, ETTh1), used when that folder has them.
None of these is in the bundled models' pretraining data (excluded by name and by content, see
:mod:`tsfm.pretraining.contamination`). aeon's ``pbs`` is left
out: its last three years are all zero, so scaled errors are undefined there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.ensemble import EnsembleForecaster
from tsfm.errors import InputError
from tsfm.outputs import check_folder_output, staged_folder, write_table
from tsfm.tasks.evaluate import REFERENCE, EvaluationReport, evaluate


@dataclass(frozen=True)
class SuiteDataset:
    """One dataset of the suite and how it is scored."""

    name: str
    horizon: int
    season_length: int
    windows: int
    load: Callable[[Path | None], pd.DataFrame | str | None]  # None: not available here
    note: str


def _aeon(name: str) -> Callable[[Path | None], str]:
    return lambda shared: f"aeon:{name}"


def _m4_hourly(shared: Path | None) -> str | None:
    folder = None if shared is None else shared / "m4"
    return f"m4:{folder}" if folder is not None and (folder / "Hourly-test.csv").is_file() else None


def _etth1_ot(shared: Path | None) -> pd.DataFrame | None:
    path = None if shared is None else shared / "ett" / "ETTh1.csv"
    if path is None or not path.is_file():
        return None
    from tsfm.datasets import load_ett

    raw = load_ett(path)
    return pd.DataFrame({"item_id": "ETTh1/OT", "timestamp": raw["date"], "target": raw["OT"]})


SUITE = (
    SuiteDataset("m4_hourly", 48, 24, 1, _m4_hourly, "414 series, official test horizon"),
    SuiteDataset("etth1_ot", 24, 24, 20, _etth1_ot, "oil temperature, last 20 days, daily origins"),
    SuiteDataset("m1_yearly", 6, 1, 1, _aeon("m1_yearly"), "181 yearly series"),
    SuiteDataset("airline", 12, 12, 3, _aeon("airline"), "monthly passengers, 3 yearly origins"),
    SuiteDataset("shampoo_sales", 6, 12, 1, _aeon("shampoo_sales"), "36 monthly sales, last half-year"),
    SuiteDataset("solar", 48, 48, 1, _aeon("solar"), "half-hourly solar generation, last day"),
    SuiteDataset("uschange", 8, 4, 2, _aeon("uschange"), "5 quarterly macro series, 2 origins"),
    SuiteDataset("lynx", 8, 1, 2, _aeon("lynx"), "yearly trappings, 2 origins"),
)
KIND = "suite"  # the kind of run named in the output folder's marker


def run_suite(
    models: Sequence[str],
    shared_data: str | Path | None = None,
    datasets: Sequence[str] | None = None,
    output: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
    ensemble: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest ``models`` on every available suite dataset.

    Parameters
    ----------
    models
        Model names or folders; seasonal naive is always added as the reference.
    shared_data
        Folder holding ``m4/`` and ``ett/``; those datasets are skipped when it lacks them.
    datasets
        Names of the datasets to run (default: all available).
    output
        Folder for ``suite.csv`` (one row per dataset and model) and ``suite_summary.csv``,
        checked before the first dataset runs and written whole at the end.
    overwrite
        Replace an ``output`` folder that holds files of another kind of run.
    ensemble
        Add per dataset the row ``ensemble``: the models (seasonal naive included) weighted on
        windows before the scored ones, scored on the same windows (see
        :func:`tsfm.tasks.evaluate.evaluate`); its weights are printed and kept in the column ``weight``.

    Returns
    -------
    (rows, summary)
        ``rows``: dataset, model, MASE, median_MASE (median over series of each series' MASE
        averaged over windows), WQL, sMAPE, rel_MASE, rel_WQL, coverage_80, seconds, weight (the
        model's weight in that dataset's ensemble; 0 when not selected, NaN without an ensemble).
        ``summary``: one row per model with the geometric means of rel_MASE and rel_WQL across
        datasets, ranked by gmean_rel_WQL.
    """
    known = {d.name: d for d in SUITE}
    chosen = list(datasets) if datasets else list(known)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise InputError(f"datasets has unknown names {unknown}; the suite has {list(known)}")
    shared = Path(shared_data) if shared_data is not None else None
    if output is not None:
        check_folder_output(output, KIND, overwrite, inputs=[shared] if shared is not None else ())
    parts = []
    for name in chosen:
        spec = known[name]
        data = spec.load(shared)
        if data is None:
            print(f"suite: skipping {name}: not found under shared_data={shared_data!r}")
            continue
        report = evaluate(
            data, list(models), spec.horizon, windows=spec.windows, season_length=spec.season_length,
            device=device, plot_series=0, progress=progress, ensemble=ensemble,
        )
        if report.ensemble is not None:
            print(f"suite: {name}: ensemble weights {report.ensemble.describe_weights()}")
        elif report.ensemble_note:
            print(f"suite: {name}: {report.ensemble_note}")
        parts.append(_dataset_rows(name, report))
    if not parts:
        raise InputError("no suite dataset is available: check shared_data or the datasets names")
    rows = pd.concat(parts, ignore_index=True)
    summary = _summary(rows)
    if output is not None:
        with staged_folder(output, KIND, overwrite) as stage:
            write_table(rows, stage / "suite.csv")
            write_table(summary, stage / "suite_summary.csv")
    return rows, summary


def _dataset_rows(name: str, report: EvaluationReport) -> pd.DataFrame:
    """One row per model of a dataset's leaderboard, with the ratios to the reference and ensemble weights."""
    board = report.leaderboard.set_index("model")
    ref = board.loc[REFERENCE]
    median_mase = _median_series_mase(report.result.scores).reindex(board.index)
    return pd.DataFrame({
        "dataset": name, "model": board.index, "MASE": board["MASE"].to_numpy(),
        "median_MASE": median_mase.to_numpy(),
        "WQL": board["WQL"].to_numpy(), "sMAPE": board["sMAPE"].to_numpy(),
        "rel_MASE": (board["MASE"] / ref["MASE"]).to_numpy(),
        "rel_WQL": (board["WQL"] / ref["WQL"]).to_numpy(),
        "coverage_80": board["coverage_80"].to_numpy(), "seconds": board["seconds"].to_numpy(),
        "weight": _weights(report.ensemble).reindex(board.index).to_numpy(),
    })


def _summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: datasets run, geometric means of rel_MASE and rel_WQL, total seconds; ranked by rel_WQL."""
    return (
        rows.groupby("model", sort=False)
        .agg(
            datasets=("dataset", "nunique"),
            gmean_rel_MASE=("rel_MASE", _gmean),
            gmean_rel_WQL=("rel_WQL", _gmean),
            seconds=("seconds", "sum"),
        )
        .sort_values("gmean_rel_WQL", kind="stable")
        .reset_index()
    )


def _weights(ensemble: EnsembleForecaster | None) -> pd.Series:
    """Weight of each model in ``ensemble`` by name: 0 for models it left out; empty without one."""
    if ensemble is None:
        return pd.Series(dtype=float)
    weights = pd.Series(dict(zip([m.name for m in ensemble.members], ensemble.weights)), dtype=float)
    scored = list(ensemble.report["member"]) if "member" in ensemble.report else list(weights.index)
    return weights.reindex([n for n in scored if n != ensemble.name]).fillna(0.0)  # its own row: NaN


def _median_series_mase(scores: pd.DataFrame) -> pd.Series:
    """Per model: the median over series of each series' MASE averaged over its windows."""
    per_series = scores.groupby(["model", "item_id"], sort=False)["MASE"].mean()
    return per_series.groupby(level="model", sort=False).median()


def _gmean(values: pd.Series) -> float:
    return float(np.exp(np.log(np.maximum(values.to_numpy(dtype=float), 1e-10)).mean()))


def format_suite(rows: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Text tables: mean MASE, median per-series MASE and WQL per dataset and model, then the
    geometric means."""
    order = list(summary["model"])

    def table(column: str, digits: int) -> str:
        return rows.pivot(index="dataset", columns="model", values=column)[order].round(digits).to_string()

    lines = [
        "MASE", table("MASE", 3), "",
        "median per-series MASE (a mean far above it: a few series dominate)", table("median_MASE", 3), "",
        "WQL", table("WQL", 4), "",
    ]
    lines.append("geometric mean across datasets, relative to seasonal naive (below 1 beats it)")
    lines.append(summary.round({"gmean_rel_MASE": 3, "gmean_rel_WQL": 3, "seconds": 1}).to_string(index=False))
    return "\n".join(lines)
