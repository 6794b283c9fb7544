"""``tsfm calibrate`` and ``fallback``: adapters that make a model safer, from the command line.

:func:`add_parsers` is registered under the ``tsfm.commands`` entry-point group; nothing heavy
is imported until a handler runs.
"""

from __future__ import annotations

import argparse

from tsfm.bundled import DEFAULT_MODEL
from tsfm.cli_support import add_data_flags, add_model_flags, read_series
from tsfm.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and ``fallback`` to a ``tsfm`` sub-parser set."""
    for add in (_add_calibrate, _add_fallback):
        add(sub)


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="conformal calibration of a model's quantiles; writes a model folder tsfm.load accepts",
        description="Calibrates on rolling windows of the history BEFORE the last --eval-windows windows, "
        "then prints interval coverage and width before and after on those held-out windows.",
    )
    add_data_flags(p)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model to calibrate (default: %(default)s)")
    p.add_argument("--output", required=True, help="folder to write the calibrated model to")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.add_argument("--method", choices=["split", "adaptive"], default="split", help="(default: %(default)s)")
    p.add_argument("--windows", type=int, default=5, help="calibration windows per series (default: %(default)s)")
    p.add_argument("--step", type=int, default=None, help="steps between calibration origins (default: horizon)")
    p.add_argument("--memory", type=int, default=3, help="adaptive: latest windows used (default: %(default)s)")
    p.add_argument("--eval-windows", type=int, default=1, help="held-out windows at the end (default: %(default)s)")
    p.add_argument("--coverage", type=float, default=0.8, help="interval reported (default: %(default)s)")
    add_model_flags(p, quantiles=False)
    p.set_defaults(handler=run_calibrate)


def _add_fallback(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fallback", help="route series between a primary model and a fallback; mean and worst-decile MASE of each"
    )
    add_data_flags(p)
    p.add_argument("--primary", default=DEFAULT_MODEL, help="primary model (default: %(default)s)")
    p.add_argument("--fallback", default="seasonal-naive", help="fallback model (default: %(default)s)")
    p.add_argument("--max-backtest-ratio", type=float, default=1.0,
                   help="reroute when primary's self-backtest error > this x fallback's; 0 = off (default: 1.0)")
    p.add_argument("--max-relative-width", type=float, default=0.0,
                   help="reroute when the 80%% interval is wider than this many scales; 0 = off (default)")
    p.add_argument("--output", default=None, help="folder for routing.csv and per_series.csv (default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    add_model_flags(p, quantiles=False)
    p.set_defaults(handler=run_fallback)


def run_calibrate(args: argparse.Namespace) -> int:
    """Handler of ``tsfm calibrate``."""
    from tsfm.adapters.calibration import CalibrationConfig, calibrate, coverage_report
    from tsfm.outputs import check_folder_output, staged_folder
    from tsfm.registry import load

    if args.eval_windows < 1:
        raise InputError(f"--eval-windows must be a positive integer, got {args.eval_windows}")
    check_folder_output(args.output, "calibrate", args.overwrite, inputs=[args.data, args.model])
    ids, series, season = read_series(args)
    held_out = args.eval_windows * args.horizon
    need = held_out + args.horizon + 2  # the held-out part, then one calibration window: horizon + 2 context values
    longest = max(range(len(series)), key=lambda i: len(series[i]))
    if len(series[longest]) < need:
        raise InputError(
            f"the calibration set is too short: the longest series, {ids[longest]!r}, has {len(series[longest])} "
            f"values; each needs at least {need}: --eval-windows x --horizon = {held_out} held out for the coverage "
            f"check, then one calibration window of --horizon ({args.horizon}) values after 2 context values. "
            "Pass a shorter --horizon or fewer --eval-windows"
        )
    history = [s[:-held_out] for s in series if len(s) > held_out]
    config = CalibrationConfig(
        method=args.method, windows=args.windows, step=args.step, coverage=args.coverage, memory=args.memory
    )
    base = load(args.model, device=args.device, batch_size=args.batch_size, season_length=season)
    base_ref = args.model
    calibrated = calibrate(base, history, args.horizon, config)
    calibrated.base_ref = _stable_reference(base_ref)
    with staged_folder(args.output, "calibrate", args.overwrite) as stage:
        calibrated.save(stage)
    folder = args.output
    report = coverage_report([base, calibrated], series, args.horizon, args.eval_windows, args.coverage)
    print(
        f"calibrated {base.name} ({args.method}) on {calibrated.info['windows']} window(s) of {len(history)} series "
        f"before the last {held_out} steps; held-out coverage of the {args.coverage:.0%} interval:"
    )
    print(report.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"calibrated model: {folder} (use it as --model/--models)")
    return 0


def _stable_reference(name: str) -> str:
    """``--model`` as the calibrated folder records it: a local folder as its absolute path, else as given.

    The user named that folder explicitly, so the absolute path is allowed to point outside the
    calibrated folder (see :mod:`tsfm.model_folders`); a relative path would not survive a move.
    """
    from pathlib import Path

    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def run_fallback(args: argparse.Namespace) -> int:
    """Handler of ``tsfm fallback``: score primary, fallback and the routed model on each series' last window."""
    import numpy as np
    import pandas as pd

    from tsfm.adapters.fallback import FallbackConfig, FallbackForecaster, per_series_mase, worst_decile
    from tsfm.outputs import check_folder_output, staged_folder, write_table
    from tsfm.registry import load

    if args.output:
        check_folder_output(args.output, "fallback", args.overwrite, inputs=[args.data, args.primary, args.fallback])
    ids, series, season = read_series(args)
    options = dict(device=args.device, batch_size=args.batch_size, season_length=season)
    primary, fallback = load(args.primary, **options), load(args.fallback, **options)
    config = FallbackConfig(
        max_backtest_ratio=args.max_backtest_ratio or None, max_relative_width=args.max_relative_width or None
    )
    routed = FallbackForecaster(primary, fallback, config)
    scores = {m.name: per_series_mase(m, series, args.horizon, season, ids) for m in (primary, fallback, routed)}
    rows = [{"model": name, "MASE": float(np.nanmean(v)), "worst_decile_MASE": worst_decile(v)}
            for name, v in scores.items()]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("routing:", routed.routing.reason.value_counts().to_dict())
    if args.output:
        with staged_folder(args.output, "fallback", args.overwrite) as stage:
            write_table(routed.routing.assign(item_id=ids), stage / "routing.csv")
            write_table(pd.DataFrame({"item_id": ids, **scores}), stage / "per_series.csv")
        print(f"tables: {args.output}/routing.csv, {args.output}/per_series.csv")
    return 0
