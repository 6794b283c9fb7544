"""The ``tsfm`` command.

Every subcommand parses flags, calls the Python API and prints a short report.
Errors that the user can fix print one line and exit with code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from tsfm.bundled import DEFAULT_MODEL
from tsfm.errors import InputError, TsfmError

QUICKSTART_DATA = "aeon:m1_yearly"
QUICKSTART_HORIZON = 6
QUICKSTART_MODELS = (DEFAULT_MODEL, "fracast-0", "naive", "auto-ets", "auto-theta")
# Modules that add subcommands: each defines ``add_parsers(sub)`` and imports nothing heavy
# (no torch) at module level, so ``tsfm --help`` stays fast.
COMMAND_MODULES = (
    "tsfm.pretraining.cli",
    "adapters.cli",
    "tasks.resilience_cli",
    "tasks.classification.cli",
    "distill.cli",
    "tasks.anomaly.cli",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return run_handler(f"tsfm {args.command}", args)


def run_handler(prog: str, args: argparse.Namespace) -> int:
    """Run ``args.handler``: a user-fixable error prints one line and returns 2 (re-raised with ``--debug``)."""
    try:
        return int(args.handler(args) or 0)
    except (TsfmError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted{getattr(args, 'interrupt_hint', '')}", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsfm",
        description="Pretrained time-series foundation models and classical baselines behind one contract.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list every registered model name and its kind")
    p.set_defaults(handler=_cmd_models)

    p = sub.add_parser("forecast", help="forecast every series of a file and write the quantiles")
    _add_data_flags(p)
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help="model name, local folder or hub id (default: %(default)s)"
    )
    p.add_argument("--output", required=True, help="where to write the forecast (.csv or .parquet)")
    _add_covariate_flags(p, forecast=True)
    _add_model_flags(p)
    p.set_defaults(handler=_cmd_forecast)

    p = sub.add_parser("evaluate", help="rolling-origin backtest of several models; writes a leaderboard")
    _add_data_flags(p)
    p.add_argument("--models", required=True, help="comma-separated model names, e.g. fracast-0,auto-ets")
    p.add_argument("--windows", type=int, default=1, help="rolling origins per series (default: %(default)s)")
    p.add_argument("--step", type=int, default=None, help="steps between origins (default: the horizon)")
    p.add_argument("--output", default="results", help="folder for leaderboard.csv, per_series.csv, forecasts.png")
    p.add_argument("--plot-series", type=int, default=4, help="series drawn in forecasts.png (0: no plot)")
    _add_covariate_flags(p, forecast=False)
    _add_model_flags(p)
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("quickstart", help="the main job offline: a shipped dataset, a shipped model, baselines")
    p.add_argument("--output", default="results/quickstart", help="folder for the report (default: %(default)s)")
    p.set_defaults(handler=_cmd_quickstart)

    p = sub.add_parser(
        "suite", help="zero-shot suite: several offline datasets, one table of MASE/WQL relative to seasonal naive"
    )
    p.add_argument(
        "--models", default=f"{DEFAULT_MODEL},fracast-0", help="comma-separated models (default: %(default)s)"
    )
    p.add_argument(
        "--shared-data", default=None,
        help="folder with m4/Hourly-*.csv and ett/ETTh1.csv; without it only the aeon-shipped sets run",
    )
    p.add_argument("--datasets", default=None, help="comma-separated subset of the suite's datasets (default: all)")
    p.add_argument("--output", default="results/suite", help="folder for suite.csv and suite_summary.csv")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.set_defaults(handler=_cmd_suite)

    p = sub.add_parser("bench", help="performance figures: wrapper overhead and batching speed-up")
    p.add_argument("which", choices=["overhead", "batching"], help="which benchmark to run")
    p.add_argument("--checkpoint", default=None, help="Chronos-Bolt folder (default: a generated one)")
    p.set_defaults(handler=_cmd_bench)

    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parsers(sub)
    return parser


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True,
        help="long-format .csv/.parquet (item_id,timestamp,target or unique_id,ds,y), "
        "aeon:<name>, hf:<dataset> or m4:<folder>",
    )
    p.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    p.add_argument("--id-column", default=None, help="series id column (default: item_id or unique_id)")
    p.add_argument("--timestamp-column", default=None, help="timestamp column (default: timestamp or ds)")
    p.add_argument("--target-column", default=None, help="target column (default: target or y)")


def _add_covariate_flags(p: argparse.ArgumentParser, forecast: bool) -> None:
    """Flags of in-context forecasting: covariates, groups of related series, several targets."""
    if forecast:
        p.add_argument(
            "--future", default=None,
            help="file with the known-future covariates: id, timestamp and those columns, --horizon rows per item",
        )
        known = "known-future covariate columns (default: the covariate columns of --future)"
    else:
        known = "known-future covariate columns; each window takes their future values from the data"
    p.add_argument("--covariates", default=None, help=f"comma-separated {known}")
    p.add_argument(
        "--past-covariates", default=None, help="comma-separated covariate columns observed in the past only"
    )
    p.add_argument(
        "--group-by", default=None,
        help="column constant per series (e.g. plant): series of a group are forecast jointly by Chronos-2",
    )
    p.add_argument("--targets", default=None, help="comma-separated target columns forecast jointly (multivariate)")
    if forecast:
        p.add_argument(
            "--allow-missing-future", action="store_true", help="accept gaps in the known-future values of --future"
        )


def _covariate_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``covariates_from_frames`` from the covariate flags."""

    def names(text: str | None) -> list[str] | None:
        return None if text is None else [x.strip() for x in text.split(",") if x.strip()]

    return {
        "covariates": names(args.covariates),
        "past_covariates": names(args.past_covariates) or [],
        "group_by": args.group_by,
        "targets": names(args.targets),
    }


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quantiles", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
        help="comma-separated quantile levels in (0, 1) (default: %(default)s)",
    )
    p.add_argument(
        "--season-length", type=int, default=None,
        help="seasonal period for baselines and MASE (default: from the data's frequency, e.g. 24 for hourly)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="series per forward pass (default: %(default)s)")


def _parse_levels(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--quantiles must be comma-separated numbers in (0, 1), got {text!r}") from None


def _load_data(args: argparse.Namespace):
    from tsfm import data as tsdata

    return tsdata.load_frame(
        args.data,
        id_column=args.id_column,
        timestamp_column=args.timestamp_column,
        target_column=args.target_column,
    )


def _cmd_models(args: argparse.Namespace) -> int:
    from tsfm.registry import list_models

    for spec in list_models():
        print(f"{spec.name}\t{spec.kind}\t{spec.description}")
    return 0


def _cmd_forecast(args: argparse.Namespace) -> int:
    from tsfm import data as tsdata
    from tsfm.registry import load

    output = Path(args.output)
    if output.suffix not in (".csv", ".parquet"):
        raise InputError(f"--output must end in .csv or .parquet, got {args.output!r}")
    options = _covariate_options(args)
    covariates = None
    if args.future is not None or any(v for v in options.values()):
        from tsfm.covariate_frames import covariates_from_frames

        frame, covariates = covariates_from_frames(
            args.data, args.future, horizon=args.horizon, allow_missing_future=args.allow_missing_future,
            id_column=args.id_column, timestamp_column=args.timestamp_column, target_column=args.target_column,
            **options,
        )
    else:
        frame = _load_data(args)
    freq = tsdata.infer_frequency(frame)
    season = args.season_length or tsdata.default_season_length(freq)
    model = load(args.model, device=args.device, batch_size=args.batch_size, season_length=season)
    item_ids, series = tsdata.to_series(frame)
    forecast = model.predict_quantiles(series, args.horizon, _parse_levels(args.quantiles), covariates=covariates)
    table = forecast.to_frame(item_ids, tsdata.future_timestamps(frame, args.horizon, freq))
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(output, index=False) if output.suffix == ".parquet" else table.to_csv(output, index=False)
    print(f"{model.name}: {forecast.n_series} series x {forecast.horizon} steps -> {output}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from tasks.evaluate import evaluate

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    options = _covariate_options(args)
    if any(v for v in options.values()):
        from tsfm import data as tsdata

        data = tsdata.read_table(args.data)
        renames = {args.id_column: "item_id", args.timestamp_column: "timestamp", args.target_column: "target"}
        data = data.rename(columns={k: v for k, v in renames.items() if k is not None})
    else:
        data = _load_data(args)
    report = evaluate(
        data, names, args.horizon, windows=args.windows, step=args.step,
        season_length=args.season_length, quantile_levels=_parse_levels(args.quantiles),
        output=args.output, device=args.device, batch_size=args.batch_size, plot_series=args.plot_series,
        **options,
    )
    _print_report(report)
    return 0


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from tasks.evaluate import evaluate

    print(f"quickstart: {QUICKSTART_DATA}, horizon {QUICKSTART_HORIZON}, models {', '.join(QUICKSTART_MODELS)}")
    report = evaluate(QUICKSTART_DATA, list(QUICKSTART_MODELS), QUICKSTART_HORIZON, output=args.output)
    _print_report(report)
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from tasks.suite import format_suite, run_suite

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    chosen = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None
    rows, summary = run_suite(names, args.shared_data, chosen, args.output, device=args.device)
    print(format_suite(rows, summary))
    print(f"tables: {Path(args.output) / 'suite.csv'}, {Path(args.output) / 'suite_summary.csv'}")
    return 0


def _print_report(report) -> None:
    from tasks.leaderboard import format_leaderboard

    result = report.result
    n_items = result.scores["item_id"].nunique()
    print(
        f"\n{n_items} series, {result.config.windows} window(s), horizon {result.config.horizon}, "
        f"season length {report.season_length}"
        + (f", {result.skipped} (series, window) pairs too short and skipped" if result.skipped else "")
    )
    print(format_leaderboard(report.leaderboard))
    for label, path in report.files.items():
        print(f"{label}: {path}")


def _cmd_bench(args: argparse.Namespace) -> int:
    from tsfm import benchmarks

    if args.which == "overhead":
        benchmarks.wrapper_overhead(args.checkpoint)
    else:
        benchmarks.batching_speedup(args.checkpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
