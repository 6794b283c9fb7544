"""``tsfm classify`` and ``tsfm classify-bench`` (= ``tsfm bench classify``): batch classification, and benchmarks.

``tsfm classify --train labelled.csv --data unlabelled.csv --model M --output preds.csv``
reads long-format files (``item_id,timestamp,target``; the training file also has a
``label`` column, one value per item), fits a classifier on the labelled items and writes
``item_id,label,p_<class>...`` for every unlabelled item, working through them in chunks
with a progress bar.

Batch jobs fit once and classify many files: ``--save DIR`` writes the fitted classifier as a
folder (JSON settings + head arrays, no code), ``--load DIR`` classifies ``--data`` with it
and no ``--train``. ``--target a,b,c`` reads several value columns as the channels of one
multivariate series per item. When ``--data`` has the label column, the accuracy and a
confusion matrix are printed and written beside the output as ``<output stem>.confusion.csv``.

The default ``--method hybrid`` puts MiniRocket features and TSFM embeddings in one ridge head
(:mod:`~tsfm.tasks.classification.hybrid`); it is the candidate that validated best on folds of
the training labels of the offline UCR sets (``tsfm classify-bench ucr --validate``), and
``--method auto`` makes that choice per dataset on folds of ``--train``.

``tsfm classify-bench ucr --shots 1,5,10,all`` draws that many labelled series per class
(seeded, averaged over ``--draws``) and writes the accuracy per count as a CSV and a PNG curve.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tsfm.bundled import DEFAULT_MODEL
from tsfm.engines import add_engine_flags, run_engine
from tsfm.errors import InputError
from tsfm.tasks.classification.classifier import DEFAULT_METHOD, METHODS

_SAVABLE = ("hybrid", "auto", "embedding")
_LABEL_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``classify`` and ``classify-bench`` to a ``tsfm`` sub-parser set."""
    p = subparsers.add_parser("classify", help="label every series of a file from labelled examples")
    p.add_argument("--train", default=None, help="labelled long-format .csv/.parquet with a label column")
    p.add_argument("--load", default=None, metavar="DIR",
                   help="use a classifier saved by --save (no --train; its views, head and model replace those flags)")
    p.add_argument("--save", default=None, metavar="DIR", help="also write the fitted classifier to this folder")
    p.add_argument("--target", default=None,
                   help="value column(s), comma-separated: several make one multivariate series per item "
                   "(default: target or y; with --load: the columns it was trained on)")
    p.add_argument("--data", required=True, help="long-format .csv/.parquet of the series to classify")
    p.add_argument("--output", required=True, help="where to write item_id,label,p_<class>... (.csv or .parquet)")
    p.add_argument("--model", default=None,
                   help=f"TSFM name or folder (default: {DEFAULT_MODEL}; with --load: the model it names)")
    p.add_argument("--method", default=None, choices=METHODS,
                   help=f"classifier (default: {DEFAULT_METHOD}: MiniRocket features + TSFM embeddings, the method "
                   "that validated best on training folds of the offline UCR sets; auto: the mix of the two chosen "
                   "per dataset on folds of --train; in-context-group: labelled examples as related series of the "
                   "query's group, Chronos-2 models only, tsfm-chronos2-mini unless --model says otherwise)")
    p.add_argument("--head", default="logistic",
                   help="head of --method embedding: logistic, ridge or knn (default: %(default)s)")
    p.add_argument("--views", default="raw,diff",
                   help="views of --method embedding: raw,diff,scale2,scale4 (default: %(default)s)")
    p.add_argument("--pooling", default="mean",
                   help="window pooling of --method embedding: mean or mean-max (default: %(default)s)")
    p.add_argument("--segments", type=int, default=0,
                   help="ordered segments also embedded by --method embedding (default: %(default)s)")
    p.add_argument("--label-column", default="label",
                   help="label column of --train; in --data it gives accuracy and a confusion matrix "
                   "(default: %(default)s)")
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
        "--methods", default=None,
        help="comma-separated: tsfm-hybrid (the default method of tsfm classify), tsfm-auto, tsfm-embed, "
        "tsfm-in-context, tsfm-in-context-group (a Chronos-2 --model, e.g. tsfm-chronos2-mini), minirocket, dtw, "
        "rdst (random dilated shapelets) (default: all but tsfm-in-context-group and rdst; with --shots: "
        "tsfm-hybrid,tsfm-embed,minirocket,dtw)",
    )
    p.add_argument("--head", default="logistic", help="embedding head (default: %(default)s)")
    p.add_argument("--sets", default=None,
                   help="UCR/UEA sets, comma-separated; offline: every classification set aeon ships (nine) "
                   "(default: GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf, ACSF1)")
    p.add_argument("--first-channel", action="store_true",
                   help="multivariate UCR/UEA sets: keep only the first channel (for comparison; default: all)")
    p.add_argument("--shared-data", default="../shared/data", help="folder with reference/ and cwru/")
    p.add_argument("--max-windows", type=int, default=40, help="CWRU windows per recording (default: %(default)s)")
    p.add_argument("--shots", default=None, metavar="K,K,...",
                   help="ucr: few-shot curves at these labelled series per class, e.g. 1,5,10,all (k drawn per "
                   "class with --seed, --draws draws averaged; all: the whole training split); writes --output "
                   "and a plot")
    p.add_argument("--draws", type=int, default=3,
                   help="draws per count below all, with --shots (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first draw, with --shots (default: %(default)s)")
    p.add_argument("--plot", default=None, help="with --shots: the curve plot, .png (default: beside --output)")
    p.add_argument("--validate", action="store_true",
                   help="ucr: print the training-fold accuracy of every candidate mix, of auto and of the rdst "
                   "baseline on the same folds, then hybrid and auto fitted on 5 and 10 training series per "
                   "class and scored on the rest (how the default method was chosen; test labels are not read)")
    p.add_argument("--output", default=None, help="write the tidy results to this .csv")
    p.set_defaults(handler=run_bench)


