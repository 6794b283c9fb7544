"""``tsfm bench``: every benchmark of every layer behind one command.

Benchmarks are plug-ins like commands: each is a ``main(argv) -> int`` that parses its own
flags, declared under the ``tsfm.benchmarks`` entry-point group in ``pyproject.toml``
(``name = "module:function"``). ``tsfm bench --list`` names them without running any (the
description is the first docstring line of the function, read from its source file), and
``tsfm bench NAME [flags]`` hands the flags after ``NAME`` to that function, so
``tsfm bench NAME --help`` shows the benchmark's own flags.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from importlib.metadata import EntryPoint, entry_points

from tsfm.errors import InputError

BENCH_GROUP = "tsfm.benchmarks"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``bench`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser(
        "bench", help="benchmarks: 'tsfm bench --list', then 'tsfm bench NAME [flags]' ('NAME --help' for its flags)",
    )
    p.add_argument("--list", action="store_true", help="name every installed benchmark and what it measures")
    p.add_argument("name", nargs="?", help="benchmark to run (see --list)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="flags of the benchmark")
    p.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Handler of ``tsfm bench``: list the benchmarks, or run one with the remaining flags."""
    found = benchmarks()
    if args.list or args.name is None:
        width = max((len(name) for name in found), default=0)
        for name, entry in found.items():
            print(f"{name:<{width}}  {describe(entry)}")
        return 0 if args.list else 2
    if args.name not in found:
        raise InputError(f"unknown benchmark {args.name!r}; known: {', '.join(found)} (tsfm bench --list)")
    return int(found[args.name].load()(args.args) or 0)


def benchmarks() -> dict[str, EntryPoint]:
    """Name -> entry point of every installed ``tsfm.benchmarks`` plug-in, sorted by name."""
    return {entry.name: entry for entry in sorted(entry_points(group=BENCH_GROUP), key=lambda e: e.name)}


def describe(entry: EntryPoint) -> str:
    """First docstring line of the entry point's function, read from source; its target if unreadable."""
    try:
        spec = importlib.util.find_spec(entry.module)
        source = spec.loader.get_source(entry.module) if spec and spec.loader else None  # type: ignore[attr-defined]
    except (ImportError, AttributeError, ValueError):
        source = None
    if source:
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == entry.attr and ast.get_docstring(node):
                return ast.get_docstring(node).splitlines()[0]
    return entry.value
