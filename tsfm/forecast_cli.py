"""``tsfm models`` and ``tsfm forecast``: the core's own commands.

:func:`add_parsers` is registered under the ``tsfm.commands`` entry-point group; nothing
heavy is imported until a handler runs.
"""

from __future__ import annotations

import argparse

from tsfm.bundled import DEFAULT_MODEL
from tsfm.cli_support import (
    add_covariate_flags,
    add_data_flags,
    add_model_flags,
    covariate_options,
    load_data,
    parse_levels,
    plot_series_option,
    season_of,
)
from tsfm.engines import add_engine_flags, run_engine


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``models`` and ``forecast`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser("models", help="list every registered model name and its kind")
    p.set_defaults(handler=run_models)

    p = sub.add_parser("forecast", help="forecast every series of a file and write the quantiles")
    add_data_flags(p)
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help="model name, local folder or hub id (default: %(default)s)"
    )
    p.add_argument("--output", required=True, help="where to write the forecast (.csv or .parquet)")
    p.add_argument(
        "--plot", default=None, metavar="PNG",
        help="also draw the history and forecast bands of some series into this PNG file",
    )
    p.add_argument(
        "--plot-series", default=None,
        help="series drawn by --plot: comma-separated item ids or a count of the longest series (default: 4)",
    )
    add_covariate_flags(p, forecast=True)
    add_model_flags(p)
    add_engine_flags(p)
    p.set_defaults(handler=run_forecast)


def run_models(args: argparse.Namespace) -> int:
    """Handler of ``tsfm models``."""
    from tsfm.registry import list_models

    for spec in list_models():
        print(f"{spec.name}\t{spec.kind}\t{spec.description}")
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    """Handler of ``tsfm forecast``: read, validate, forecast, write the quantiles (and a plot)."""
    from tsfm import data as tsdata
    from tsfm.outputs import check_file_target, check_not_input, check_table_output, write_table
    from tsfm.plots import pick_series
    from tsfm.registry import load

    if args.engine != "local":
        return run_engine("forecast", args)
    inputs = [args.data, args.future]
    output = check_table_output(args.output, inputs)
    if args.plot:
        check_not_input(args.plot, [*inputs, output], "--plot")
        check_file_target(args.plot, "--plot")
    options = covariate_options(args)
    covariates = None
    if args.future is not None or any(v for v in options.values()):
        from tsfm.covariate_frames import covariates_from_frames

        frame, covariates = covariates_from_frames(
            args.data, args.future, horizon=args.horizon, allow_missing_future=args.allow_missing_future,
            id_column=args.id_column, timestamp_column=args.timestamp_column, target_column=args.target_column,
            **options,
        )
    else:
        frame = load_data(args)
    if args.plot:
        pick_series(frame, plot_series_option(args.plot_series))  # unknown ids fail before the model runs
    freq = tsdata.infer_frequency(frame)
    season = season_of(args, frame)
    model = load(args.model, device=args.device, batch_size=args.batch_size, season_length=season)
    item_ids, series = tsdata.to_series(frame)
    forecast = model.predict_quantiles(series, args.horizon, parse_levels(args.quantiles), covariates=covariates)
    table = forecast.to_frame(item_ids, tsdata.future_timestamps(frame, args.horizon, freq))
    write_table(table, output, inputs=inputs)
    print(f"{model.name}: {forecast.n_series} series x {forecast.horizon} steps -> {output}")
    if args.plot:
        from tsfm.plots import plot_forecasts

        path = plot_forecasts(frame, table, args.plot, series=plot_series_option(args.plot_series))
        print(f"plot: {path}")
    return 0
