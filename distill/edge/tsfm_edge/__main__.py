"""``python -m tsfm_edge --info FILE``: what an exported file is, and its baseline gate.

numpy and onnxruntime only, like the rest of the runtime.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import NotATsfmExportError, OnnxRuntimeModel


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsfm_edge", description="Inspect a tsfm ONNX export.")
    parser.add_argument("--info", required=True, metavar="FILE", help="print the file's shapes and baseline gate")
    args = parser.parse_args(argv)
    try:
        print(OnnxRuntimeModel(args.info).describe())
    except (FileNotFoundError, NotATsfmExportError) as exc:
        print(f"tsfm_edge: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
