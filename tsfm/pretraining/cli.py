"""``tsfm pretrain``: pretrain a Chronos-Bolt or Chronos-2 model from scratch.

:func:`add_parsers` adds the subcommand to the ``tsfm`` parser. This module also runs on
its own, which is how several GPUs or nodes train one model::

    accelerate launch -m tsfm.pretraining.cli --config bolt-mini-cpu --output runs/bolt
    ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 -m tsfm.pretraining.cli --config ...  # CPUs

``--config`` takes a JSON file or the name of a shipped example (:func:`shipped_configs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tsfm.errors import InputError

if TYPE_CHECKING:
    from tsfm.pretraining.config import PretrainConfig


def shipped_configs() -> list[str]:
    """Names of the example configs shipped in ``tsfm/pretraining/configs`` (without ``.json``)."""
    folder = resources.files("tsfm.pretraining") / "configs"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_config(name_or_path: str) -> PretrainConfig:
    """A :class:`~tsfm.pretraining.config.PretrainConfig` from a JSON path or a shipped config's name."""
    from tsfm.pretraining.config import PretrainConfig

    path = Path(name_or_path)
    if path.is_file():
        return PretrainConfig.from_json(path)
    name = name_or_path[: -len(".json")] if name_or_path.endswith(".json") else name_or_path
    if name in shipped_configs():
        text = (resources.files("tsfm.pretraining") / "configs" / f"{name}.json").read_text()
        return PretrainConfig.from_dict(json.loads(text))
    raise InputError(
        f"--config {name_or_path!r} is neither a JSON file nor a shipped config "
        f"({', '.join(shipped_configs())})"
    )


_INTERRUPT_HINT = ": run the same command again to resume from the last checkpoint"


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True,
        help="pretraining config: a JSON file, or a shipped one: "
        f"{', '.join(shipped_configs())}; several, comma-separated, train one after the other",
    )
    p.add_argument("--output", default=None, help="output folder (default: the config's output_dir)")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps (default: the config's)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs of background runs)")
    p.add_argument(
        "--device", choices=("auto", "cuda", "cpu"), default=None,
        help="fit the run to a device: cuda trains in bf16 at the largest batch that fits (probed), with "
        "batches made ahead and checkpoints every 2 minutes; cpu keeps the config's CPU recipe; auto picks "
        "cuda when torch sees one (default: the config exactly as written)",
    )
    p.add_argument(
        "--minutes", type=float, default=None,
        help="device-time budget: size the steps to the measured step time so the run and its lr schedule "
        "end within it (with --device; 10 on cuda when not given)",
    )
    p.add_argument(
        "--export-checkpoint", metavar="DEST", default=None,
        help="do not train: write the run's latest checkpoint as a loadable model folder DEST/model "
        "(to evaluate or ship a run before it ends)",
    )


def add_parsers(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``pretrain`` to a ``tsfm`` sub-parser set; the handler is ``args.handler``."""
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a Chronos-Bolt or Chronos-2 model on synthetic series and a real public corpus",
        description="Pretrain from scratch, or continue a model (init_from); resumes from OUTPUT/checkpoint "
        "unless --no-resume. --device fits the run to a GPU or the CPU. "
        "Writes OUTPUT/model (loads with BaseChronosPipeline.from_pretrained), log.jsonl and "
        "pretrain_config.json.",
    )
    _add_flags(p)
    p.set_defaults(handler=run_pretrain, interrupt_hint=_INTERRUPT_HINT)
    return p


def run_pretrain(args: argparse.Namespace) -> int:
    """Handler of ``tsfm pretrain``: apply the flag overrides, train each config, print where the models are.

    Several comma-separated configs train one after the other (``--config bolt-mini-gen2,chronos2-mini-gen2``);
    each writes to ``--output/<config name>`` (or its own ``output_dir``) and gets an equal share of
    ``--minutes``.
    """
    names = [name.strip() for name in args.config.split(",") if name.strip()]
    if not names:
        raise InputError(f"--config needs a config name or JSON file; got {args.config!r}")
    if args.minutes is not None and args.device is None:
        raise InputError(f"--minutes {args.minutes:g} needs --device (auto, cuda or cpu) to measure the step time on")
    if len(names) > 1 and args.export_checkpoint is not None:
        raise InputError("--export-checkpoint takes one --config, the run to export; got several")
    for name in names:
        output = args.output if len(names) == 1 or args.output is None else str(Path(args.output) / Path(name).stem)
        _run_one(args, load_config(name), output, len(names))
    return 0


def _run_one(args: argparse.Namespace, config: PretrainConfig, output: str | None, runs: int) -> None:
    from tsfm.pretraining.trainer import pretrain

    changes: dict[str, object] = {}
    if output is not None:
        changes["output_dir"] = output
    if args.steps is not None:
        changes["steps"] = args.steps
    config = config.replace(**changes) if changes else config
    if args.export_checkpoint is not None:
        from tsfm.pretraining.trainer import export_checkpoint

        model_dir = export_checkpoint(config.output_dir, args.export_checkpoint)
        print(f"exported the latest checkpoint of {config.output_dir} -> {model_dir}")
        return
    if args.device is not None:
        from tsfm.pretraining.recipe import plan_run, resolve_device, write_plan

        minutes = args.minutes if args.minutes is not None or resolve_device(args.device) == "cpu" else 10.0
        minutes = None if minutes is None else minutes / runs
        config, plan = plan_run(config, args.device, minutes, resume=not args.no_resume)
        if args.steps is not None and config.steps != args.steps:  # an explicit --steps beats the plan's
            config = config.replace(steps=args.steps)
            plan = dataclasses.replace(plan, steps=args.steps, note=f"{plan.note}; --steps {args.steps}")
        write_plan(plan, config.output_dir)
        print(f"recipe: {plan.device}, batch {plan.batch_size}, lr {plan.lr:.2e}, {plan.steps} steps, "
              f"bf16 {plan.bf16}, {plan.data_workers} data workers ({plan.note})")
    model_dir = pretrain(config, resume=not args.no_resume, progress=not args.no_progress)
    print(f"pretrained {config.family} for {config.steps} steps -> {model_dir}")


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m tsfm.pretraining.cli`` or ``accelerate launch -m ...``)."""
    parser = argparse.ArgumentParser(prog="tsfm pretrain", description=__doc__.splitlines()[0])
    _add_flags(parser)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.set_defaults(handler=run_pretrain, interrupt_hint=_INTERRUPT_HINT)
    from tsfm.cli_support import run_handler

    return run_handler("tsfm pretrain", parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