def read_labels(path: str, label_column: str, id_column: str | None, flag: str = "--train") -> dict[str, str]:
    """``{item_id: label}`` from a labelled long-format file; one label per item, none missing."""
    return labels_of(_read_raw(path, flag), label_column, id_column, f"{flag} {path}")


def labels_of(raw, label_column: str, id_column: str | None, where: str) -> dict[str, str]:
    """``{item_id: label}`` of a long table already read; one label per item, none missing."""
    ids = [c for c in ([id_column] if id_column else ["item_id", "unique_id"]) if c in raw.columns]
    if not ids:
        raise InputError(f"{where}: no id column (item_id or unique_id); columns are {list(raw.columns)}")
    if label_column not in raw.columns:
        raise InputError(f"{where}: no {label_column!r} column; columns are {list(raw.columns)}")
    if raw[label_column].isna().any():
        raise InputError(f"{where}: {int(raw[label_column].isna().sum())} rows have no {label_column!r} (NaN labels)")
    per_item = raw.groupby(raw[ids[0]].astype(str), sort=False)[label_column].nunique()
    if (per_item > 1).any():
        bad = list(per_item[per_item > 1].index[:3])
        raise InputError(f"{where}: items {bad} have several labels; give one label per item")
    return raw.groupby(raw[ids[0]].astype(str), sort=False)[label_column].first().astype(str).to_dict()


def _read_raw(path: str, flag: str):
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix not in _LABEL_READERS:
        raise InputError(f"{flag} {path}: unsupported suffix {suffix!r}; allowed: {sorted(_LABEL_READERS)}")
    if not Path(path).is_file():
        raise InputError(f"{flag} {path}: file not found")
    return getattr(pd, _LABEL_READERS[suffix])(path)


