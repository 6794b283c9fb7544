"""``tsfm readme-tables``: re-run the benchmarks behind the README's tables and rewrite them.

::

    tsfm readme-tables --list                       # every table, its estimate, data and commands
    tsfm readme-tables                              # the quick tables whose data is present
    tsfm readme-tables --only suite,m4-models       # these tables (long ones run only this way)
    tsfm readme-tables --only distill-m4 --dry-run  # check markers and data, print the commands

Only the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` changes; see
:mod:`tsfm.tasks.readme_tables`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``readme-tables`` to a ``tsfm`` sub-parser set."""
    p = sub.add_parser("readme-tables", help="re-run the benchmarks behind the README's tables and rewrite them")
    p.add_argument("--only", default=None, help="comma-separated table names (default: the quick ones; see --list)")
    p.add_argument("--list", action="store_true", help="name every registered table and what it runs; run nothing")
    p.add_argument("--dry-run", action="store_true", help="check markers and data, print the commands; run nothing")
    p.add_argument("--readme", default="README.md", help="the README to rewrite (default: %(default)s)")
    p.add_argument("--shared-data", default="../shared/data",
                   help="folder with m4/, ett/, skab/, cwru/ (default: %(default)s)")
    p.set_defaults(handler=run_readme_tables)


def run_readme_tables(args: argparse.Namespace) -> int:
    """Handler of ``tsfm readme-tables``."""
    from tsfm.cli_support import names
    from tsfm.tasks.readme_tables import QUICK_MINUTES, command_line, default_tables, plan, regenerate

    registry = default_tables()
    shared = Path(args.shared_data)
    if args.list:
        for table in registry.values():
            when = "default run" if table.quick else "--only"
            missing = table.missing(shared)
            data = f"; needs {', '.join(missing)} (absent)" if missing else ""
            print(f"{table.name}: about {table.minutes:g} min ({when}){data}\n    {table.description}")
            for argv in table.commands:
                print(f"    $ {command_line(argv, shared)}")
        print(f"\nTables estimated above {QUICK_MINUTES:g} min run only with --only; minutes are for 2 CPU cores.")
        return 0
    only = names(args.only)
    if args.dry_run:
        chosen = plan(Path(args.readme), only, registry, shared)
        for table in chosen:
            print(f"would regenerate {table.name} (about {table.minutes:g} min)")
            for argv in table.commands:
                print(f"    $ {command_line(argv, shared)}")
        print(f"{len(chosen)} table(s), about {sum(t.minutes for t in chosen):g} min; {args.readme} unchanged")
        return 0
    done = regenerate(args.readme, only, registry, shared)
    print(f"{len(done)} table(s) rewritten in {args.readme}: "
          + (", ".join(f"{name} {seconds:.0f} s" for name, seconds in done) or "none"))
    return 0
