"""What every ``tsfm`` subcommand shares: the data and model flags, and the one failure path.

Commands are plug-ins: each layer (core, adapters, distill, tasks) declares its
``add_parsers(sub)`` functions under the ``tsfm.commands`` entry-point group in
``pyproject.toml``, and :mod:`tsfm.tasks.cli` finds them. This module only offers the
pieces they have in common, so a command of any layer imports it without reaching up.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from tsfm.errors import InputError, TsfmError

DEFAULT_LEVELS = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
DATA_HELP = (
    "long-format .csv/.parquet (item_id,timestamp,target or unique_id,ds,y; separator detected), "
    "aeon:<name> (e.g. aeon:airline), hf:<folder or hub id>, m4:<folder>[:Hourly|Daily|Weekly|Monthly|"
    "Quarterly|Yearly] (default Hourly)"
)


def run_handler(prog: str, args: argparse.Namespace) -> int:
    """Run ``args.handler``: every failure prints one line and returns 2 (re-raised with ``--debug``).

    A :class:`~tsfm.errors.TsfmError` carries a message written for the user. Any other
    exception is a failure the user still meets on the command line: it is printed on one
    line with its type, so that no command ever ends in a traceback unless ``--debug`` asks.
    """
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"interrupted{getattr(args, 'interrupt_hint', '')}", file=sys.stderr)
        return 130
    except Exception as exc:  # the one failure path of the command line
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """A one-line description of ``exc``: the message alone for our own errors, else type and message."""
    if isinstance(exc, TsfmError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename!s}"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"input is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
    elif isinstance(exc, MemoryError):
        text = "out of memory; use a smaller --batch-size or less data"
    else:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        place = f" (in {where.name}, {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
        text = f"unexpected {type(exc).__name__}: {exc}{place}; rerun with --debug for the traceback"
    return " ".join(text.split())


def names(text: str | None) -> list[str] | None:
    """Comma-separated names, stripped, empty ones dropped; ``None`` stays ``None``."""
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def plot_series_option(text: str | None) -> int | list[str] | None:
    """``--plot-series``: a count of series, a list of item ids, or ``None`` (the plot chooses)."""
    if text is None:
        return None
    text = text.strip()
    if text.lstrip("-").isdigit():
        count = int(text)
        if count < 0:
            raise InputError(f"--plot-series must be a count >= 0 or comma-separated item ids, got {text!r}")
        return count
    return names(text) or []


def add_max_history_flag(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--max-history``: most values a classical baseline is fitted on (:func:`tsfm.rolling.history_cap`)."""
    from tsfm.rolling import DEFAULT_MAX_HISTORY  # light: numpy, pandas

    p.add_argument(
        "--max-history", type=history_option, default=DEFAULT_MAX_HISTORY,
        help=f"{prefix}most values (the last ones) a classical baseline is fitted on per window; 'all' for no "
        "cap (default: %(default)s)",
    )


def history_option(text: str) -> int | None:
    """``--max-history``: a positive integer, or ``all`` (``None``: no cap)."""
    if text.strip().lower() in ("all", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return value


def seconds_option(text: str) -> float | None:
    """A time budget: a positive number of seconds, or ``none`` (``None``: no limit)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or 'none', got {text!r}")
    return value


def add_data_flags(p: argparse.ArgumentParser, horizon: bool = True) -> None:
    """``--data`` and its column names, and ``--horizon`` unless ``horizon=False``."""
    p.add_argument("--data", required=True, help=DATA_HELP)
    if horizon:
        p.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    p.add_argument("--id-column", default=None, help="series id column (default: item_id or unique_id)")
    p.add_argument("--timestamp-column", default=None, help="timestamp column (default: timestamp or ds)")
    p.add_argument("--target-column", default=None, help="target column (default: target or y)")
    p.add_argument(
        "--timestamp-unit", default=None, choices=["s", "ms", "us", "ns"],
        help="integer timestamps are epoch times in this unit (default: integer timestamps are step numbers)",
    )
    p.add_argument(
        "--fill-gaps", action="store_true",
        help="insert missing timestamps as NaN rows (models treat NaN as missing) instead of refusing gaps",
    )


def add_model_flags(p: argparse.ArgumentParser, quantiles: bool = True) -> None:
    """``--quantiles`` (optional), ``--season-length``, ``--device`` and ``--batch-size``."""
    if quantiles:
        p.add_argument(
            "--quantiles", default=DEFAULT_LEVELS,
            help="comma-separated quantile levels in (0, 1) (default: %(default)s)",
        )
    p.add_argument(
        "--season-length", type=int, default=None,
        help="seasonal period for baselines and MASE (default: from the timestamps, e.g. 24 for hourly; "
        "1 when they are step numbers, and the output says so)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="series per forward pass (default: %(default)s)")


def add_covariate_flags(p: argparse.ArgumentParser, forecast: bool) -> None:
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


def covariate_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``covariates_from_frames`` from the covariate flags."""
    return {
        "covariates": names(args.covariates),
        "past_covariates": names(args.past_covariates) or [],
        "group_by": args.group_by,
        "targets": names(args.targets),
    }


def parse_levels(text: str) -> list[float]:
    """``--quantiles`` as floats; the range is checked where the levels are used."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--quantiles must be comma-separated numbers in (0, 1), got {text!r}") from None


def load_data(args: argparse.Namespace):
    """The long frame of ``--data`` with the column flags applied."""
    from tsfm import data as tsdata

    options = {"timestamp_unit": args.timestamp_unit} if getattr(args, "timestamp_unit", None) else {}
    if getattr(args, "fill_gaps", False):
        options["fill_gaps"] = "nan"
    return tsdata.load_frame(
        args.data,
        id_column=args.id_column,
        timestamp_column=args.timestamp_column,
        target_column=args.target_column,
        **options,
    )


def season_of(args: argparse.Namespace, frame) -> int:
    """``--season-length`` or the one the timestamps imply; says so on stderr when it falls back to 1."""
    from tsfm import data as tsdata

    if args.season_length is not None:
        return args.season_length
    freq = tsdata.infer_frequency(frame)
    season = tsdata.default_season_length(freq)
    if freq is None:
        hint = tsdata.epoch_timestamp_hint(frame)
        print(
            "note: timestamps are step numbers, so the season length is 1; pass --season-length "
            "(e.g. 24 for hourly data) or --timestamp-unit for epoch times" + (f". {hint}" if hint else ""),
            file=sys.stderr,
        )
    return season


def read_series(args: argparse.Namespace) -> tuple[list[str], list, int]:
    """``(item_ids, series, season)`` of ``--data``; the season is ``--season-length`` or the timestamps'."""
    from tsfm import data as tsdata

    frame = load_data(args)
    season = season_of(args, frame)
    ids, series = tsdata.to_series(frame)
    return ids, series, season
