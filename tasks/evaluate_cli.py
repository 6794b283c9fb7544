"""``tsfm evaluate``, ``quickstart`` and ``suite``: backtests and leaderboards from the command line.

:func:`add_parsers` is registered under the ``tsfm.commands`` entry-point group; nothing
heavy is imported until a handler runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsfm.bundled import DEFAULT_MODEL
from tsfm.cli_support import (
    add_covariate_flags,
    add_data_flags,
    add_max_history_flag,
    add_model_flags,
    covariate_options,
    load_data,
    names,
    parse_levels,
    plot_series_option,
)

QUICKSTART_DATA = "aeon:m1_yearly"
QUICKSTART_HORIZON = 6
# tsfm-chronos2-mini is left out of both defaults: as a member it made the quickstart's ensemble worse on
# WQL (0.1447 against 0.1300 on M1 yearly) and the suite's no better on WQL (see the README's Ensembles)
QUICKSTART_MODELS = (DEFAULT_MODEL, "fracast-0", "naive", "auto-ets", "auto-theta")
SUITE_MODELS = (DEFAULT_MODEL, "fracast-0")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``quickstart`` and ``suite`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser("evaluate", help="rolling-origin backtest of several models; writes a leaderboard")
    add_data_flags(p)
    p.add_argument("--models", required=True, help="comma-separated model names, e.g. fracast-0,auto-ets")
    p.add_argument("--windows", type=int, default=1, help="rolling origins per series (default: %(default)s)")
    p.add_argument("--step", type=int, default=None, help="steps between origins (default: the horizon)")
    p.add_argument(
        "--output", default="results/evaluate",
        help="folder for leaderboard.csv, per_series.csv, forecasts.png (default: %(default)s; results/ also "
        "holds quickstart's and the suite's folders, which a run into results/ itself would replace)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.add_argument(
        "--plot-series", default="4",
        help="series drawn in forecasts.png: a count (the longest ones; 0 = no plot) or comma-separated ids "
        "(default: %(default)s)",
    )
    add_limit_flags(p)
    add_covariate_flags(p, forecast=False)
    add_model_flags(p)
    p.set_defaults(handler=run_evaluate)

    p = sub.add_parser("quickstart", help="the main job offline: a shipped dataset, a shipped model, baselines")
    add_ensemble_flag(p)
    p.add_argument("--output", default="results/quickstart", help="folder for the report (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.set_defaults(handler=run_quickstart)

    p = sub.add_parser(
        "suite", help="zero-shot suite: several offline datasets, one table of MASE/WQL relative to seasonal naive"
    )
    p.add_argument(
        "--models", default=",".join(SUITE_MODELS), help="comma-separated models (default: %(default)s)"
    )
    p.add_argument(
        "--shared-data", default=None,
        help="folder with m4/Hourly-*.csv and ett/ETTh1.csv; without it only the aeon-shipped sets run",
    )
    p.add_argument("--datasets", default=None, help="comma-separated subset of the suite's datasets (default: all)")
    p.add_argument("--output", default="results/suite", help="folder for suite.csv and suite_summary.csv")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    add_ensemble_flag(p)
    p.set_defaults(handler=run_suite_command)


def add_ensemble_flag(p: argparse.ArgumentParser) -> None:
    """``--no-ensemble``: leave out the row ``ensemble`` (the evaluated models, weighted on earlier windows)."""
    p.add_argument(
        "--no-ensemble", dest="ensemble", action="store_false",
        help="leave out the ensemble of the evaluated models (weights chosen on windows before the scored ones)",
    )


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    """``--max-history`` and ``--time-budget``: a backtest that never hangs silently."""
    add_max_history_flag(p)
    p.add_argument(
        "--time-budget", type=float, default=None, metavar="SECONDS",
        help="seconds of forecasting per model; a model past it stops after its current window and the "
        "leaderboard's note says so (default: no limit)",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``tsfm evaluate``."""
    from tsfm.outputs import check_folder_output
    from tsfm.tasks.evaluate import KIND, evaluate

    check_folder_output(args.output, KIND, args.overwrite, inputs=[args.data])  # before the data is read
    options = covariate_options(args)
    if any(v for v in options.values()):
        from tsfm import data as tsdata

        data = tsdata.read_table(args.data)
        renames = {args.id_column: "item_id", args.timestamp_column: "timestamp", args.target_column: "target"}
        data = data.rename(columns={k: v for k, v in renames.items() if k is not None})
    else:
        data = load_data(args)
    report = evaluate(
        data, names(args.models) or [], args.horizon, windows=args.windows, step=args.step,
        season_length=args.season_length, quantile_levels=parse_levels(args.quantiles),
        output=args.output, device=args.device, batch_size=args.batch_size,
        plot_series=plot_series_option(args.plot_series), overwrite=args.overwrite,
        max_history=args.max_history, time_budget=args.time_budget, **options,
    )
    print_report(report)
    return 0


def run_quickstart(args: argparse.Namespace) -> int:
    """Handler of ``tsfm quickstart``."""
    from tsfm.tasks.evaluate import evaluate

    print(f"quickstart: {QUICKSTART_DATA}, horizon {QUICKSTART_HORIZON}, models {', '.join(QUICKSTART_MODELS)}")
    report = evaluate(
        QUICKSTART_DATA, list(QUICKSTART_MODELS), QUICKSTART_HORIZON, output=args.output, overwrite=args.overwrite,
        ensemble=args.ensemble,
    )
    print_report(report)
    return 0


def run_suite_command(args: argparse.Namespace) -> int:
    """Handler of ``tsfm suite``."""
    from tsfm.tasks.suite import format_suite, run_suite

    rows, summary = run_suite(names(args.models) or [], args.shared_data, names(args.datasets), args.output,
                              device=args.device, overwrite=args.overwrite, ensemble=args.ensemble)
    print(format_suite(rows, summary))
    print(f"tables: {Path(args.output) / 'suite.csv'}, {Path(args.output) / 'suite_summary.csv'}")
    return 0


def print_report(report) -> None:
    """The leaderboard of an :class:`~tsfm.tasks.evaluate.EvaluationReport` and where its files are."""
    from tsfm.tasks.leaderboard import format_leaderboard

    result = report.result
    n_items = result.scores["item_id"].nunique()
    print(
        f"\n{n_items} series, {result.config.windows} window(s), horizon {result.config.horizon}, "
        f"season length {report.season_length}"
        + (f", {result.skipped} (series, window) pairs too short and skipped" if result.skipped else "")
    )
    print(format_leaderboard(report.leaderboard))
    if report.ensemble is not None:
        print(f"ensemble weights (chosen on windows before the scored ones): {report.ensemble.describe_weights()}")
    if report.ensemble_note:
        print(report.ensemble_note)
    for label, path in report.files.items():
        print(f"{label}: {path}")
