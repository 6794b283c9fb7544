"""``tsfm stress`` and ``monitor``: resilience checks from the command line.

:func:`add_parsers` adds the subcommands to the ``tsfm`` parser; nothing heavy is imported
until a handler runs.
"""

from __future__ import annotations

import argparse

from tsfm.bundled import DEFAULT_MODEL
from tsfm.cli_support import add_data_flags, add_model_flags, names, read_series
from tsfm.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``stress`` and ``monitor`` to a ``tsfm`` sub-parser set."""
    for add in (_add_stress, _add_monitor):
        add(sub)


def _add_stress(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stress", help="accuracy and coverage degradation under context perturbations, several models side by side"
    )
    add_data_flags(p)
    p.add_argument("--model", "--models", dest="model", default=DEFAULT_MODEL,
                   help="comma-separated models (default: %(default)s)")
    p.add_argument("--output", required=True, help="folder for stress.csv and stress.png")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.add_argument("--perturbations", default=None, help="comma-separated subset (default: all)")
    p.add_argument("--windows", type=int, default=1, help="windows per series at the end (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations (default: %(default)s)")
    p.add_argument("--context-length", type=int, default=512,
                   help="latest context values kept and perturbed, 0 = all (default: %(default)s)")
    add_model_flags(p, quantiles=False)
    p.set_defaults(handler=run_stress)


def _add_monitor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor", help="replay a file as a stream: forecast error, coverage, drift alarms, re-adaptation windows"
    )
    add_data_flags(p)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model to monitor (default: %(default)s)")
    p.add_argument("--start", type=int, default=None, help="first origin (default: 8 x horizon)")
    p.add_argument("--stride", type=int, default=None, help="steps between origins (default: horizon)")
    p.add_argument("--window", type=int, default=None, help="inputs compared by the KS test (default: 4 x horizon)")
    p.add_argument("--ks-alpha", type=float, default=1e-3, help="KS p-value alarm level, 0 = off (default: 0.001)")
    p.add_argument("--ks-on", choices=["diff", "level"], default="diff",
                   help="KS test on step changes or on values (default: %(default)s)")
    p.add_argument("--ph-threshold", type=float, default=6.0, help="Page-Hinkley alarm level (default: %(default)s)")
    p.add_argument("--items", default=None, help="comma-separated item ids to monitor (default: all)")
    p.add_argument("--output", default=None, help="folder for events.csv and alarms.csv (default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    add_model_flags(p, quantiles=False)
    p.set_defaults(handler=run_monitor)


def run_stress(args: argparse.Namespace) -> int:
    """Handler of ``tsfm stress``: print relative MASE and coverage per perturbation, models side by side."""
    import pandas as pd

    from tsfm.outputs import check_folder_output
    from tsfm.registry import load
    from tsfm.tasks.stress import KIND, StressConfig, stress_test, write_stress

    check_folder_output(args.output, KIND, args.overwrite, inputs=[args.data])
    _, series, season = read_series(args)
    perturbations = tuple(names(args.perturbations)) if args.perturbations else None
    config = StressConfig(args.horizon, args.windows, season, perturbations, args.seed, args.context_length or None)
    models = [
        load(name, device=args.device, batch_size=args.batch_size, season_length=season) for name in names(args.model)
    ]
    report = stress_test(models, series, config)
    files = write_stress(report, args.output, args.overwrite)
    table = report.table
    order = pd.MultiIndex.from_frame(table[["perturbation", "severity"]].drop_duplicates())
    wide = table.pivot(index=["perturbation", "severity"], columns="model", values=["rel_MASE", "coverage_80"])
    wide = wide.reindex(order)[[(v, m) for v in ("rel_MASE", "coverage_80") for m in dict.fromkeys(table.model)]]
    print(wide.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"table: {files['table']}, plot: {files['plot']}")
    return 0


def run_monitor(args: argparse.Namespace) -> int:
    """Handler of ``tsfm monitor``: print the alarms and the data each re-adaptation would use."""
    from tsfm.outputs import check_folder_output, staged_folder, write_table
    from tsfm.registry import load
    from tsfm.tasks.monitor import MonitorConfig, monitor_stream

    if args.output:
        check_folder_output(args.output, "monitor", args.overwrite, inputs=[args.data])
    ids, series, season = read_series(args)
    if args.items:
        wanted = names(args.items)
        unknown = sorted(set(wanted) - set(ids))
        if unknown:
            raise InputError(f"--items {unknown} are not in the data; first ids: {ids[:5]}")
        series = [s for i, s in zip(ids, series) if i in wanted]
        ids = [i for i in ids if i in wanted]
    config = MonitorConfig(
        args.horizon, args.start, args.stride, args.window, ks_alpha=args.ks_alpha, ks_on=args.ks_on,
        ph_threshold=args.ph_threshold,
    )
    model = load(args.model, device=args.device, batch_size=args.batch_size, season_length=season)
    report = monitor_stream(model, series, config, ids)
    events = report.events
    print(
        f"{model.name}: {len(ids)} series, {len(events)} scored origins, mean relative error "
        f"{events.error.mean():.3f}, 80% coverage {events.coverage_80.mean():.3f}; {len(report.alarms)} alarm(s)"
    )
    if not report.alarms.empty:
        print(report.alarms.to_string(index=False, float_format=lambda x: f"{x:.2g}"))
    if args.output:
        with staged_folder(args.output, "monitor", args.overwrite) as stage:
            write_table(events, stage / "events.csv")
            write_table(report.alarms, stage / "alarms.csv")
        print(f"tables: {args.output}/events.csv, {args.output}/alarms.csv")
    return 0


