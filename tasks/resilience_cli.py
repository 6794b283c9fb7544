"""``tsfm calibrate``, ``stress``, ``monitor`` and ``fallback``: resilience checks from the command line.

:func:`add_parsers` adds the subcommands to the ``tsfm`` parser; nothing heavy is imported
until a handler runs.
"""

from __future__ import annotations

import argparse

from tsfm.bundled import DEFAULT_MODEL
from tsfm.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate``, ``stress``, ``monitor`` and ``fallback`` to a ``tsfm`` sub-parser set."""
    for add in (_add_calibrate, _add_stress, _add_monitor, _add_fallback):
        add(sub)


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    from tsfm.cli import _add_data_flags

    p = sub.add_parser(
        "calibrate",
        help="conformal calibration of a model's quantiles; writes a model folder tsfm.load accepts",
        description="Calibrates on rolling windows of the history BEFORE the last --eval-windows windows, "
        "then prints interval coverage and width before and after on those held-out windows.",
    )
    _add_data_flags(p)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model to calibrate (default: %(default)s)")
    p.add_argument("--output", required=True, help="folder to write the calibrated model to")
    p.add_argument("--method", choices=["split", "adaptive"], default="split", help="(default: %(default)s)")
    p.add_argument("--windows", type=int, default=5, help="calibration windows per series (default: %(default)s)")
    p.add_argument("--step", type=int, default=None, help="steps between calibration origins (default: horizon)")
    p.add_argument("--memory", type=int, default=3, help="adaptive: latest windows used (default: %(default)s)")
    p.add_argument("--eval-windows", type=int, default=1, help="held-out windows at the end (default: %(default)s)")
    p.add_argument("--coverage", type=float, default=0.8, help="interval reported (default: %(default)s)")
    _add_model_flags(p)
    p.set_defaults(handler=run_calibrate)


def _add_stress(sub: argparse._SubParsersAction) -> None:
    from tsfm.cli import _add_data_flags

    p = sub.add_parser(
        "stress", help="accuracy and coverage degradation under context perturbations, several models side by side"
    )
    _add_data_flags(p)
    p.add_argument("--model", "--models", dest="model", default=DEFAULT_MODEL,
                   help="comma-separated models (default: %(default)s)")
    p.add_argument("--output", required=True, help="folder for stress.csv and stress.png")
    p.add_argument("--perturbations", default=None, help="comma-separated subset (default: all)")
    p.add_argument("--windows", type=int, default=1, help="windows per series at the end (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations (default: %(default)s)")
    p.add_argument("--context-length", type=int, default=512,
                   help="latest context values kept and perturbed, 0 = all (default: %(default)s)")
    _add_model_flags(p)
    p.set_defaults(handler=run_stress)


def _add_monitor(sub: argparse._SubParsersAction) -> None:
    from tsfm.cli import _add_data_flags

    p = sub.add_parser(
        "monitor", help="replay a file as a stream: forecast error, coverage, drift alarms, re-adaptation windows"
    )
    _add_data_flags(p)
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
    _add_model_flags(p)
    p.set_defaults(handler=run_monitor)


def _add_fallback(sub: argparse._SubParsersAction) -> None:
    from tsfm.cli import _add_data_flags

    p = sub.add_parser(
        "fallback", help="route series between a primary model and a fallback; mean and worst-decile MASE of each"
    )
    _add_data_flags(p)
    p.add_argument("--primary", default=DEFAULT_MODEL, help="primary model (default: %(default)s)")
    p.add_argument("--fallback", default="seasonal-naive", help="fallback model (default: %(default)s)")
    p.add_argument("--max-backtest-ratio", type=float, default=1.0,
                   help="reroute when primary's self-backtest error > this x fallback's; 0 = off (default: 1.0)")
    p.add_argument("--max-relative-width", type=float, default=0.0,
                   help="reroute when the 80%% interval is wider than this many scales; 0 = off (default)")
    p.add_argument("--output", default=None, help="folder for routing.csv and per_series.csv (default: none)")
    _add_model_flags(p)
    p.set_defaults(handler=run_fallback)


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--season-length", type=int, default=None, help="season for baselines (default: from the data)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="series per forward pass (default: %(default)s)")


def _read_series(args: argparse.Namespace) -> tuple[list[str], list, int]:
    """``(item_ids, series, season)`` of ``--data``; the season is ``--season-length`` or the frequency's."""
    from tsfm import data as tsdata
    from tsfm.cli import _load_data

    frame = _load_data(args)
    season = args.season_length or tsdata.default_season_length(tsdata.infer_frequency(frame))
    ids, series = tsdata.to_series(frame)
    return ids, series, season


