"""``tsfm embed``, and ``--engine ray`` of ``tsfm forecast|embed|classify|detect``.

:func:`run_engine` is registered under the ``tsfm.engines`` entry-point group
(:mod:`tsfm.engines`): each command hands it its parsed flags when ``--engine ray`` is given,
and it builds the matching :class:`~tsfm.tasks.fleet.work.Work` and calls
:func:`~tsfm.tasks.fleet.engine.run_fleet`. Flags that the fleet path does not support
(covariates, plots, a separate reference file per item) are refused in one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsfm.bundled import DEFAULT_MODEL
from tsfm.cli_support import add_data_flags, names
from tsfm.engines import add_engine_flags
from tsfm.engines import run_engine as dispatch
from tsfm.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``embed`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser("embed", help="pooled model embedding of every series: item_id, e0 .. e<d-1>")
    add_data_flags(p, horizon=False)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name, local folder or hub id (default: %(default)s)")
    p.add_argument("--output", required=True, help="where to write the embeddings (.csv or .parquet; a folder with "
                   "--engine ray)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="series per forward pass (default: %(default)s)")
    add_engine_flags(p)
    p.set_defaults(handler=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    """Handler of ``tsfm embed``."""
    if args.engine != "local":
        return dispatch("embed", args)
    from tsfm import data as tsdata
    from tsfm.cli_support import load_data
    from tsfm.outputs import check_table_output, write_table
    from tsfm.registry import load
    from tsfm.tasks.fleet.work import embedding_table

    output = check_table_output(args.output, [args.data])
    model = load(args.model, device=args.device, batch_size=args.batch_size)
    ids, series = tsdata.to_series(load_data(args))
    table = embedding_table(ids, model.embed(series))
    write_table(table, output, inputs=[args.data])
    print(f"{model.name}: {len(ids)} series x {table.shape[1] - 1} dimensions -> {output}")
    return 0


def run_engine(command: str, args: argparse.Namespace) -> int:
    """The Ray engine of ``command``: build its work from the flags, run it, print one summary line."""
    from tsfm.tasks.fleet.engine import require_ray, run_fleet

    require_ray()
    args.interrupt_hint = "; finished partitions are kept: rerun the same command to resume"
    builders = {"forecast": forecast_work, "embed": embed_work, "classify": classify_work, "detect": detect_work}
    work = builders[command](args)
    result = run_fleet(
        work, args.data, args.output, address=args.address, workers=args.workers,
        threads_per_worker=args.threads_per_worker, block_series=args.block_series, overwrite=args.overwrite,
    )
    print(f"{command}: {result.n_series} series in {result.n_partitions} partitions ({result.n_run} run now, "
          f"{result.n_skipped} already finished) in {result.seconds:.1f} s -> {result.output}")
    return 0


def _refuse(args: argparse.Namespace, flags: dict[str, str]) -> None:
    for attr, flag in flags.items():
        if getattr(args, attr, None):
            raise InputError(f"{flag} is not supported with --engine ray; run without it, or with --engine local")


def _columns(args: argparse.Namespace, targets=None, need_timestamp: bool = True):
    from tsfm.tasks.fleet.partitions import dataset_files, resolve_columns

    first = dataset_files(args.data)[0]
    return resolve_columns(first, args.id_column, getattr(args, "timestamp_column", None),
                           targets or ([args.target_column] if getattr(args, "target_column", None) else None),
                           need_timestamp)


def forecast_work(args: argparse.Namespace):
    """:class:`ForecastWork` of ``tsfm forecast`` flags; the season comes from the first block when not given."""
    from tsfm.cli_support import parse_levels, season_of
    from tsfm.tasks.fleet.partitions import Partition, dataset_files, read_blocks
    from tsfm.tasks.fleet.work import ForecastWork

    _refuse(args, {"future": "--future", "covariates": "--covariates", "past_covariates": "--past-covariates",
                   "group_by": "--group-by", "targets": "--targets", "plot": "--plot"})
    columns = _columns(args)
    work = ForecastWork(columns, args.model, args.horizon, parse_levels(args.quantiles), device=args.device,
                        batch_size=args.batch_size, frame_options=_frame_options(args))
    first = next(read_blocks(Partition(0, (str(dataset_files(args.data)[0]),), 0), columns, 64))
    work.season_length = season_of(args, work.canonical(first))
    return work


def _frame_options(args: argparse.Namespace) -> dict:
    """``--timestamp-unit`` and ``--fill-gaps`` as options of ``tsfm.data.load_frame``."""
    options = {"timestamp_unit": args.timestamp_unit} if args.timestamp_unit else {}
    if args.fill_gaps:
        options["fill_gaps"] = "nan"
    return options


def embed_work(args: argparse.Namespace):
    from tsfm.tasks.fleet.work import EmbedWork

    return EmbedWork(_columns(args), args.model, device=args.device, batch_size=args.batch_size,
                     frame_options=_frame_options(args))


def classify_work(args: argparse.Namespace):
    """:class:`ClassifyWork`: the classifier is fitted here once (or read from ``--load``) and sent to every actor."""
    from tsfm.tasks.classification.cli import fitted_classifier
    from tsfm.tasks.fleet.partitions import fingerprint
    from tsfm.tasks.fleet.work import ClassifyWork

    if args.chunk < 1:
        raise InputError(f"--chunk must be >= 1, got {args.chunk}")
    columns = _columns(args)
    classifier, _ = fitted_classifier(args)  # fitted on --train (and saved to --save), or read from --load
    source = Path(args.load) / "head.npz" if args.load else Path(args.train)
    description = {"train": fingerprint([source]), "method": args.method, "head": args.head,
                   "views": args.views, "pooling": args.pooling, "segments": args.segments, "model": args.model}
    return ClassifyWork(columns, classifier, description, chunk=args.chunk)


def detect_work(args: argparse.Namespace):
    """:class:`DetectWork`; a ``--reference`` file is read here and sent to every actor."""
    from tsfm.tasks.anomaly.cli import check_reference_flags, detector_options
    from tsfm.tasks.anomaly.io import read_items
    from tsfm.tasks.fleet.partitions import fingerprint
    from tsfm.tasks.fleet.work import DetectWork

    check_reference_flags(args)
    columns = _columns(args, names(args.target), need_timestamp=False)
    references, reference_id = None, None
    if args.reference:
        items, _ = read_items(args.reference, list(columns.targets), args.id_column, args.timestamp_column)
        reference_id = fingerprint([Path(args.reference)])
        references = {item_id: values for item_id, _, values in items}
    return DetectWork(columns, args.model, args.detector, detector_options(args), args.reference_fraction, references,
                      reference_id, args.reference_rows)
