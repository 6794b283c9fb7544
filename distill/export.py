"""Export a student (or a Chronos-Bolt teacher) to ONNX, quantise it, and prove the file matches torch.

Every export goes the same way: torch model -> ONNX fp32 -> optional int8 quantisation ->
tsfm metadata written into the file -> the file run with onnxruntime on real windows and compared
with the torch model, output by output -> :class:`ExportReport` (sizes, differences) or
:class:`ExportVerificationError` when the largest difference is above tolerance.

Differences are measured in units of each window's instance scale (the standard deviation of its
context, see :func:`tsfm.distill.students.instance_stats`), so one tolerance fits series of any level.
Default tolerances (:data:`TOLERANCES`): ``1e-3`` for fp32 (float rounding only; measured about
1e-6) and ``0.15`` for int8 (8-bit weights and activations moved single quantiles by 0.02-0.05
standard deviations on the windows tried); the accuracy impact is measured on MASE/WQL by
:mod:`tsfm.distill.report`.

Quantisation modes:

- ``none``: fp32.
- ``dynamic-int8``: int8 weights, activations quantised on the fly per batch
  (``onnxruntime.quantization.quantize_dynamic``).
- ``static-int8``: 8-bit weights and activations with fixed ranges calibrated on real windows
  (``quantize_static``, QDQ format, per-channel weights).

Both int8 modes store weights as *unsigned* 8-bit: with signed weights onnxruntime's integer
matrix product saturated on this CPU (quantiles off by about one standard deviation).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.distill.runtime import FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME, VERSION_KEY
from tsfm.errors import InputError, TsfmError

QUANTIZE_MODES = ("none", "dynamic-int8", "static-int8")
TOLERANCES = {"none": 1e-3, "dynamic-int8": 0.15, "static-int8": 0.15}
OPSET = 18


class ExportVerificationError(TsfmError):
    """The exported file's outputs differ from the torch model's by more than the tolerance."""


@dataclass
class ExportReport:
    """What an export wrote and how closely the file reproduces torch.

    Attributes
    ----------
    path
        The ``.onnx`` file.
    quantize
        One of :data:`QUANTIZE_MODES`.
    file_bytes
        Size of the file.
    max_abs_diff
        Largest absolute difference per output name, in the data's units.
    max_scaled_diff
        Largest difference per output name divided by the window's instance scale.
    tolerance
        The bound ``max_scaled_diff`` was checked against.
    metadata
        The ``metadata_props`` written into the file.
    """

    path: Path
    quantize: str
    file_bytes: int
    max_abs_diff: dict[str, float]
    max_scaled_diff: dict[str, float]
    tolerance: float
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def student_metadata(config: Any) -> dict[str, str]:
    """``metadata_props`` for a student with ``StudentConfig`` ``config``."""
    return {
        "architecture": config.architecture,
        "context_length": str(config.context_length),
        "horizon": str(config.horizon),
        "quantile_levels": json.dumps(list(config.quantile_levels)),
        "normalisation": "instance mean/std of observed values, inside the graph; NaN filled after normalising",
        "padding": "left-pad shorter contexts with NaN",
        "teacher": str(config.extra.get("teacher", "")),
    }


def export_student(
    student: Any,
    output: str | Path,
    quantize: str = "none",
    windows: np.ndarray | None = None,
    tolerance: float | None = None,
) -> ExportReport:
    """Export a student (a ``Student`` or a folder written by ``distill``) to ``output``.

    Parameters
    ----------
    student
        A :class:`tsfm.distill.students.Student` or the path of a student folder.
    output
        The ``.onnx`` file to write.
    quantize
        One of :data:`QUANTIZE_MODES`.
    windows
        ``[n, context_length]`` real contexts (NaN left-padded) used to calibrate ``static-int8``
        and to verify; default: synthetic series.
    tolerance
        Largest allowed scaled difference; default from :data:`TOLERANCES`.
    """
    import torch

    from tsfm.distill.students import load_student

    model = load_student(student) if isinstance(student, (str, Path)) else student.eval()
    length = model.config.context_length
    windows = _check_windows(windows, length) if windows is not None else _synthetic_windows(length)
    metadata = student_metadata(model.config)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        example = torch.from_numpy(windows[:2])
        torch.onnx.export(
            model, (example,), str(fp32), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )
        return finish_export(fp32, Path(output), quantize, metadata, windows, lambda x: _torch_run(model, x), tolerance)


def finish_export(
    fp32: Path, output: Path, quantize: str, metadata: dict[str, str], windows: np.ndarray,
    reference: Any, tolerance: float | None = None,
) -> ExportReport:
    """Quantise ``fp32``, write ``output`` with ``metadata``, verify it against ``reference(windows)``."""
    from tsfm.outputs import atomic_file

    if quantize not in QUANTIZE_MODES:
        raise InputError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    # Written and verified under a temporary name, moved into place only when it passes: a failed
    # export never leaves a bad file behind nor replaces a good one already at ``output``.
    with atomic_file(output) as staged:
        if quantize == "none":
            staged.write_bytes(fp32.read_bytes())
        else:
            quantize_file(fp32, staged, quantize, windows)
        written = write_metadata(staged, metadata)
        bound = TOLERANCES[quantize] if tolerance is None else tolerance
        abs_diff, scaled_diff = compare(staged, windows, reference)
        worst = max(scaled_diff.values())
        if not worst <= bound:
            raise ExportVerificationError(
                f"the {quantize} export differs from the torch model by {worst:.4g} instance-scale units "
                f"(largest absolute difference {max(abs_diff.values()):.4g}), above the tolerance {bound:g}; "
                f"{output} was not written (try another --quantize or a larger --tolerance)"
            )
    return ExportReport(output, quantize, output.stat().st_size, abs_diff, scaled_diff, bound, written)


def quantize_file(source: Path, target: Path, mode: str, windows: np.ndarray) -> None:
    """Quantise ``source`` into ``target``: dynamic int8, or static int8 calibrated on ``windows``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_name(target.name + ".pre.onnx")
    quant_pre_process(str(source), str(prepared))  # shape inference + graph clean-up, as onnxruntime advises
    try:
        if mode == "dynamic-int8":
            # uint8 weights: int8 weights times uint8 activations can saturate on x86 CPUs without VNNI
            # (onnxruntime's quantisation guide); measured here, u8s8 moved quantiles by ~1 std, u8u8 by ~0.02.
            quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QUInt8, per_channel=True)
        else:
            _quantize_static(prepared, target, windows)
    finally:
        prepared.unlink(missing_ok=True)


