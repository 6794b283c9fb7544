"""``tsfm detect`` (score a file) and ``tsfm detect-bench`` = ``tsfm bench detect`` (SKAB, NAB, UCR).

``tsfm detect`` reads a table with an optional series id column, an optional timestamp
column and one or more value columns (``--target a,b,c``; several columns are one
multivariate series per item). The normal reference is ``--reference FILE`` (same columns;
rows of the same item, or of a single item used for all), or else the first
``--reference-rows`` rows or ``--reference-fraction`` of each item. It writes
``item_id,timestamp,score,is_anomaly,channels`` (``channels``: the columns behind each alarm) and
a PNG beside it. The default detector, ``drift``, is the one that won the validation of
:mod:`tsfm.tasks.anomaly.validation` (``tsfm detect-bench skab --validate``). ``--detector auto``
chooses per item on its reference (:mod:`tsfm.tasks.anomaly.auto`), prints the choice and writes
the validation table beside the scores as ``<stem>.auto.csv``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tsfm.bundled import DEFAULT_MODEL
from tsfm.engines import add_engine_flags, run_engine
from tsfm.errors import InputError

DETECTOR_NAMES = ("auto", "drift", "likelihood", "forecast", "embedding", "isolation-forest", "zscore", "robust-zscore",
                  "matrix-profile", "residual-naive", "residual-seasonal-naive")
DEFAULT_DETECTOR = "drift"  # chosen by tsfm detect-bench skab --validate (tsfm.tasks.anomaly.validation)
BENCH_DEFAULT_DETECTORS = ("drift,likelihood,embedding,forecast,zscore,robust-zscore,matrix-profile,isolation-forest,"
                           "residual-seasonal-naive")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``detect`` and ``detect-bench`` to a ``tsfm`` sub-parser set."""
    p = subparsers.add_parser("detect", help="anomaly scores and alarms for every series of a file, and a plot")
    p.add_argument("--data", required=True, help=".csv or .parquet: [item_id,] [timestamp,] value column(s)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model of forecast/embedding (default: %(default)s)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTOR_NAMES,
                   help="detector (default: %(default)s, chosen by tsfm detect-bench skab --validate)")
    p.add_argument("--reference", default=None, help="file of normal operation, same columns as --data")
    p.add_argument("--reference-fraction", type=float, default=0.2,
                   help="without --reference: leading share of each item taken as normal (default: %(default)s)")
    p.add_argument("--reference-rows", type=int, default=None,
                   help="without --reference: the first N rows of each item are normal (replaces --reference-fraction)")
    p.add_argument("--target", default=None, help="comma-separated value columns (default: target or y)")
    p.add_argument("--id-column", default=None, help="series id column (default: item_id or unique_id, if present)")
    p.add_argument("--timestamp-column", default=None, help="timestamp column (default: timestamp or ds, if present)")
    p.add_argument("--alpha", type=float, default=0.01, help="target false-alarm rate of the threshold")
    p.add_argument("--smooth", type=int, default=1, help="causal moving average of the score (default: none)")
    p.add_argument("--combine", default="max", choices=("max", "mean"), help="how channel scores combine")
    p.add_argument("--refractory", type=int, default=None,
                   help="steps after an alarm that raise none (default: the detector's; 100 for likelihood, "
                        "0 for the others: every step above the threshold)")
    add_drift_flags(p)
    add_auto_flags(p)
    p.add_argument("--output", required=True, help="scores file (.csv or .parquet); the plot goes beside it (.png)")
    p.add_argument("--no-plot", action="store_true", help="write the scores only, no .png beside them")
    add_engine_flags(p)
    p.set_defaults(handler=run_detect)

    p = subparsers.add_parser("detect-bench", help="anomaly benchmarks (SKAB, NAB, UCR) beside published figures")
    add_bench_flags(p)


def add_drift_flags(p: argparse.ArgumentParser) -> None:
    """Settings of the ``drift`` detector (their defaults are the validated ones)."""
    from tsfm.tasks.anomaly.drift import DriftDetector

    defaults = DriftDetector()
    p.add_argument("--span", type=int, default=defaults.span,
                   help="drift: span of each channel's exponentially weighted mean (default: %(default)s)")
    p.add_argument("--track", type=float, default=defaults.track,
                   help="drift: rate at which a stable channel's baseline follows normal points (default: %(default)s)")
    p.add_argument("--wander", type=float, default=defaults.wander,
                   help="drift: low-frequency share above which a channel is scored by its innovations "
                        "(default: %(default)s)")


def add_auto_flags(p: argparse.ArgumentParser) -> None:
    """Settings of ``--detector auto`` (:mod:`tsfm.tasks.anomaly.auto`)."""
    from tsfm.tasks.anomaly import auto

    p.add_argument("--auto-candidates", default=",".join(auto.FAST_CANDIDATES),
                   help="auto: comma-separated detectors to choose from (default: %(default)s; add forecast or "
                        "embedding to try the TSFM-based ones)")
    p.add_argument("--auto-far-budget", type=float, default=5.0,
                   help="auto: largest false-alarm rate in %% on the held-out normal part (default: %(default)s)")
    p.add_argument("--auto-holdout-fraction", type=float, default=0.3,
                   help="auto: trailing share of the reference held out from fitting (default: %(default)s)")


