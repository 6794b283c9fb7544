"""``tsfm classify`` and ``tsfm classify-bench`` (= ``tsfm bench classify``): batch classification, and benchmarks.

``tsfm classify --train labelled.csv --data unlabelled.csv --model M --output preds.csv``
reads long-format files (``item_id,timestamp,target``; the training file also has a
``label`` column, one value per item), fits a classifier on the labelled items and writes
``item_id,label,p_<class>...`` for every unlabelled item, working through them in chunks
with a progress bar.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tsfm.bundled import DEFAULT_MODEL
from tsfm.engines import add_engine_flags, run_engine
from tsfm.errors import InputError

_METHODS = ("embedding", "in-context", "minirocket", "dtw")
_LABEL_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``classify`` and ``classify-bench`` to a ``tsfm`` sub-parser set."""
    p = subparsers.add_parser("classify", help="label every series of a file from labelled examples")
    p.add_argument("--train", required=True, help="labelled long-format .csv/.parquet with a label column")
    p.add_argument("--data", required=True, help="long-format .csv/.parquet of the series to classify")
    p.add_argument("--output", required=True, help="where to write item_id,label,p_<class>... (.csv or .parquet)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="TSFM name or folder (default: %(default)s)")
    p.add_argument("--method", default="embedding", choices=_METHODS, help="classifier (default: %(default)s)")
    p.add_argument("--head", default="logistic", help="embedding head: logistic, ridge or knn (default: %(default)s)")
    p.add_argument("--views", default="raw,diff", help="embedding views: raw,diff,scale2,scale4 (default: %(default)s)")
    p.add_argument("--pooling", default="mean", help="window pooling: mean or mean-max (default: %(default)s)")
    p.add_argument("--segments", type=int, default=0, help="ordered segments also embedded (default: %(default)s)")
    p.add_argument("--label-column", default="label", help="label column of --train (default: %(default)s)")
    p.add_argument("--id-column", default=None, help="series id column (default: item_id or unique_id)")
    p.add_argument("--chunk", type=int, default=2048, help="series classified per step (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="series per forward pass (default: %(default)s)")
    add_engine_flags(p)
    p.set_defaults(handler=run_classify)

    p = subparsers.add_parser("classify-bench", help="classification benchmarks: UCR sets in aeon, CWRU bearings")
    add_bench_flags(p)


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Classifiers on UCR sets shipped in aeon or CWRU bearings, beside MiniRocket (also ``tsfm classify-bench``)."""
    parser = argparse.ArgumentParser(prog="tsfm bench classify", description=bench_main.__doc__.splitlines()[0])
    add_bench_flags(parser)
    return run_bench(parser.parse_args(argv))


def add_bench_flags(p: argparse.ArgumentParser) -> None:
    """The flags of ``tsfm classify-bench`` and ``tsfm bench classify``."""
    p.add_argument("which", choices=["ucr", "cwru"], help="which benchmark")
    p.add_argument("--model", default=DEFAULT_MODEL, help="TSFM name or folder (default: %(default)s)")
    p.add_argument(
        "--methods", default="tsfm-embed,tsfm-in-context,minirocket,dtw",
        help="comma-separated: tsfm-embed, tsfm-in-context, minirocket, dtw (default: %(default)s)",
    )
    p.add_argument("--head", default="logistic", help="embedding head (default: %(default)s)")
    p.add_argument("--sets", default=None, help="UCR sets, comma-separated (default: the five shipped in aeon)")
    p.add_argument("--shared-data", default="../shared/data", help="folder with reference/ and cwru/")
    p.add_argument("--max-windows", type=int, default=40, help="CWRU windows per recording (default: %(default)s)")
    p.add_argument("--output", default=None, help="write the tidy results to this .csv")
    p.set_defaults(handler=run_bench)


def read_labels(path: str, label_column: str, id_column: str | None) -> dict[str, str]:
    """``{item_id: label}`` from a labelled long-format file; one label per item, none missing."""
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix not in _LABEL_READERS:
        raise InputError(f"--train {path}: unsupported suffix {suffix!r}; allowed: {sorted(_LABEL_READERS)}")
    if not Path(path).is_file():
        raise InputError(f"--train {path}: file not found")
    raw = getattr(pd, _LABEL_READERS[suffix])(path)
    ids = [c for c in ([id_column] if id_column else ["item_id", "unique_id"]) if c in raw.columns]
    if not ids:
        raise InputError(f"--train {path}: no id column (item_id or unique_id); columns are {list(raw.columns)}")
    if label_column not in raw.columns:
        raise InputError(f"--train {path}: no {label_column!r} column; columns are {list(raw.columns)}")
    if raw[label_column].isna().any():
        raise InputError(f"--train {path}: {int(raw[label_column].isna().sum())} rows have no {label_column!r}")
    per_item = raw.groupby(raw[ids[0]].astype(str), sort=False)[label_column].nunique()
    if (per_item > 1).any():
        bad = list(per_item[per_item > 1].index[:3])
        raise InputError(f"--train {path}: items {bad} have several labels; give one label per item")
    return raw.groupby(raw[ids[0]].astype(str), sort=False)[label_column].first().astype(str).to_dict()


def build_classifier(args: argparse.Namespace):
    """The classifier the flags describe (model loaded only for TSFM methods)."""
    from tsfm.tasks.classification.classifier import make_classifier

    if args.method in ("minirocket", "dtw"):
        return make_classifier(args.method)
    import tsfm

    model = tsfm.load(args.model, device=args.device, batch_size=args.batch_size)
    if args.method == "in-context":
        return make_classifier("in-context", model)
    features = {"views": tuple(v.strip() for v in args.views.split(",") if v.strip()),
                "pooling": args.pooling, "segments": args.segments}
    return make_classifier("embedding", model, head=args.head, features=features)


def run_classify(args: argparse.Namespace) -> int:
    """Handler of ``tsfm classify``."""
    import pandas as pd
    from tqdm.auto import tqdm

    from tsfm import data as tsdata
    from tsfm.outputs import check_table_output, write_table

    if args.engine != "local":
        return run_engine("classify", args)
    if args.chunk < 1:
        raise InputError(f"--chunk must be >= 1, got {args.chunk}")
    check_table_output(args.output, [args.train, args.data])
    labels = read_labels(args.train, args.label_column, args.id_column)
    train_ids, train_series = tsdata.to_series(tsdata.load_frame(args.train, id_column=args.id_column))
    ids, series = tsdata.to_series(tsdata.load_frame(args.data, id_column=args.id_column))
    classifier = build_classifier(args).fit(train_series, [labels[i] for i in train_ids])
    classes = [str(c) for c in classifier.classes_]
    parts = []
    for start in tqdm(range(0, len(series), args.chunk), desc="classifying", unit="chunk"):
        proba = classifier.predict_proba(series[start : start + args.chunk])  # [chunk, n_classes]
        part = pd.DataFrame(proba, columns=[f"p_{c}" for c in classes])
        part.insert(0, "label", [classes[k] for k in proba.argmax(axis=1)])
        part.insert(0, "item_id", ids[start : start + args.chunk])
        parts.append(part)
    result = pd.concat(parts, ignore_index=True)
    write_table(result, args.output, inputs=[args.train, args.data])
    counts = result["label"].value_counts().to_dict()
    print(f"classified {len(result)} series into {len(classes)} classes {counts}; wrote {args.output}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Handler of ``tsfm classify-bench``."""
    import torch
    from threadpoolctl import threadpool_limits

    import tsfm
    from tsfm.outputs import check_table_output, write_table
    from tsfm.tasks.classification import benchmarks as bench

    # One thread for torch and BLAS: timings stay comparable on a shared machine, and
    # oversubscribed threads on a busy CPU cost far more than they gain.
    torch.set_num_threads(1)
    threadpool_limits(1)
    if args.output:
        check_table_output(args.output, [args.shared_data])
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    needs_model = any(m.startswith("tsfm") for m in methods)
    model = tsfm.load(args.model) if needs_model else None
    if args.which == "ucr":
        factories = bench.method_factories(model, methods, bench.UCR_FEATURES, args.head)
        sets = tuple(s.strip() for s in args.sets.split(",")) if args.sets else bench.UCR_SETS
        results = bench.run_ucr(factories, sets)
        published = bench.published_minirocket(args.shared_data)
    else:
        factories = bench.method_factories(model, methods, bench.CWRU_FEATURES, args.head)
        results = bench.run_cwru(factories, Path(args.shared_data) / "cwru", args.max_windows)
        published = None
    if results.empty:
        print("no benchmark data available; nothing to report")
        return 0
    print(bench.side_by_side(results, published).round(3).to_string())
    if args.output:
        write_table(results, args.output)
        print(f"wrote {args.output}")
    return 0
