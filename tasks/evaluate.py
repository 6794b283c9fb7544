"""``evaluate``: data -> models -> rolling backtest -> leaderboard -> files.

This is what ``tsfm evaluate`` and ``tsfm quickstart`` run. Seasonal naive is always
scored as the reference of the relative columns, added to the run if not requested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm import data as tsdata
from tsfm.contract import Forecaster
from tsfm.covariate_frames import covariates_from_frames
from tsfm.covariates import Covariates
from tsfm.ensemble import EnsembleForecaster, fit_ensemble
from tsfm.errors import InputError
from tsfm.outputs import check_folder_output, staged_folder, write_table
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.registry import load, resolve_model
from tsfm.rolling import DEFAULT_MAX_HISTORY, RollingWindows, holdout
from tsfm.tasks.backtest import BacktestConfig, BacktestResult, Window, run_backtest
from tsfm.tasks.leaderboard import leaderboard
from tsfm.tasks.plots import plot_forecasts

REFERENCE = "seasonal-naive"
KIND = "evaluate"  # the kind of run named in the output folder's marker
ENSEMBLE = "ensemble"  # the name of the ensemble's row
VALIDATION_WINDOWS = 5  # windows a horizon apart before the scored ones that the ensemble is chosen on (where they fit)
DENSE_WINDOWS = 20  # with few series: windows a quarter of a horizon apart, over the same span
MIN_VALIDATION_ROWS = 30  # series x windows under which the validation windows are made dense


@dataclass
class EvaluationReport:
    """What an evaluation produced."""

    leaderboard: pd.DataFrame
    result: BacktestResult
    season_length: int
    files: dict[str, Path] = field(default_factory=dict)
    ensemble: EnsembleForecaster | None = None  # when asked for: weighted on windows before the scored ones
    ensemble_note: str = ""  # why no ensemble was scored, when it was asked for and could not be fitted


def evaluate(
    data: pd.DataFrame | str, models: Sequence[str | Forecaster], horizon: int, *, windows: int = 1,
    step: int | None = None, season_length: int | None = None,
    quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS, output: str | Path | None = None,
    device: str = "auto", batch_size: int = 256, plot_series: int | Sequence[str] = 4, progress: bool = True,
    covariates: Sequence[str] | None = None, past_covariates: Sequence[str] = (), group_by: str | None = None,
    targets: Sequence[str] | None = None, overwrite: bool = False, max_history: int | None = DEFAULT_MAX_HISTORY,
    time_budget: float | None = None, ensemble: bool = False,
) -> EvaluationReport:
    """Backtest ``models`` on ``data`` and rank them.

    Parameters
    ----------
    data
        Long-format frame or a source understood by :func:`tsfm.data.load_frame`
        (CSV/parquet path, ``aeon:<name>``, ``hf:<dataset>``).
    models
        Model names (see ``tsfm models``, local folders) or loaded forecasters.
    horizon, windows, step
        Rolling-origin settings, see :class:`tsfm.tasks.backtest.BacktestConfig`.
    season_length
        Season for MASE and the baselines; default inferred from the frequency.
    output
        Folder for ``leaderboard.csv``, ``per_series.csv`` and ``forecasts.png``;
        nothing is written when ``None``. It is checked before the backtest starts and
        written whole at the end (see :func:`tsfm.outputs.staged_folder`): a killed run
        leaves the earlier folder as it was, and a re-run leaves no file of the earlier one.
    plot_series
        Series drawn in ``forecasts.png``: a count (the series with the highest MASE on the
        last window; 0 draws nothing) or item ids.
    overwrite
        Replace an ``output`` folder that holds files of another kind of run.
    max_history, time_budget
        Most values a classical baseline is fitted on (``None``: all) and seconds of forecasting
        per model before it stops with a note in the leaderboard (``None``: no limit); see
        :func:`tsfm.tasks.backtest.run_backtest`.
    ensemble
        Add a row ``ensemble``: :func:`tsfm.ensemble.fit_ensemble` of every model evaluated (seasonal
        naive included), its weights chosen on :data:`VALIDATION_WINDOWS` rolling windows of the data
        *before* the earliest scored window (:func:`tsfm.rolling.holdout`), then backtested on the same
        windows as each member. Where no validation window fits, the report's ``ensemble_note`` says
        so and the members are ranked alone. Not with covariates.
    covariates, past_covariates, group_by, targets
        Known-future and past-only covariate columns, the column whose value groups
        related series for joint (cross-learning) forecasts, and several target
        columns forecast jointly; see :func:`tsfm.covariate_frames.covariates_from_frames`.
        Known-future values in each window come from the data. Models that cannot use
        them warn and forecast without them.
    """
    if output is not None:
        check_folder_output(output, KIND, overwrite, inputs=[data] if isinstance(data, (str, Path)) else ())
    frame, extra = _read_data(data, covariates, past_covariates, group_by, targets)
    if ensemble and extra is not None:
        raise InputError("ensemble=True does not take covariates, group_by or targets yet; leave one of them out")
    if season_length is None:
        season_length = tsdata.default_season_length(tsdata.infer_frequency(frame))
    config = BacktestConfig(horizon, windows, step, season_length, tuple(quantile_levels))
    loaded = _load_models(models, device, batch_size, season_length)
    item_ids, series = tsdata.to_series(frame)
    _check_plot_series(plot_series, item_ids)
    fitted, note = _fit_ensemble(loaded, series, item_ids, config, max_history) if ensemble else (None, "")
    result = run_backtest(
        loaded + ([fitted] if fitted is not None else []), series, config, item_ids, progress=progress,
        covariates=extra, max_history=max_history, time_budget=time_budget,
    )
    board = leaderboard(result.scores, result.seconds, REFERENCE, result.notes)
    report = EvaluationReport(board, result, season_length, ensemble=fitted, ensemble_note=note)
    if output is not None:
        report.files = write_report(report, Path(output), item_ids, plot_series, frame, overwrite)
    return report


def _read_data(
    data: pd.DataFrame | str, covariates: Sequence[str] | None, past_covariates: Sequence[str],
    group_by: str | None, targets: Sequence[str] | None,
) -> tuple[pd.DataFrame, Covariates | None]:
    """The canonical frame, and its covariates when any column, group or extra target is named."""
    if not (covariates or past_covariates or group_by is not None or targets is not None):
        return tsdata.load_frame(data), None
    return covariates_from_frames(
        data, covariates=list(covariates or []), past_covariates=past_covariates, group_by=group_by, targets=targets,
    )


def _load_models(
    models: Sequence[str | Forecaster], device: str, batch_size: int, season_length: int
) -> list[Forecaster]:
    """Every model loaded (names through ``tsfm.load``), plus the reference every score is relative to."""
    if not models:
        raise InputError("models is empty: name at least one model, e.g. seasonal-naive,fracast-0")
    loaded = [resolve_model(m, device=device, batch_size=batch_size, season_length=season_length) for m in models]
    if REFERENCE not in [m.name for m in loaded]:
        loaded.append(load(REFERENCE, season_length=season_length))
    return loaded


def _check_plot_series(plot_series: int | Sequence[str], item_ids: list[str]) -> None:
    if not isinstance(plot_series, int):
        unknown = [s for s in plot_series if s not in item_ids]
        if unknown:
            raise InputError(f"--plot-series {unknown} are not in the data; its first item ids: {item_ids[:5]}")


def _fit_ensemble(
    members: Sequence[Forecaster], series: Sequence[np.ndarray], item_ids: Sequence[str], config: BacktestConfig,
    max_history: int | None = DEFAULT_MAX_HISTORY,
) -> tuple[EnsembleForecaster | None, str]:
    """The ensemble of ``members`` weighted on windows before the scored ones, or None and why not.

    The scored windows are those of :func:`~tsfm.tasks.backtest.make_windows` (origins at least
    ``season_length + 1`` values in); :func:`~tsfm.rolling.holdout` keeps each series' values
    before its earliest one, so no scored observation reaches the weights. Validation windows start
    where every member has the observations it needs (its ``min_observations``). Classical
    baselines are fitted on the last ``max_history`` values, as in the backtest.
    """
    scored = RollingWindows(config.horizon, config.windows, config.step, min_train_length=config.season_length + 1)
    # Validation windows every member can forecast: a member refusing a short context would be
    # retried series by series (slow: fracast-0 spent 8 minutes so on M1 yearly) and left out there.
    fewest = max([config.season_length + 1] + [int(getattr(m, "min_observations", 1) or 1) for m in members])
    validation = validation_windows(len(series), config.horizon, config.stride, fewest)
    try:
        fitted = fit_ensemble(
            list(members), holdout(series, scored), validation, config.quantile_levels, config.season_length,
            item_ids=item_ids, name=ENSEMBLE, max_history=max_history,
        )
    except InputError as exc:
        return None, f"no ensemble: {exc}"
    return fitted, ""


def validation_windows(n_series: int, horizon: int, step: int, min_train_length: int) -> RollingWindows:
    """The windows an evaluation's ensemble is chosen on, before the scored ones.

    :data:`VALIDATION_WINDOWS` windows ``step`` apart; where that makes fewer than
    :data:`MIN_VALIDATION_ROWS` (series x windows), as on a single series, :data:`DENSE_WINDOWS`
    windows :func:`dense_step` apart over the same span, so the choice rests on more origins
    (overlapping, but each one a forecast the members make).
    """
    if n_series * VALIDATION_WINDOWS >= MIN_VALIDATION_ROWS:
        return RollingWindows(horizon, VALIDATION_WINDOWS, step, min_train_length=min_train_length)
    return RollingWindows(horizon, DENSE_WINDOWS, dense_step(step), min_train_length=min_train_length)


def dense_step(step: int) -> int:
    """The largest divisor of ``step`` that is at most a quarter of it (1 below 8), so every
    ``step``-apart origin is among the dense ones."""
    return max(d for d in range(1, step + 1) if step % d == 0 and 4 * d <= max(step, 4))


def write_report(
    report: EvaluationReport, folder: Path, item_ids: Sequence[str], plot_series: int | Sequence[str],
    frame: pd.DataFrame | None = None, overwrite: bool = False,
) -> dict[str, Path]:
    """Write the leaderboard, per-series scores and the forecast plot as the folder ``folder``.

    Everything is written into a staging folder that replaces ``folder`` only when complete.
    ``frame`` (the evaluated long frame) gives the plot its dates.
    """
    names = {"leaderboard": "leaderboard.csv", "per_series": "per_series.csv"}
    if report.ensemble is not None:
        names["ensemble"] = "ensemble.csv"  # members, weights and validation scores
    draw = plot_series if not isinstance(plot_series, int) else plot_series > 0
    if draw:
        names["plot"] = "forecasts.png"
    with staged_folder(folder, KIND, overwrite) as stage:
        write_table(report.leaderboard, stage / names["leaderboard"])
        write_table(report.result.scores, stage / names["per_series"])
        if report.ensemble is not None:
            write_table(report.ensemble.report, stage / "ensemble.csv")
        if draw:
            window = report.result.last_window
            ids = [item_ids[p] for p in window.positions]
            last = report.result.scores
            last = last[last["window"] == window.index]
            plot_forecasts(
                window.contexts, window.targets, report.result.last_forecasts, ids, stage / names["plot"],
                series=plot_series, timestamps=_window_stamps(frame, window), scores=last,
            )
    return {label: folder / name for label, name in names.items()}


def _window_stamps(frame: pd.DataFrame | None, window: Window) -> list[np.ndarray] | None:
    """Per series of ``window``: its timestamps up to the end of the window's target."""
    if frame is None:
        return None
    stamps = [g.to_numpy() for _, g in frame.groupby(tsdata.ID, sort=False)[tsdata.TIMESTAMP]]
    horizon = window.targets.shape[1]
    return [stamps[p][: len(c) + horizon] for p, c in zip(window.positions, window.contexts)]