def parse_targets(text: str | None) -> list[str] | None:
    """``--target a,b,c`` as a list of distinct column names; ``None`` for the default column."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise InputError(f"--target {text!r}: give distinct, non-empty column names separated by commas")
    return names


def read_items(raw, targets: list[str] | None, id_column: str | None, where: str) -> tuple[list[str], list]:
    """Item ids and series of a long table: 1-D arrays, or ``[n_channels, length]`` for several targets."""
    import numpy as np

    from tsfm import data as tsdata

    if not targets or len(targets) == 1:
        column = targets[0] if targets else None
        if column is not None and column not in raw.columns:
            raise InputError(f"{where}: no {column!r} column (--target); columns are {list(raw.columns)}")
        return tsdata.to_series(tsdata.load_frame(raw, id_column=id_column, target_column=column))
    missing = [t for t in targets if t not in raw.columns]
    if missing:
        raise InputError(f"{where} lacks the value column(s) {missing} of --target {','.join(targets)}; "
                         f"columns are {list(raw.columns)}")
    channels = [tsdata.to_series(tsdata.load_frame(raw, id_column=id_column, target_column=t)) for t in targets]
    ids = channels[0][0]
    return ids, [np.stack([values[i] for _, values in channels]) for i in range(len(ids))]  # [n_channels, length]


def build_classifier(args: argparse.Namespace):
    """The classifier the flags describe (model loaded only for TSFM methods)."""
    from tsfm.tasks.classification.classifier import make_classifier, model_spec

    method = args.method or DEFAULT_METHOD
    if method in ("minirocket", "dtw"):
        return make_classifier(method)
    import tsfm

    # the group mode reads the examples as known-future covariates: the bundled Chronos-2 model by default
    name = args.model or ("tsfm-chronos2-mini" if method == "in-context-group" else DEFAULT_MODEL)
    model = tsfm.load(name, device=args.device, batch_size=args.batch_size)
    if method in ("in-context", "in-context-group"):
        return make_classifier(method, model)
    if method in ("hybrid", "auto"):
        classifier = make_classifier(method, model)
        classifier.model_spec = model_spec(args.model or DEFAULT_MODEL)
        return classifier
    features = {"views": tuple(v.strip() for v in args.views.split(",") if v.strip()),
                "pooling": args.pooling, "segments": args.segments}
    classifier = make_classifier("embedding", model, head=args.head, features=features)
    classifier.model_spec = model_spec(args.model or DEFAULT_MODEL)
    return classifier


def check_flags(args: argparse.Namespace) -> None:
    """Refuse contradictory ``tsfm classify`` flags before any file is read."""
    if (args.train is None) == (args.load is None):
        raise InputError("give exactly one of --train (fit on a labelled file) or --load (a saved classifier)")
    if args.save and args.load:
        raise InputError("--save writes a classifier fitted on --train; with --load it is already saved")
    if args.save and (args.method or DEFAULT_METHOD) not in _SAVABLE:
        raise InputError(f"--save supports --method {', '.join(_SAVABLE)}, got --method {args.method}")
    if args.load and args.method is not None:
        raise InputError(f"--load uses the method the classifier was saved with; drop --method {args.method}")
    if args.chunk < 1:
        raise InputError(f"--chunk must be >= 1, got {args.chunk}")
    if args.engine != "local" and args.target is not None:
        raise InputError(f"--target is not supported with --engine {args.engine}; run with --engine local")


def fitted_classifier(args: argparse.Namespace):
    """``(classifier, targets)``: loaded from ``--load``, or fitted on ``--train`` (and saved to ``--save``)."""
    if args.load:
        from tsfm.tasks.classification.persist import load_classifier, read_config

        saved = read_config(args.load).get("metadata", {})
        classifier = load_classifier(args.load, model=args.model, device=args.device, batch_size=args.batch_size)
        targets = parse_targets(args.target) or saved.get("target")
        trained = saved.get("target") or ["the default value column (target or y)"]
        if args.target is not None and saved.get("target") is not None and targets != saved["target"]:
            unknown = [t for t in targets if t not in saved["target"]]
            raise InputError(f"--target {args.target}: the classifier in {args.load} was trained on the columns "
                             f"{trained}" + (f"; the training file lacks {unknown}" if unknown else " in that order"))
        if (len(targets) if targets else 1) != classifier.n_channels_:
            raise InputError(f"--target {args.target}: the classifier in {args.load} was fitted on "
                             f"{classifier.n_channels_} channel(s) {trained}")
        return classifier, targets
    from tsfm.tasks.classification.base import check_informative, validate_series
    from tsfm.tasks.classification.validation import mix_name

    targets = parse_targets(args.target)
    raw = _read_raw(args.train, "--train")
    labels = labels_of(raw, args.label_column, args.id_column, f"--train {args.train}")
    train_ids, train_series = read_items(raw, targets, args.id_column, f"--train {args.train}")
    if train_series:
        check_informative(validate_series(train_series, "--train"), targets)
    classifier = build_classifier(args).fit(train_series, [labels[i] for i in train_ids])
    if getattr(classifier, "cv_scores_", None):  # auto: say which mix the training folds chose
        scores = ", ".join(f"{mix_name(m)} {v:.3f}" for m, v in classifier.cv_scores_.items())
        print(f"chose {mix_name(classifier.mix_)} by accuracy on folds of --train ({scores})")
    if args.save:
        classifier.save(args.save, overwrite=args.overwrite, metadata={"target": targets})
        print(f"saved the fitted classifier to {args.save}")
    return classifier, targets


def run_classify(args: argparse.Namespace) -> int:
    """Handler of ``tsfm classify``."""
    from tsfm.outputs import check_folder_output, check_table_output, write_table

    check_flags(args)
    if args.engine != "local":
        return run_engine("classify", args)
    inputs = [p for p in (args.train, args.data, args.load) if p]
    check_table_output(args.output, inputs)
    if args.save:
        check_folder_output(args.save, "classifier", args.overwrite, inputs, "--save")
    classifier, targets = fitted_classifier(args)
    raw = _read_raw(args.data, "--data")
    ids, series = read_items(raw, targets, args.id_column, f"--data {args.data}")
    labelled = args.label_column in raw.columns  # a labelled --data: report accuracy (labels checked first)
    truth = labels_of(raw, args.label_column, args.id_column, f"--data {args.data}") if labelled else None
    result = classify_items(classifier, ids, series, args.chunk)
    write_table(result, args.output, inputs=inputs)
    classes = [str(c) for c in classifier.classes_]
    counts = result["label"].value_counts().to_dict()
    print(f"classified {len(result)} series into {len(classes)} classes {counts}; wrote {args.output}")
    if truth is not None:
        report_accuracy(result, truth, classes, args.output, inputs)
    return 0


def classify_items(classifier, ids: list[str], series: list, chunk: int):
    """``item_id, label, p_<class>...`` for every item, ``chunk`` series per step, with a progress bar."""
    import pandas as pd
    from tqdm.auto import tqdm

    classes = [str(c) for c in classifier.classes_]
    parts = []
    for start in tqdm(range(0, len(series), chunk), desc="classifying", unit="chunk"):
        proba = classifier.predict_proba(series[start : start + chunk])  # [chunk, n_classes]
        part = pd.DataFrame(proba, columns=[f"p_{c}" for c in classes])
        part.insert(0, "label", [classes[k] for k in proba.argmax(axis=1)])
        part.insert(0, "item_id", ids[start : start + chunk])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def confusion_path(output: str) -> Path:
    """Where the confusion matrix of ``--output preds.csv`` goes: ``preds.confusion.csv``."""
    path = Path(output).expanduser()
    return path.with_name(f"{path.stem}.confusion.csv")


def report_accuracy(result, truth: dict[str, str], classes: list[str], output: str, inputs: list) -> None:
    """Print the accuracy and the confusion matrix (rows: true label, columns: predicted) and write it."""
    import pandas as pd

    from tsfm.outputs import write_table

    true = result["item_id"].map(truth)
    names = classes + sorted(set(true) - set(classes))  # true labels the classifier never saw come last
    matrix = pd.crosstab(pd.Categorical(true, names), pd.Categorical(result["label"], names), dropna=False)
    matrix.index.name, matrix.columns.name = "true", "predicted"
    accuracy = float((true == result["label"]).mean())
    print(f"accuracy {accuracy:.3f} ({int((true == result['label']).sum())} of {len(result)} items)")
    print(matrix.to_string())
    path = write_table(matrix.reset_index(), confusion_path(output), inputs=inputs)
    print(f"wrote the confusion matrix to {path}")


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
    if (args.shots or args.validate) and args.which != "ucr":
        raise InputError(f"--shots and --validate apply to the ucr benchmark, got {args.which}")
    if args.output:
        check_table_output(args.output, [args.shared_data])
    default = "tsfm-hybrid,tsfm-embed,minirocket,dtw" if args.shots else ",".join(bench.DEFAULT_METHODS)
    methods = tuple(m.strip() for m in (args.methods or default).split(",") if m.strip())
    needs_model = args.validate or any(m.startswith("tsfm") for m in methods)
    model = tsfm.load(args.model) if needs_model else None
    sets = bench.resolve_sets(args.sets)
    if args.validate:
        from tsfm.tasks.classification.fewshot import CachedEmbeddings
        from tsfm.tasks.classification.validation import fewshot_validation, run_validation, training_sets

        training, cached = training_sets(sets), CachedEmbeddings(model)  # both tables embed each series once
        print(run_validation(cached, training, rdst=True).round(3).to_string())
        print("few labels: k training series per class (10 draws), scored on the rest of the training split")
        print(fewshot_validation(cached, training).round(3).to_string())
        return 0
    if args.shots:
        return run_fewshot_bench(args, model, methods, sets)
    if args.which == "ucr":
        factories = bench.method_factories(model, methods, bench.UCR_FEATURES, args.head)
        results = bench.run_ucr(factories, sets, first_channel=args.first_channel)
        published = bench.published_minirocket(args.shared_data)
    else:
        factories = bench.method_factories(model, methods, bench.CWRU_FEATURES, args.head)
        results = bench.run_cwru(factories, Path(args.shared_data) / "cwru", args.max_windows)
        published = None
    if results.empty:
        print("no benchmark data available; nothing to report")
        return 0
    print(bench.side_by_side(results, published).round(3).to_string())
    print(f"the default of tsfm classify is --method {DEFAULT_METHOD} (column tsfm-{DEFAULT_METHOD})")
    if args.output:
        write_table(results, args.output)
        print(f"wrote {args.output}")
    return 0


def run_fewshot_bench(args: argparse.Namespace, model, methods: tuple[str, ...], sets: tuple[str, ...]) -> int:
    """``classify-bench ucr --shots``: accuracy per labelled count, the curve table, the CSV and the plot."""
    from tsfm.outputs import write_table
    from tsfm.tasks.classification import benchmarks as bench
    from tsfm.tasks.classification import fewshot

    shots = fewshot.parse_shots(args.shots)
    if args.draws < 1:
        raise InputError(f"--draws must be >= 1, got {args.draws}")
    plot = args.plot or (str(Path(args.output).with_suffix(".png")) if args.output else None)
    if plot and Path(plot).suffix.lower() != ".png":
        raise InputError(f"--plot {plot}: the plot is written as .png")
    cached = fewshot.CachedEmbeddings(model) if model is not None else None  # each series embedded once
    factories = bench.method_factories(cached, methods, bench.UCR_FEATURES, args.head)
    data = {}
    for name in sets:
        try:
            data[name] = bench.load_ucr(name, args.first_channel)
        except Exception as exc:  # aeon raises several types for a set it cannot find offline
            print(f"skip {name}: not available offline in aeon ({type(exc).__name__}: {exc})")
    results = fewshot.run_fewshot(factories, data, shots, args.draws, args.seed)
    if results.empty:
        print("no benchmark data available; nothing to report")
        return 0
    print(f"mean accuracy over {results['dataset'].nunique()} sets (rows: labelled series per class)")
    print(fewshot.curve_table(results).round(3).to_string())
    if args.output:
        write_table(results, args.output)
        print(f"wrote {args.output}")
    if plot:
        print(f"wrote {fewshot.plot_curves(results, plot)}")
    return 0
