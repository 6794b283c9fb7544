"""The ``tsfm`` command: a parser whose subcommands come from plug-ins.

Every layer declares its commands under the ``tsfm.commands`` entry-point group in
``pyproject.toml`` (an ``add_parsers(sub)`` function each); a separately installed
package can add its own the same way. The command lives in the top layer because it
gathers the commands of all the layers below it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import entry_points

from tsfm.cli_support import run_handler

COMMAND_GROUP = "tsfm.commands"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return run_handler(f"tsfm {args.command}", args)


def build_parser() -> argparse.ArgumentParser:
    """The ``tsfm`` parser with the subcommands of every installed plug-in."""
    parser = argparse.ArgumentParser(
        prog="tsfm",
        description="Pretrained time-series foundation models and classical baselines behind one contract.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for plugin in command_plugins():
        plugin.load()(sub)
    return parser


def command_plugins() -> list:
    """The ``tsfm.commands`` entry points, core first, then in the order of their names."""
    found = entry_points(group=COMMAND_GROUP)
    if not found:
        raise RuntimeError(
            f"no '{COMMAND_GROUP}' entry points: tsfm-adapt is not installed; run 'pip install -e .' in the repository"
        )
    return sorted(found, key=lambda ep: (not ep.value.startswith("tsfm.forecast_cli"), ep.name))


if __name__ == "__main__":
    raise SystemExit(main())
