"""The distillation report: size, CPU latency and accuracy of teacher, student, its ONNX files and seasonal naive.

One row per model, measured on the same held-out windows (the last ``horizon`` steps of every
series, contexts = everything before):

- ``parameters``: trainable parameters (torch models) or weight elements (ONNX initialisers);
- ``file_bytes``: the weights file (``model.safetensors`` / the ``.onnx`` file);
- ``b1_p50_ms``/``b1_p95_ms``: wall time of one call with one series;
- ``b256_p50_ms``/``b256_p95_ms``: wall time of one call with 256 series, divided by 256;
- ``mase`` (mean over series) and ``wql``.

Latency is single-threaded (``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads=1``).
Torch models and baselines are timed through the ``Forecaster`` contract; ONNX files through
:class:`tsfm.distill.runtime.OnnxRuntimeModel`, the path an edge device runs. :func:`summarise` turns
the table into the ratios the distillation targets are stated in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm import metrics
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS

LATENCY_BATCH = 256


def latency_ms(run: Callable[[list[np.ndarray]], object], contexts: Sequence[np.ndarray], batch: int,
               repeats: int) -> tuple[float, float]:
    """p50 and p95 wall time per series (ms) of ``run`` on batches of ``batch`` series, after one warm-up."""
    chosen = [contexts[i % len(contexts)] for i in range(batch)]
    run(chosen)  # warm-up: first-call allocations and lazy initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(chosen)
        times.append((time.perf_counter() - start) * 1000.0 / batch)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def accuracy(quantiles: np.ndarray, levels: Sequence[float], contexts: Sequence[np.ndarray], targets: np.ndarray,
             season_length: int) -> tuple[float, float]:
    """Mean MASE of the median and WQL of ``quantiles [n, h, n_q]`` against ``targets [n, h]``."""
    median = quantiles[:, :, list(levels).index(0.5)]
    mase = [metrics.mase(t, m, c, season_length) for t, m, c in zip(targets, median, contexts)]
    return float(np.nanmean(mase)), metrics.wql(targets, quantiles, np.asarray(levels))


def measure(
    models: dict[str, tuple[Callable[[list[np.ndarray]], np.ndarray], int, int]],
    contexts: Sequence[np.ndarray],
    targets: np.ndarray,
    season_length: int,
    levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
    repeats: tuple[int, int] = (50, 5),
) -> pd.DataFrame:
    """Time and score each model.

    Parameters
    ----------
    models
        Label -> (``forecast(contexts) -> quantiles [n, horizon, n_q]`` at ``levels``, parameters, file bytes).
    contexts, targets
        Held-out windows: 1-D histories and ``[n, horizon]`` truths.
    repeats
        Timed calls at batch 1 and at batch 256.
    """
    rows = []
    for label, (forecast, n_params, n_bytes) in models.items():
        quantiles = forecast(list(contexts))
        mase, wql = accuracy(quantiles, levels, contexts, targets, season_length)
        b1 = latency_ms(forecast, contexts, 1, repeats[0])
        b256 = latency_ms(forecast, contexts, LATENCY_BATCH, repeats[1])
        rows.append({
            "model": label, "parameters": n_params, "file_bytes": n_bytes,
            "b1_p50_ms": b1[0], "b1_p95_ms": b1[1], "b256_p50_ms": b256[0], "b256_p95_ms": b256[1],
            "mase": mase, "wql": wql,
        })
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, teacher: str, student_fp32: str, student_int8: str, naive: str) -> dict[str, float]:
    """The target ratios: latency and size teacher / int8, MASE gap to the teacher, int8 vs fp32 WQL."""
    row = table.set_index("model")
    return {
        "latency_ratio_b1": row.at[teacher, "b1_p50_ms"] / row.at[student_int8, "b1_p50_ms"],
        "latency_ratio_b256": row.at[teacher, "b256_p50_ms"] / row.at[student_int8, "b256_p50_ms"],
        "size_ratio": row.at[teacher, "file_bytes"] / row.at[student_int8, "file_bytes"],
        "mase_vs_teacher": row.at[student_fp32, "mase"] / row.at[teacher, "mase"] - 1.0,
        "int8_mase_vs_teacher": row.at[student_int8, "mase"] / row.at[teacher, "mase"] - 1.0,
        "mase_vs_naive": row.at[student_fp32, "mase"] / row.at[naive, "mase"] - 1.0,
        "int8_vs_fp32_wql": row.at[student_int8, "wql"] / row.at[student_fp32, "wql"] - 1.0,
    }


def format_table(table: pd.DataFrame) -> str:
    """Markdown table with readable units."""
    lines = ["| model | parameters | file | b1 p50 / p95 ms | b256 p50 / p95 ms per series | MASE | WQL |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in table.itertuples():
        size = f"{r.file_bytes / 1024:.0f} KiB" if r.file_bytes else "-"
        lines.append(
            f"| {r.model} | {r.parameters:,} | {size} | {r.b1_p50_ms:.3f} / {r.b1_p95_ms:.3f} | "
            f"{r.b256_p50_ms:.4f} / {r.b256_p95_ms:.4f} | {r.mase:.3f} | {r.wql:.4f} |"
        )
    return "\n".join(lines)


# ---- adapters from models to (forecast, parameters, bytes) ---------------------------------------
def contract_entry(model: object, horizon: int, levels: Sequence[float], n_params: int, n_bytes: int):
    """A loaded ``Forecaster`` as a :func:`measure` entry."""
    return (lambda ctx: model.predict_quantiles(ctx, horizon, levels).quantiles, n_params, n_bytes)


def onnx_entry(path: str | Path, horizon: int, levels: Sequence[float]):
    """An exported file, run by the edge runtime on one thread, as a :func:`measure` entry."""
    import onnx

    from tsfm.distill.runtime import OnnxRuntimeModel
    from tsfm.quantiles import interpolate_quantiles

    runtime = OnnxRuntimeModel(path, threads=1)
    native = np.array(runtime.quantile_levels)
    wanted = np.asarray(levels, dtype=np.float64)
    n_params = sum(int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer)

    def forecast(ctx: list[np.ndarray]) -> np.ndarray:
        out = runtime.forecast(ctx)[:, :horizon]
        return out if np.array_equal(native, wanted) else interpolate_quantiles(out, native, wanted)

    return forecast, n_params, Path(path).stat().st_size


def torch_parameters(model: object) -> int:
    """Parameters of a model of a trainable family (its training module) or a student (``model``); 0 otherwise."""
    from tsfm.training import training_families, training_family

    if getattr(model, "family", None) in training_families():
        inner = training_family(model).module(model)
    else:
        inner = getattr(model, "model", None)
    return int(sum(p.numel() for p in inner.parameters())) if inner is not None and hasattr(inner, "parameters") else 0