def run_calibrate(args: argparse.Namespace) -> int:
    """Handler of ``tsfm calibrate``."""
    from adapters.calibration import CalibrationConfig, calibrate, coverage_report
    from tsfm.registry import load

    if args.eval_windows < 1:
        raise InputError(f"--eval-windows must be a positive integer, got {args.eval_windows}")
    ids, series, season = _read_series(args)
    held_out = args.eval_windows * args.horizon
    history = [s[:-held_out] for s in series if len(s) > held_out]
    config = CalibrationConfig(
        method=args.method, windows=args.windows, step=args.step, coverage=args.coverage, memory=args.memory
    )
    base = load(args.model, device=args.device, batch_size=args.batch_size, season_length=season)
    base_ref = args.model
    calibrated = calibrate(base, history, args.horizon, config)
    calibrated.base_ref = _stable_reference(base_ref)
    folder = calibrated.save(args.output)
    report = coverage_report([base, calibrated], series, args.horizon, args.eval_windows, args.coverage)
    print(
        f"calibrated {base.name} ({args.method}) on {calibrated.info['windows']} window(s) of {len(history)} series "
        f"before the last {held_out} steps; held-out coverage of the {args.coverage:.0%} interval:"
    )
    print(report.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"calibrated model: {folder} (use it as --model/--models)")
    return 0


def _stable_reference(name: str) -> str:
    from pathlib import Path

    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def run_stress(args: argparse.Namespace) -> int:
    """Handler of ``tsfm stress``: print relative MASE and coverage per perturbation, models side by side."""
    import pandas as pd

    from tasks.stress import StressConfig, stress_test, write_stress
    from tsfm.registry import load

    _, series, season = _read_series(args)
    perturbations = tuple(_names(args.perturbations)) if args.perturbations else None
    config = StressConfig(args.horizon, args.windows, season, perturbations, args.seed, args.context_length or None)
    models = [
        load(name, device=args.device, batch_size=args.batch_size, season_length=season) for name in _names(args.model)
    ]
    report = stress_test(models, series, config)
    files = write_stress(report, args.output)
    table = report.table
    order = pd.MultiIndex.from_frame(table[["perturbation", "severity"]].drop_duplicates())
    wide = table.pivot(index=["perturbation", "severity"], columns="model", values=["rel_MASE", "coverage_80"])
    wide = wide.reindex(order)[[(v, m) for v in ("rel_MASE", "coverage_80") for m in dict.fromkeys(table.model)]]
    print(wide.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"table: {files['table']}, plot: {files['plot']}")
    return 0


def run_monitor(args: argparse.Namespace) -> int:
    """Handler of ``tsfm monitor``: print the alarms and the data each re-adaptation would use."""
    from pathlib import Path

    from tasks.monitor import MonitorConfig, monitor_stream
    from tsfm.registry import load

    ids, series, season = _read_series(args)
    if args.items:
        wanted = _names(args.items)
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
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        events.to_csv(out / "events.csv", index=False)
        report.alarms.to_csv(out / "alarms.csv", index=False)
        print(f"tables: {out / 'events.csv'}, {out / 'alarms.csv'}")
    return 0


def run_fallback(args: argparse.Namespace) -> int:
    """Handler of ``tsfm fallback``: score primary, fallback and the routed model on each series' last window."""
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from adapters.fallback import FallbackConfig, FallbackForecaster, per_series_mase, worst_decile
    from tsfm.registry import load

    ids, series, season = _read_series(args)
    options = dict(device=args.device, batch_size=args.batch_size, season_length=season)
    primary, fallback = load(args.primary, **options), load(args.fallback, **options)
    config = FallbackConfig(
        max_backtest_ratio=args.max_backtest_ratio or None, max_relative_width=args.max_relative_width or None
    )
    routed = FallbackForecaster(primary, fallback, config)
    scores = {m.name: per_series_mase(m, series, args.horizon, season) for m in (primary, fallback, routed)}
    rows = [{"model": name, "MASE": float(np.nanmean(v)), "worst_decile_MASE": worst_decile(v)}
            for name, v in scores.items()]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("routing:", routed.routing.reason.value_counts().to_dict())
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        routed.routing.assign(item_id=ids).to_csv(out / "routing.csv", index=False)
        pd.DataFrame({"item_id": ids, **scores}).to_csv(out / "per_series.csv", index=False)
        print(f"tables: {out / 'routing.csv'}, {out / 'per_series.csv'}")
    return 0
