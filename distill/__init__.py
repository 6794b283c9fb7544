"""Distillation: small student forecasters from a TSFM teacher, ONNX export and a torch-free edge runtime.

``tsfm.distill.distill(teacher, series, horizon, student="mlp", output=DIR)`` trains a student (see
:mod:`tsfm.distill.train`); :mod:`tsfm.distill.export` writes it to ONNX; :mod:`tsfm.distill.runtime` runs the
file with numpy and onnxruntime only. Importing this package imports nothing heavy: the names
below are loaded on first use, so ``tsfm.distill.runtime`` stays torch-free.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "distill": "tsfm.distill.train",
    "DistillConfig": "tsfm.distill.train",
    "DistillResult": "tsfm.distill.train",
    "StudentConfig": "tsfm.distill.students",
    "export_student": "tsfm.distill.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
