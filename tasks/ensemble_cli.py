"""``tsfm ensemble``: weight several models on rolling validation windows and save the ensemble.

:func:`add_parsers` is registered under the ``tsfm.commands`` entry-point group; nothing heavy
is imported until the handler runs.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from tsfm.cli_support import add_data_flags, add_max_history_flag, add_model_flags, names, parse_levels, read_series
from tsfm.errors import InputError

# RollingWindows names its fields; on the command line they are these flags.
_FLAGS = {
    "RollingWindows.horizon": "--horizon", "RollingWindows.windows": "--windows", "RollingWindows.step": "--step",
    "RollingWindows.min_train_length": "--min-train-length", "RollingWindows.max_context": "--max-context",
    "max_iter": "--max-iter", "shrinkage": "--shrinkage", "tolerance": "--tolerance", "method": "--method",
    "top_k": "--top-k", "point_min_windows": "--point-min-windows",
}
TABLE_COLUMNS = [
    "member", "weight", "point_weight", "MASE", "WQL", "coverage_80", "windows", "failed", "seconds", "status",
]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``ensemble`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser(
        "ensemble",
        help="weight several models on rolling validation windows (joint-top-k, top-k or greedy selection); "
        "saves a folder that tsfm.load, forecast and evaluate accept",
        description="Validation windows are cut from the end of --data: pass only data you will not score "
        "the ensemble on (e.g. the training part), so its weights are not chosen on the test.",
    )
    add_data_flags(p)
    p.add_argument(
        "--models", required=True,
        help="comma-separated members: registered names or model folders/files, e.g. tsfm-bolt-mini,seasonal-naive",
    )
    p.add_argument("--windows", type=int, default=5, help="validation windows per series (default: %(default)s)")
    p.add_argument("--step", type=int, default=None, help="steps between window origins (default: the horizon)")
    p.add_argument(
        "--min-train-length", type=int, default=None,
        help="fewest values before a window's origin; shorter windows are skipped (default: 1)",
    )
    p.add_argument("--max-context", type=int, default=None, help="longest context given to members (default: all)")
    add_max_history_flag(p)
    add_selection_flags(p)
    p.add_argument("--max-iter", type=int, default=100, help="greedy selection steps (default: %(default)s)")
    p.add_argument(
        "--shrinkage", type=float, default=0.5,
        help="share of equal weights over the selected members blended into the greedy weights, in [0, 1] "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--tolerance", type=float, default=0.01,
        help="keep the fewest greedy additions whose validation WQL is within this share of the best "
        "(default: %(default)s)",
    )
    p.add_argument("--name", default="ensemble", help="name in forecasts and reports (default: %(default)s)")
    p.add_argument("--output", required=True, help="folder for ensemble.json")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    add_model_flags(p)
    p.set_defaults(handler=run_ensemble)


def add_selection_flags(p: argparse.ArgumentParser) -> None:
    """``--method``, ``--top-k`` and ``--point-min-windows`` (shared with ``tsfm bench ensemble``)."""
    from tsfm.ensemble_selection import DEFAULT_METHOD, DEFAULT_POINT_MIN_WINDOWS, DEFAULT_TOP_K, METHODS

    p.add_argument(
        "--method", default=DEFAULT_METHOD, choices=METHODS,
        help="joint-top-k: equal weights over the --top-k members ranked on validation WQL and MASE together; "
        "top-k: the same ranked on WQL alone; greedy: greedy ensemble "
        "selection (--max-iter, --shrinkage, --tolerance) (default: %(default)s)",
    )
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K,
                   help="members kept by joint-top-k and top-k (default: %(default)s)")
    p.add_argument(
        "--point-min-windows", type=_optional_count, default=DEFAULT_POINT_MIN_WINDOWS,
        help="scored validation windows (series x origins) from which the point forecast "
        "(median, mean) gets weights of its own, chosen on MASE; 'none': never (default: %(default)s)",
    )


def _optional_count(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None


def run_ensemble(args: argparse.Namespace) -> int:
    """Handler of ``tsfm ensemble``: check everything cheap first, then fit, print and save."""
    from tsfm.ensemble import fit_ensemble
    from tsfm.outputs import check_not_input, check_output_folder
    from tsfm.rolling import RollingWindows

    members = names(args.models) or []
    if not members:
        raise InputError("--models is empty: pass comma-separated model names or paths (see `tsfm models`)")
    with _flag_names():
        config = RollingWindows(args.horizon, args.windows, args.step, args.min_train_length, args.max_context)
    check_not_input(args.output, [args.data])
    check_output_folder(args.output, "ensemble", args.overwrite)
    ids, series, season = read_series(args)
    with _flag_names():
        ensemble = fit_ensemble(
            members, series, config, parse_levels(args.quantiles), season, max_iter=args.max_iter,
            shrinkage=args.shrinkage, tolerance=args.tolerance, point_min_windows=args.point_min_windows,
            method=args.method, top_k=args.top_k, item_ids=ids, name=args.name, device=args.device,
            batch_size=args.batch_size, max_history=args.max_history,
        )
    print(
        f"\n{len(series)} series, {args.windows} validation window(s) each, horizon {args.horizon}, "
        f"season length {season}"
    )
    print(format_report(ensemble.report))
    print("weights: " + ", ".join(f"{r} {w:.3f}" for r, w in zip(ensemble.refs, ensemble.weights)))
    if ensemble.point_weights is not ensemble.weights:
        print("point weights (median, mean): " + ", ".join(
            f"{r} {w:.3f}" for r, w in zip(ensemble.refs, ensemble.point_weights)))
    folder = ensemble.save(args.output, overwrite=args.overwrite)
    print(f"saved: {Path(folder) / 'ensemble.json'} (tsfm.load, tsfm forecast --model and tsfm evaluate --models "
          f"accept {str(folder)!r})")
    return 0


def format_report(report) -> str:
    """The validation table: one row per candidate member, then the ensemble."""
    table = report[[c for c in TABLE_COLUMNS if c in report.columns]]
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")


@contextlib.contextmanager
def _flag_names() -> Iterator[None]:
    """Re-raise config errors with the command-line flag instead of the field name."""
    try:
        yield
    except InputError as exc:
        text = str(exc)
        for field, flag in _FLAGS.items():
            if text.startswith(field + " "):
                raise InputError(flag + text[len(field):]) from None
        raise