def detector_options(args: argparse.Namespace) -> dict:
    """Constructor options of ``args.detector`` from the flags of ``tsfm detect``."""
    options = {"alpha": args.alpha, "smooth": args.smooth, "combine": args.combine}
    if args.refractory is not None:
        options["refractory"] = args.refractory
    drift = {"span": args.span, "track": args.track, "wander": args.wander}
    if args.detector == "drift":
        options |= drift
    if args.detector == "auto":
        options |= {"candidates": args.auto_candidates.split(","), "far_budget": args.auto_far_budget,
                    "holdout_fraction": args.auto_holdout_fraction, "candidate_options": {"drift": drift}}
    return options


def check_reference_flags(args: argparse.Namespace) -> None:
    """``--reference-fraction`` in (0, 1) and ``--reference-rows`` >= 1, as one line each."""
    if not 0.0 < args.reference_fraction < 1.0:
        raise InputError(f"--reference-fraction must be in (0, 1), got {args.reference_fraction}")
    if args.reference_rows is not None and args.reference_rows < 1:
        raise InputError(f"--reference-rows must be >= 1, got {args.reference_rows}")


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Anomaly detectors on SKAB, NAB or UCR, beside the published figures (also ``tsfm detect-bench``)."""
    parser = argparse.ArgumentParser(prog="tsfm bench detect", description=bench_main.__doc__.splitlines()[0])
    add_bench_flags(parser)
    return run_bench(parser.parse_args(argv))


def add_bench_flags(p: argparse.ArgumentParser) -> None:
    """The flags of ``tsfm detect-bench`` and ``tsfm bench detect``."""
    p.add_argument("benchmark", choices=("skab", "nab", "ucr"), help="which benchmark")
    p.add_argument("--shared-data", default="../shared/data", help="holds skab/, nab/ (default: %(default)s)")
    p.add_argument("--detectors", default=BENCH_DEFAULT_DETECTORS, help="comma-separated (default: %(default)s)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model for forecast/embedding (default: %(default)s)")
    p.add_argument("--smooth", type=int, default=None, help="score smoothing (default: the benchmark's)")
    p.add_argument("--alpha", type=float, default=None, help="threshold false-alarm target (default: the benchmark's)")
    p.add_argument("--max-files", type=int, default=None, help="NAB: score this many files, spread over categories")
    p.add_argument("--max-rows", type=int, default=None, help="NAB: truncate each file to this many rows")
    p.add_argument("--validate", action="store_true",
                   help="skab: choose the default detector on two halves of the experiments, each scored with "
                        "the other's choice (tsfm.tasks.anomaly.validation); nab: the same for the likelihood "
                        "detector's settings over NAB's files (tsfm.tasks.anomaly.nab_validation)")
    p.add_argument("--auto-study", action="store_true",
                   help="skab/nab: --detector auto at several false-alarm budgets beside a per-series oracle "
                        "(tsfm.tasks.anomaly.auto_study)")
    p.add_argument("--output", default=None, help="optional .csv for the table")
    p.set_defaults(handler=run_bench)


def run_detect(args: argparse.Namespace) -> int:
    """Handler of ``tsfm detect``."""
    from tsfm.outputs import check_file_target, check_not_input, check_table_output
    from tsfm.registry import resolve_model
    from tsfm.tasks.anomaly.benchmarks import make_detector
    from tsfm.tasks.anomaly.io import read_items, write_scores
    from tsfm.tasks.anomaly.plots import plot_detections

    if args.engine != "local":
        return run_engine("detect", args)
    inputs = [args.data, args.reference]
    output = check_table_output(args.output, inputs)
    picture = None if args.no_plot else output.with_suffix(".png")
    if picture is not None:
        check_not_input(picture, inputs, "--output (its plot)")
        check_file_target(picture, "--output (its plot)")
    check_reference_flags(args)
    columns = [c.strip() for c in args.target.split(",") if c.strip()] if args.target else None
    items, channels = read_items(args.data, columns, args.id_column, args.timestamp_column)
    references = read_items(args.reference, channels, args.id_column, args.timestamp_column)[0] if args.reference \
        else None
    options = detector_options(args)
    tsfm_based = {"forecast", "embedding"} & {args.detector, *options.get("candidates", ())}
    model = resolve_model(args.model) if tsfm_based else args.model
    results, selections = [], []
    for item_id, stamps, values in items:
        reference = _reference_for(item_id, values, references, args.reference_fraction, args.reference_rows)
        detector = make_detector(args.detector, model, **options)
        try:
            detector.fit(reference)
        except InputError as exc:
            raise InputError(f"item {item_id!r}: {exc}") from None
        results.append((item_id, stamps, values, detector.detect(values)))
        if args.detector == "auto":
            selections.append(detector.selection_.table.assign(item_id=item_id))
    write_scores(results, output, channels)
    if picture is not None:
        plot_detections(results, channels, picture)
    written = [str(output)] + ([str(picture)] if picture is not None else [])
    if selections:
        written.append(_report_selections(selections, output, inputs))
    flagged = sum(int(r[3].is_anomaly.sum()) for r in results)
    print(f"{detector.name}: {len(results)} series, {flagged} flagged points -> {', '.join(written)}")
    return 0


def _report_selections(tables: list, output, inputs: list) -> str:
    """Print what ``--detector auto`` chose per item (and the validation table of the first few);
    write every table beside ``output`` as ``<stem>.auto.csv``; returns that path."""
    import pandas as pd

    from tsfm.outputs import check_file_target, write_table

    table = pd.concat(tables, ignore_index=True)
    table = table[["item_id"] + [c for c in table.columns if c != "item_id"]]
    path = output.with_name(f"{output.stem}.auto.csv")
    check_file_target(path, "--output (the auto validation table)")
    write_table(table, path, inputs, "--output (the auto validation table)")
    chosen = table[table["chosen"]]
    shown = table[table["item_id"].isin(chosen["item_id"].head(3))].drop(columns="error")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(shown.round(3).to_string(index=False))
    counts = chosen["detector"].value_counts()
    print("auto chose: " + ", ".join(f"{name} for {n} series" for name, n in counts.items())
          + ("" if len(chosen) > 3 else " (" + ", ".join(f"{r.item_id}: {r.detector}" for r in chosen.itertuples())
             + ")"))
    return str(path)


def _reference_for(item_id, values, references, fraction, rows=None):
    if references is None:
        return leading_reference(values, fraction, rows)
    by_id = {ref_id: ref_values for ref_id, _, ref_values in references}
    if item_id in by_id:
        return by_id[item_id]
    if len(by_id) == 1:
        return next(iter(by_id.values()))
    raise InputError(f"--reference has no rows for item {item_id!r} (its items: {sorted(by_id)[:5]} ...)")


def leading_reference(values, fraction: float, rows: int | None = None):
    """The first ``rows`` rows of an item (when given) or its leading ``fraction``, at least one row."""
    count = rows if rows is not None else int(len(values) * fraction)
    return values[: max(1, count)]


def run_bench(args: argparse.Namespace) -> int:
    """Handler of ``tsfm detect-bench``."""
    from tsfm.outputs import check_table_output, write_table
    from tsfm.tasks.anomaly.bench_run import run_benchmark

    if args.validate:
        return run_validation(args)
    if args.auto_study:
        return run_auto_study(args)

    names = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = sorted(set(names) - set(DETECTOR_NAMES))
    if unknown:
        raise InputError(f"unknown detector(s) {unknown}; known: {', '.join(DETECTOR_NAMES)}")
    if args.output:
        check_table_output(args.output, [args.shared_data])
    table = run_benchmark(
        args.benchmark, args.shared_data, names, args.model, smooth=args.smooth, alpha=args.alpha,
        max_files=args.max_files, max_rows=args.max_rows,
    )
    if table is None:
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    if args.output:
        write_table(table, args.output)
        print(f"table: {args.output}")
    return 0


def run_auto_study(args: argparse.Namespace) -> int:
    """``tsfm detect-bench skab|nab --auto-study``: auto at several budgets, and a per-series oracle."""
    import pandas as pd

    from tsfm.outputs import check_table_output, write_table
    from tsfm.tasks.anomaly.auto_study import study
    from tsfm.tasks.anomaly.benchmarks import BenchmarkDataMissing

    if args.output:
        check_table_output(args.output, [args.shared_data])
    try:
        table = study(args.benchmark, args.shared_data)
    except BenchmarkDataMissing as exc:
        print(f"skipped {args.benchmark}: {exc}")
        return 0
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 120):
        print(table.round(3).to_string(index=False))
    if args.output:
        write_table(table, args.output)
        print(f"table: {args.output}")
    return 0


def run_validation(args: argparse.Namespace) -> int:
    """``tsfm detect-bench skab|nab --validate``: the two-fold choice of the default detector, or of the
    likelihood detector's settings."""
    from pathlib import Path

    import pandas as pd

    from tsfm.outputs import check_table_output, write_table
    from tsfm.tasks.anomaly import benchmarks as bm
    from tsfm.tasks.anomaly import nab_validation
    from tsfm.tasks.anomaly.validation import validate

    if args.benchmark == "ucr":
        raise InputError("--validate chooses settings on skab (the default detector) or nab (the likelihood "
                         "detector's), not on ucr")
    if args.output:
        check_table_output(args.output, [args.shared_data])
    chooser = validate if args.benchmark == "skab" else nab_validation.validate
    try:
        table, summary = chooser(Path(args.shared_data) / args.benchmark)
    except bm.BenchmarkDataMissing as exc:
        print(f"skipped {args.benchmark}: {exc}")
        return 0
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_rows", 500,
                           "display.max_colwidth", 80):
        first = "F1_all" if "F1_all" in table else "NAB_best_threshold"
        print(table.round(3).sort_values(first, ascending=False).to_string(index=False))
        print()
        print(summary.round(3).to_string(index=False))
    if args.output:
        write_table(table, args.output)
        print(f"table: {args.output}")
    return 0
