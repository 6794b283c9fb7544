"""Edge runtime: forecast with an exported tsfm ONNX file using only numpy and onnxruntime.

This module imports nothing else (no torch, no pandas, no tsfm). It is one source installed under
two names: ``tsfm_edge`` by the small ``tsfm-edge`` distribution (``pip install ./distill/edge``,
which pulls numpy and onnxruntime only), and ``tsfm.distill.runtime`` by the full ``tsfm-adapt``::

    from tsfm_edge import OnnxRuntimeModel
    model = OnnxRuntimeModel("student.onnx")
    quantiles = model.forecast([series_a, series_b])  # [n_series, horizon, n_q]

Everything the runtime needs is read from the ONNX file's own metadata (``metadata_props``),
written by :mod:`tsfm.distill.export`: the format marker and version, ``context_length``, ``horizon``,
``quantile_levels`` (JSON list), ``normalisation`` (done inside the graph) and ``padding``.
A file without the marker is refused with :class:`NotATsfmExportError`. A file exported with
``tsfm export --data`` also holds ``tsfm_gate``: the model's validation score against the classical
baselines on that data (:attr:`OnnxRuntimeModel.gate`); ``python -m tsfm_edge --info FILE`` (or
``python -m tsfm.distill.runtime --info FILE``) prints it with the file's shapes.

Context handling (documented behaviour, not an error): a series longer than ``context_length``
is cut to its last ``context_length`` values; a shorter one is **left-padded with NaN**, which
the exported graph treats as missing. A series with no finite value, a non-1-D series or one
holding inf is refused with :class:`RuntimeInputError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

FORMAT_KEY = "tsfm_format"
FORMAT_NAME = "tsfm-forecaster-onnx"
VERSION_KEY = "tsfm_format_version"
FORMAT_VERSION = "1"
INPUT_NAME = "context"  # [batch, context_length] float32, NaN = missing
OUTPUT_NAME = "quantiles"  # [batch, horizon, n_q] float32
REQUIRED_KEYS = ("context_length", "horizon", "quantile_levels")
GATE_KEY = "tsfm_gate"  # JSON: the baseline gate of `tsfm export --data` (tsfm.distill.gate)


class RuntimeInputError(ValueError):
    """Input to the runtime is invalid (shape, type, no finite values)."""


class NotATsfmExportError(ValueError):
    """The ONNX file was not written by ``tsfm export`` (no or an unknown format marker)."""


class OnnxRuntimeModel:
    """An exported tsfm forecaster, loaded with onnxruntime.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    threads
        Intra-op threads for onnxruntime; ``None`` lets onnxruntime choose.

    Attributes
    ----------
    metadata
        Every ``metadata_props`` entry of the file.
    context_length, horizon
        The fixed shapes the graph was exported with.
    quantile_levels
        Levels of the last output axis.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no ONNX file at {self.path}")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise NotATsfmExportError(f"{self.path} is not a readable ONNX model: {exc}") from None
        self.metadata = read_metadata(self.session, self.path)
        self.context_length = int(self.metadata["context_length"])
        self.horizon = int(self.metadata["horizon"])
        self.quantile_levels = tuple(float(x) for x in json.loads(self.metadata["quantile_levels"]))

    def __repr__(self) -> str:
        return f"OnnxRuntimeModel({str(self.path)!r}, context_length={self.context_length}, horizon={self.horizon})"

    @property
    def gate(self) -> dict[str, Any] | None:
        """The baseline gate recorded at export (metric, both scores, verdict, every model's figures), or None.

        Keys: ``metric``, ``passed``, ``forced``, ``model``, ``score``, ``best_baseline``,
        ``baseline_score``, ``config`` (the windows), ``season_length``, ``scores`` (one dict per model).
        """
        raw = self.metadata.get(GATE_KEY)
        if raw is None:
            return None
        try:
            gate = json.loads(raw)
        except ValueError:
            raise NotATsfmExportError(f"{self.path} has a {GATE_KEY} entry that is not JSON") from None
        if not isinstance(gate, dict):
            raise NotATsfmExportError(f"{self.path} has a {GATE_KEY} entry that is not a JSON object")
        return gate

    def describe(self) -> str:
        """A few lines for people: shapes, levels, and the baseline gate if the export recorded one."""
        lines = [
            f"{self.path}: tsfm ONNX forecaster, context_length {self.context_length}, horizon {self.horizon}",
            f"quantile levels: {', '.join(f'{q:g}' for q in self.quantile_levels)}",
        ]
        gate = self.gate
        if gate is None:
            lines.append("baseline gate: not recorded (exported without --data)")
            return "\n".join(lines)
        verdict = "passed" if gate.get("passed") else ("forced" if gate.get("forced") else "refused")
        lines.append(
            f"baseline gate: {verdict}: {gate.get('model')} {gate.get('metric')} {_fmt(gate.get('score'))} vs "
            f"best baseline {gate.get('best_baseline')} {_fmt(gate.get('baseline_score'))}"
        )
        for row in gate.get("scores", []):
            lines.append(f"  {row.get('model')}: MASE {_fmt(row.get('MASE'))}, WQL {_fmt(row.get('WQL'))}, "
                         f"{row.get('windows')} windows")
        return "\n".join(lines)

    def prepare(self, context: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Check and pad a batch of series: ``[n_series, context_length]`` float32 (see the module docstring)."""
        rows = [context] if isinstance(context, np.ndarray) and context.ndim == 1 else list(context)
        if not rows:
            raise RuntimeInputError("context is empty: pass at least one series")
        out = np.full((len(rows), self.context_length), np.nan, dtype=np.float32)
        for i, raw in enumerate(rows):
            try:
                values = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError):
                raise RuntimeInputError(f"context[{i}] is not numeric") from None
            if values.ndim != 1:
                raise RuntimeInputError(f"context[{i}] has shape {values.shape}; each series must be 1-D")
            if np.isinf(values).any():
                raise RuntimeInputError(f"context[{i}] contains inf; use NaN for missing values")
            tail = values[-self.context_length :]
            if not np.isfinite(tail).any():
                raise RuntimeInputError(
                    f"context[{i}] has no finite value in its last {self.context_length} steps"
                )
            out[i, self.context_length - len(tail) :] = tail
        return out

    def forecast(self, context: Sequence[Any] | np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Quantile forecasts ``[n_series, horizon, n_q]`` (float32) for 1-D series of any length."""
        padded = self.prepare(context)
        return self.run(padded, batch_size)

    def run(self, padded: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Run the graph on already padded ``[n, context_length]`` float32 input: ``[n, horizon, n_q]``."""
        chunks = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: padded[start : start + batch_size]})[0]
            for start in range(0, len(padded), batch_size)
        ]
        return np.concatenate(chunks)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"


def read_metadata(session: ort.InferenceSession, path: Path) -> dict[str, str]:
    """The file's ``metadata_props``, after checking the tsfm marker, version and required keys."""
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if metadata.get(FORMAT_KEY) != FORMAT_NAME:
        raise NotATsfmExportError(
            f"{path} is not a tsfm export: its metadata has no {FORMAT_KEY}={FORMAT_NAME!r} "
            "(export models with `tsfm export`)"
        )
    if metadata.get(VERSION_KEY) != FORMAT_VERSION:
        raise NotATsfmExportError(
            f"{path} has tsfm format version {metadata.get(VERSION_KEY)!r}; this runtime reads {FORMAT_VERSION!r}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        raise NotATsfmExportError(f"{path} lacks the metadata entries {missing}")
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if INPUT_NAME not in names[0] or OUTPUT_NAME not in names[1]:
        raise NotATsfmExportError(f"{path} has inputs {names[0]} and outputs {names[1]}; expected "
                                  f"{INPUT_NAME!r} -> {OUTPUT_NAME!r}")
    return metadata
