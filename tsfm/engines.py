"""``--engine``: where a batch command runs, chosen on the command line, found as a plug-in.

``local`` (the default) is the single-process path every command has. Other engines run the
same job over a partitioned dataset on a cluster; they live in higher layers (the Ray engine
in :mod:`tsfm.tasks.fleet`) and are declared under the ``tsfm.engines`` entry-point group in
``pyproject.toml`` as ``name = "module:function"``, a ``function(command, args) -> int``. So a
core command such as ``tsfm forecast`` offers ``--engine ray`` without importing upwards.
"""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points

from tsfm.errors import InputError

ENGINE_GROUP = "tsfm.engines"
ENGINES = ("local", "ray")
INSTALL_HINT = {"ray": 'pip install -e ".[distributed]"'}


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """``--engine`` and the flags of the distributed engines (ignored by ``local``)."""
    g = p.add_argument_group("engine (fleet-scale runs; --data is then a folder of parquet or CSV files)")
    g.add_argument(
        "--engine", default="local", choices=ENGINES,
        help="local: one process, one output file (default); ray: Ray Data actors over the partitions of "
        "--data, --output is a folder of parquet partitions, a killed run resumes where it stopped",
    )
    g.add_argument("--address", default=None, help="ray: address of a running cluster (default: a local one)")
    g.add_argument("--workers", type=int, default=2, help="ray: actors, each loading the model once (default: 2)")
    g.add_argument("--threads-per-worker", type=int, default=1, help="ray: torch threads per actor (default: 1)")
    g.add_argument("--block-series", type=int, default=1024, help="ray: series per block in memory (default: 1024)")
    g.add_argument(
        "--overwrite", action="store_true",
        help="ray: replace an --output folder that holds another job's results (kept until the new job completes)",
    )


def run_engine(command: str, args: argparse.Namespace) -> int:
    """Run ``command`` (``forecast``, ``embed``, ``classify``, ``detect``) on ``args.engine``."""
    found = {entry.name: entry for entry in entry_points(group=ENGINE_GROUP)}
    if args.engine not in found:
        hint = INSTALL_HINT.get(args.engine, "install the package that provides it")
        raise InputError(f"--engine {args.engine} is not installed; install it with: {hint}")
    return int(found[args.engine].load()(command, args) or 0)
