"""``tsfm distill``, ``tsfm export`` and ``tsfm distill-report``.

::

    tsfm distill --teacher tsfm-bolt-mini --data FILE --horizon 48 --student mlp --output DIR --holdout
    tsfm export DIR --format onnx --quantize static-int8 --data FILE --output student.onnx [--force]
    tsfm distill-report --teacher tsfm-bolt-mini --student DIR --onnx student.onnx,student-int8.onnx \\
        --data FILE --horizon 48 --output report.json

``--holdout`` keeps the last ``horizon`` steps of every series out of distillation, so that
``tsfm distill-report`` and ``tsfm evaluate`` (which score the last ``horizon`` steps) are
out-of-sample. ``tsfm export --data FILE`` first scores the model against the classical
baselines on rolling windows of ``FILE`` and refuses a model that loses, unless ``--force``
(see :mod:`tsfm.distill.gate`). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsfm.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``distill``, ``export`` and ``distill-report`` to the ``tsfm`` sub-parsers."""
    from tsfm.cli_support import add_data_flags, add_max_history_flag, seconds_option
    from tsfm.distill.gate import DEFAULT_GATE_TIME_BUDGET  # light: numpy, pandas, the registry

    p = sub.add_parser("distill", help="distil a teacher model into a small student (writes a student folder)")
    add_data_flags(p)
    p.add_argument("--teacher", required=True, help="teacher model name or folder, e.g. tsfm-bolt-mini")
    p.add_argument("--student", default="mlp", choices=["linear", "mlp", "patch"], help="architecture")
    p.add_argument("--output", required=True, help="student folder to write")
    p.add_argument("--context-length", type=int, default=None, help="student context (default: from the data)")
    p.add_argument("--hidden-size", type=int, default=None, help="student width (default: the StudentConfig's)")
    p.add_argument("--n-blocks", type=int, default=None, help="student blocks (default: the StudentConfig's)")
    p.add_argument("--teacher-weight", type=float, default=0.7, help="share of the loss on the teacher")
    p.add_argument("--n-synthetic", type=int, default=1024, help="synthetic training windows")
    p.add_argument("--max-epochs", type=int, default=60, help="epochs at most (early stopping may end sooner)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, synthetic data and shuffling")
    p.add_argument("--augment", type=float, default=0.0,
                   help="noise-injection training: share of windows added again with a perturbed context")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--holdout", action="store_true", help="leave the last --horizon steps of each series out")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.set_defaults(handler=run_distill)

    p = sub.add_parser("export", help="export a student folder to ONNX, optionally int8, verified against torch")
    p.add_argument("student", help="student folder written by `tsfm distill`, or a Chronos-Bolt teacher "
                   "(tsfm-bolt-mini or a folder; needs --horizon)")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    p.add_argument("--quantize", default="none", choices=["none", "dynamic-int8", "static-int8"])
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument("--data", default=None, help="series to calibrate static-int8 and to verify on (default: synthetic)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="largest allowed difference in std units, a number > 0 (default: 1e-3 fp32, 0.15 int8)")
    p.add_argument("--horizon", type=int, default=None, help="teacher export only: fixed horizon")
    p.add_argument("--context-length", type=int, default=512, help="teacher export only: fixed context")
    p.add_argument("--metric", default="WQL", choices=["WQL", "MASE"],
                   help="baseline gate (with --data): the figure compared (default: %(default)s)")
    p.add_argument("--windows", type=int, default=3,
                   help="baseline gate: rolling validation windows per series of --data (default: %(default)s)")
    p.add_argument("--season-length", type=int, default=None,
                   help="baseline gate: season of MASE and seasonal naive (default: from the data's frequency)")
    p.add_argument("--force", action="store_true",
                   help="export even when the model loses to a classical baseline on --data (the gate is recorded)")
    add_max_history_flag(p, "baseline gate: ")
    p.add_argument("--time-budget", type=seconds_option, default=DEFAULT_GATE_TIME_BUDGET, metavar="SECONDS",
                   help="baseline gate: seconds it may take before it stops with an error and nothing is "
                   "exported; 'none' for no limit (default: %(default)g)")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("distill-report", help="size, CPU latency and accuracy of teacher, student, ONNX files, naive")
    add_data_flags(p)
    p.add_argument("--teacher", required=True, help="teacher model name or folder")
    p.add_argument("--student", required=True, help="student folder")
    p.add_argument("--onnx", default="", help="comma-separated .onnx files: fp32 first, then int8")
    p.add_argument("--teacher-onnx", default="", help="comma-separated .onnx exports of the teacher (extra rows)")
    p.add_argument("--season-length", type=int, default=None, help="season for MASE and seasonal naive")
    p.add_argument("--output", default=None, help="write the table and ratios as JSON here (.json)")
    p.set_defaults(handler=run_report)


def _series(args: argparse.Namespace, holdout: int = 0):
    from tsfm import data as tsdata
    from tsfm.cli_support import load_data

    frame = load_data(args)
    _, series = tsdata.to_series(frame)
    if holdout:
        series = [s[:-holdout] for s in series if len(s) > holdout]
    return frame, series


def run_distill(args: argparse.Namespace) -> int:
    from tsfm.distill.students import StudentConfig
    from tsfm.distill.train import KIND, DistillConfig, default_context_length, distill
    from tsfm.outputs import check_folder_output

    check_folder_output(args.output, KIND, args.overwrite, inputs=[args.data, args.teacher])
    _, series = _series(args, args.horizon if args.holdout else 0)
    if not series:
        raise InputError("no series left after --holdout; every series is shorter than the horizon")
    config = DistillConfig(
        teacher_weight=args.teacher_weight, n_synthetic=args.n_synthetic, max_epochs=args.max_epochs,
        seed=args.seed, device=args.device, augment=args.augment,
    )
    length = args.context_length or default_context_length(series, args.horizon)
    sizes = {k: v for k, v in (("hidden_size", args.hidden_size), ("n_blocks", args.n_blocks)) if v is not None}
    student = StudentConfig(architecture=args.student, context_length=length, horizon=args.horizon,
                            seed=args.seed, **sizes)
    result = distill(args.teacher, series, args.horizon, student=student, config=config, output=args.output,
                     overwrite=args.overwrite)
    r = result.report
    print(f"{args.student} student, {r['n_parameters']:,} parameters, context {length}, horizon {args.horizon}: "
          f"best epoch {r['best_epoch']}, validation loss {r['best_validation_loss']:.4f} "
          f"({r['windows']['train']} training windows, {r['train_seconds']} s) -> {result.output}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from tsfm.distill.export import contexts_to_windows, export_student
    from tsfm.distill.students import is_student_folder, load_student
    from tsfm.outputs import check_table_output

    _check_export_source(args.student)
    if args.tolerance is not None and not 0 < args.tolerance < float("inf"):
        raise InputError(f"--tolerance must be a number > 0 (the largest allowed difference in std units), "
                         f"got {args.tolerance:g}")
    if args.force and not args.data:
        raise InputError("--force only overrides the baseline gate, which needs --data")
    check_table_output(args.output, [args.student, args.data], suffixes=(".onnx",))
    student = is_student_folder(Path(args.student))
    if not student and args.horizon is None:
        raise InputError("--horizon is required to export a teacher (the exported horizon is fixed)")
    series, gate = None, None
    if args.data:
        from tsfm import data as tsdata

        frame = tsdata.load_frame(args.data)
        ids, series = tsdata.to_series(frame)
        gate = _gate(args, frame, ids, series, student)  # before anything is written
    if student:
        model = load_student(args.student)
        windows = contexts_to_windows(series, model.config.context_length) if series else None
        report = export_student(model, args.output, args.quantize, windows, args.tolerance)
    else:
        from tsfm.distill.teacher_export import export_bolt_teacher

        windows = contexts_to_windows(series, args.context_length, max_windows=64) if series else None
        report = export_bolt_teacher(args.student, args.output, args.horizon, args.context_length, args.quantize,
                                     windows, args.tolerance)
    print(f"{report.path}: {report.file_bytes / 1024:.1f} KiB, quantize={report.quantize}, largest difference vs "
          f"torch {report.max_abs_diff['quantiles']:.3g} ({report.max_scaled_diff['quantiles']:.3g} std units, "
          f"tolerance {report.tolerance:g})")
    if gate is not None:
        from tsfm.distill.gate import gate_csv_path, stamp_onnx

        stamp_onnx(args.output, gate)
        print(f"gate recorded in {args.output} (metadata) and {gate_csv_path(args.output)}")
    return 0


def _gate(args: argparse.Namespace, frame, ids, series, student: bool):
    """Score the model against the classical baselines on ``--data``; refuse a loser unless ``--force``."""
    from dataclasses import replace

    from tsfm import data as tsdata
    from tsfm.distill.gate import GateRefusedError, baseline_gate
    from tsfm.registry import load

    season = args.season_length or tsdata.default_season_length(tsdata.infer_frequency(frame))
    model = load(args.student, device="cpu")
    horizon = model.config.horizon if student else args.horizon
    gate = baseline_gate(model, series, horizon, season, args.windows, args.metric, ids,
                         max_history=args.max_history, time_budget=args.time_budget)
    print(gate.to_frame().to_string(index=False))
    if not gate.passed and not args.force:
        raise GateRefusedError(f"refused: {gate.line()}; pass --force to export anyway")
    print(("gate: " if gate.passed else "gate (forced): ") + gate.line())
    return replace(gate, forced=not gate.passed)


def _check_export_source(student: str) -> None:
    """The ``student`` argument of ``tsfm export`` exists: a folder, or a bundled model's name."""
    from tsfm.bundled import BUNDLED_MODELS

    path = Path(student).expanduser()
    if student in BUNDLED_MODELS or path.is_dir():
        return
    what = "is a file, not a folder" if path.exists() else "does not exist"
    raise InputError(
        f"{student!r} {what}: give a student folder written by `tsfm distill`, or a Chronos-Bolt teacher "
        "(a bundled name such as tsfm-bolt-mini, or a Chronos-Bolt folder)"
    )


def _teacher_bytes(name: str) -> int:
    from tsfm.bundled import BUNDLED_MODELS, bundled_model_path

    folder = bundled_model_path(name) if name in BUNDLED_MODELS else Path(name)
    weights = folder / "model.safetensors"
    return weights.stat().st_size if weights.is_file() else 0


def run_report(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from tsfm import data as tsdata
    from tsfm.distill import report
    from tsfm.distill.students import WEIGHTS_FILE
    from tsfm.registry import load

    if args.output:
        from tsfm.outputs import check_table_output

        onnx_files = [p for p in (*args.onnx.split(","), *args.teacher_onnx.split(",")) if p.strip()]
        inputs = [args.data, args.student, args.teacher, *onnx_files]
        check_table_output(args.output, inputs, suffixes=(".json",))
    torch.set_num_threads(1)
    frame, full = _series(args)
    h = args.horizon
    full = [s for s in full if len(s) > h + 1]
    contexts, targets = [s[:-h] for s in full], np.stack([s[-h:] for s in full])
    season = args.season_length or tsdata.default_season_length(tsdata.infer_frequency(frame))
    levels = report.DEFAULT_QUANTILE_LEVELS
    teacher = load(args.teacher, device="cpu")
    student = load(args.student)
    naive = load("seasonal-naive", season_length=season)
    entries = {
        f"teacher {args.teacher}": report.contract_entry(
            teacher, h, levels, report.torch_parameters(teacher), _teacher_bytes(args.teacher)),
        "student (torch)": report.contract_entry(
            student, h, levels, report.torch_parameters(student), (Path(args.student) / WEIGHTS_FILE).stat().st_size),
        **{f"student {Path(p).name}": report.onnx_entry(p, h, levels) for p in args.onnx.split(",") if p.strip()},
        **{f"teacher {Path(p).name}": report.onnx_entry(p, h, levels) for p in args.teacher_onnx.split(",") if p},
        "seasonal-naive": report.contract_entry(naive, h, levels, 0, 0),
    }
    table = report.measure(entries, contexts, targets, season, levels)
    print(f"{len(contexts)} series, horizon {h}, season {season}, 1 CPU thread\n")
    print(report.format_table(table))
    onnx_labels = [k for k in entries if k.startswith("student ") and k.endswith(".onnx")]
    summary = {}
    if len(onnx_labels) >= 2:
        summary = report.summarise(table, f"teacher {args.teacher}", onnx_labels[0], onnx_labels[-1], "seasonal-naive")
        print("\n" + ", ".join(f"{k} {v:.3g}" for k, v in summary.items()))
    if args.output:
        from tsfm.outputs import write_json

        write_json({"table": table.to_dict("records"), "summary": summary}, args.output)
    return 0