def _quantize_static(source: Path, target: Path, windows: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Windows(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(windows, max(1, len(windows) // 64)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    quantize_static(
        str(source), str(target), Windows(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,  # uint8 weights: see quantize_file
        # Only the matrix products: the normalisation and the quantile head's cumulative sums stay fp32.
        op_types_to_quantize=["MatMul", "Gemm", "Conv"],
    )


def write_metadata(path: Path, metadata: dict[str, str]) -> dict[str, str]:
    """Set the tsfm format marker, version and ``metadata`` as the file's ``metadata_props``."""
    import onnx

    model = onnx.load(str(path))
    entries = {FORMAT_KEY: FORMAT_NAME, VERSION_KEY: FORMAT_VERSION, **metadata}
    del model.metadata_props[:]
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return entries


def compare(path: Path, windows: np.ndarray, reference: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Largest absolute and instance-scaled differences between the file and ``reference`` on ``windows``."""
    from tsfm.distill.runtime import OnnxRuntimeModel

    exported = OnnxRuntimeModel(path).run(windows)  # [n, horizon, n_q]
    expected = np.asarray(reference(windows), dtype=np.float64)
    diff = np.abs(exported - expected)
    scale = _instance_scale(windows)[:, None, None]
    return {OUTPUT_NAME: float(diff.max())}, {OUTPUT_NAME: float((diff / scale).max())}


def _instance_scale(windows: np.ndarray) -> np.ndarray:
    std = np.nanstd(windows.astype(np.float64), axis=1)
    loc = np.nanmean(windows.astype(np.float64), axis=1)
    return np.maximum(std, 1e-5 * (1.0 + np.abs(loc)))


def _torch_run(model: Any, windows: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(windows)).numpy()


def _check_windows(windows: Any, length: int) -> np.ndarray:
    array = np.asarray(windows, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != length or len(array) == 0:
        raise InputError(f"windows must be a non-empty [n, {length}] array, got shape {array.shape}")
    if (~np.isfinite(array)).all(axis=1).any():
        raise InputError("every window needs at least one finite value")
    return array


def _synthetic_windows(length: int, n: int = 256, seed: int = 0) -> np.ndarray:
    from tsfm.pretraining.synthetic import SyntheticConfig, generate_batch

    rows = generate_batch(SyntheticConfig(length=length, missing_probability=0.0), seed, 0, n)
    return rows[np.isfinite(rows).any(axis=1)]


def contexts_to_windows(series: Sequence[np.ndarray], length: int, max_windows: int = 512) -> np.ndarray:
    """The last ``length`` steps of up to ``max_windows`` series, left-padded with NaN: ``[n, length]``."""
    from tsfm.distill.data import left_pad

    return np.stack([left_pad(s, length) for s in list(series)[:max_windows]])
