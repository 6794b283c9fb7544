"""``tsfm finetune`` and ``tsfm merge``.

:func:`add_parsers` adds both to the ``tsfm`` command. This module also runs on its own, which is
how several GPUs, nodes or CPU processes train one model::

    accelerate launch -m tsfm.adapters.cli finetune --model M --data FILE --horizon 24 --output DIR
    torchrun --nproc_per_node 2 -m tsfm.adapters.cli finetune ...      # two CPU processes (gloo)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tsfm.errors import InputError

_INTERRUPT_HINT = ": run the same command again to resume from the last checkpoint"


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``finetune`` and ``merge`` to a ``tsfm`` sub-parser set."""
    p = subparsers.add_parser(
        "finetune",
        help="LoRA or full fine-tuning on your series, judged against zero-shot and baselines",
        description="Fine-tune a model of any trainable family (Chronos, TiRex, TimesFM 2.5, TinyTimeMixer) "
        "on the training part of each series, stop early on the "
        "WINDOWS windows of HORIZON values after it, and judge zero-shot vs fine-tuned vs baselines on the "
        "last WINDOWS windows of each series, which nothing was trained or stopped on: a variant is kept "
        "only if it wins on the pooled WQL, on a majority of those windows and on a majority of the series. "
        "Writes OUTPUT (a model name tsfm accepts), OUTPUT/report.json and OUTPUT/verdict.csv.",
    )
    from tsfm.cli_support import add_data_flags

    add_data_flags(p)
    p.add_argument("--model", default=None,
                   help="model name, folder or hub id of a trainable family (default: the bundled model)")
    p.add_argument("--method", default="lora", help="lora, full, or both as lora,full (default: %(default)s)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--steps", type=int, default=None, help="most optimiser steps (default: 300)")
    p.add_argument("--batch-size", type=int, default=None, help="windows per step (default: 32)")
    p.add_argument("--grad-accum", type=int, default=None, help="micro-batches per step (default: 1)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3 LoRA, 1e-4 full)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between validations (default: 25)")
    p.add_argument("--patience", type=int, default=None, help="validations without gain before stopping (default: 4)")
    p.add_argument(
        "--windows", type=int, default=None,
        help="early-stopping and verdict windows per series, each (default: 3 where the series allow)",
    )
    p.add_argument("--lora-rank", type=int, default=None, help="LoRA rank r (default: 4)")
    p.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: 8)")
    p.add_argument("--lora-targets", default=None, help="comma-separated module names (default: q,v)")
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default=None, help="on GPUs only")
    p.add_argument(
        "--augment", type=float, default=None,
        help="noise-injection training: probability that a window's context is perturbed (default: 0)",
    )
    p.add_argument("--config", default=None, help="JSON file of FinetuneConfig fields; flags override it")
    p.add_argument("--baselines", default="seasonal-naive,auto-ets", help="classical models in the verdict")
    p.add_argument("--season-length", type=int, default=None, help="seasonal period (default: from the data)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="keep the fine-tuned model even if zero-shot is better")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUTPUT holds a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_finetune, interrupt_hint=_INTERRUPT_HINT)

    p = subparsers.add_parser("merge", help="merge a fine-tuning folder's LoRA adapter into a plain model checkpoint")
    p.add_argument("folder", help="a tsfm finetune output folder")
    p.add_argument("--output", required=True, help="folder to write the merged checkpoint to")
    p.add_argument("--overwrite", action="store_true", help="replace an --output folder that holds other files")
    p.set_defaults(handler=run_merge)


def _config(args: argparse.Namespace):
    from tsfm.adapters.config import FinetuneConfig

    config = FinetuneConfig.from_json(args.config) if args.config else FinetuneConfig()
    flags = {"steps": args.steps, "batch_size": args.batch_size, "grad_accum": args.grad_accum, "lr": args.lr,
             "eval_every": args.eval_every, "patience": args.patience, "mixed_precision": args.mixed_precision,
             "augment": args.augment, "windows": args.windows}
    return config.replace(**{k: v for k, v in flags.items() if v is not None})


def _lora(args: argparse.Namespace) -> dict | None:
    """The LoRA flags as ``LoraConfig`` fields (``None``: the defaults); a rank below 1 is refused."""
    if args.lora_rank is not None and args.lora_rank < 1:
        raise InputError(f"--lora-rank must be a positive integer (1 or more; 4 to 64 is usual), got {args.lora_rank}")
    fields = {"r": args.lora_rank, "lora_alpha": args.lora_alpha,
              "target_modules": [t.strip() for t in args.lora_targets.split(",") if t.strip()]
              if args.lora_targets else None}
    fields = {k: v for k, v in fields.items() if v is not None}
    return fields or None


def run_finetune(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from tsfm import data as tsdata
    from tsfm.adapters.finetune import finetune
    from tsfm.bundled import DEFAULT_MODEL
    from tsfm.cli_support import load_data
    from tsfm.registry import load

    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    lora = _lora(args)  # flags are checked before any data or model is read
    frame = load_data(args)
    season = args.season_length or tsdata.default_season_length(tsdata.infer_frequency(frame))
    model = load(args.model or DEFAULT_MODEL, device=args.device)
    result = finetune(
        model, frame, args.horizon, method=methods, lora_config=lora, config=_config(args),
        output_dir=args.output, baselines=[b.strip() for b in args.baselines.split(",") if b.strip()],
        season_length=season, force=args.force, resume=not args.no_resume,
        progress=not args.no_progress,
    )
    if PartialState().is_main_process:  # the state finetune() set up: one process prints
        for method, run in result.report["runs"].items():
            share = run["file_share_of_base"]
            print(f"{method}: {run['trainable_parameters']:,} trainable of {run['total_parameters']:,} "
                  f"({run['trainable_share']:.2%}), {run['steps']} steps (best {run['best_step']}), "
                  f"{run['seconds_per_100_steps']:.1f} s/100 steps, file {run['file_bytes'] / 1e6:.2f} MB"
                  + (f" ({share:.2%} of the base model's)" if share else ""))
        print(result.verdict, end="")
        print(f"model: {args.output} (a model name for tsfm forecast/evaluate); figures: {args.output}/report.json")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from tsfm.adapters.artifacts import merge_adapter
    from tsfm.outputs import check_folder_output, staged_folder

    check_folder_output(args.output, "merge", args.overwrite, inputs=[args.folder])
    with staged_folder(args.output, "merge", args.overwrite) as stage:
        merge_adapter(args.folder, stage)
    out = args.output
    print(f"merged checkpoint: {out} (a plain checkpoint of its family: loads with tsfm.load, needs no peft)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m tsfm.adapters.cli finetune ...``), e.g. under ``accelerate launch``."""
    from tsfm.cli_support import run_handler

    parser = argparse.ArgumentParser(prog="tsfm.adapters.cli")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_handler(f"tsfm {args.command}", args)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise InputError("usage: python -m tsfm.adapters.cli finetune|merge ...")
    raise SystemExit(main())
