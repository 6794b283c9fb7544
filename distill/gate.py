"""The baseline gate before export: does the model beat the classical baselines on the user's data?

``tsfm export --data FILE`` scores the model being exported and the classical baselines
(:data:`GATE_BASELINES`) on the same rolling validation windows of ``FILE``, cut by
:class:`tsfm.rolling.RollingWindows` (the engine every model choice uses), and compares the
pooled ``WQL`` or mean ``MASE``. A model that loses to the best baseline is refused unless the
user forces it; either way the comparison travels with the file: as the JSON metadata entry
:data:`GATE_KEY` of the ONNX file (read back by ``tsfm.distill.runtime``'s
``OnnxRuntimeModel.gate``) and as the table ``<file>.gate.csv`` beside it.

Baselines are fitted on at most the last ``max_history`` values of each window's history
(:data:`tsfm.rolling.DEFAULT_MAX_HISTORY`, the cap of every backtest and validation, applied by
:func:`tsfm.rolling.history_cap`), so the gate finishes on long series; the model being exported
sees its whole context, as it would in use. MASE's scale uses the whole history. Each model
forecasts all its windows in one batched call (:func:`tsfm.rolling.score`).

The gate never runs on silently: past ``time_budget`` seconds (:data:`DEFAULT_GATE_TIME_BUDGET`)
it stops, ends the baselines' worker processes, and raises :class:`GateTimeoutError` naming what
it had scored and how to let it finish.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsfm.contract import Forecaster
from tsfm.errors import InputError, TsfmError
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.registry import load
from tsfm.rolling import DEFAULT_MAX_HISTORY, RollingWindows, check_max_history, score
from tsfm.time_limits import TimeLimitReached, time_limit

GATE_KEY = "tsfm_gate"  # ONNX metadata_props entry holding the comparison as JSON
GATE_BASELINES = ("seasonal-naive", "naive", "auto-ets")
GATE_METRICS = ("WQL", "MASE")
DEFAULT_GATE_WINDOWS = 3
# Seconds the whole gate may take: auto-ets fits 0.7-1.4 s per window of an M4 Hourly series, so
# 10 minutes is some 150-300 such series x 3 windows per free core; a larger panel needs a larger budget.
DEFAULT_GATE_TIME_BUDGET = 600.0


class GateRefusedError(TsfmError):
    """The model loses to a classical baseline on the gate's windows and the export was not forced."""


class GateTimeoutError(TsfmError):
    """The gate ran past its time budget before every model was scored; nothing was exported."""


@dataclass(frozen=True)
class GateResult:
    """The model against the baselines on the gate's windows.

    Attributes
    ----------
    metric
        ``"WQL"`` (pooled over every window) or ``"MASE"`` (mean over windows); lower is better.
    model
        Name of the model being exported.
    table
        One row per model (the exported one first): ``model, role, MASE, WQL, windows, failed``.
    config
        The windows the scores come from.
    season_length
        Season of MASE and of seasonal naive.
    forced
        Whether the export went ahead although the model lost.
    max_history
        Most values of each window's history the baselines were fitted on (``None``: all).
    """

    metric: str
    model: str
    table: pd.DataFrame
    config: RollingWindows
    season_length: int
    forced: bool = False
    max_history: int | None = DEFAULT_MAX_HISTORY

    @property
    def score(self) -> float:
        """The exported model's figure."""
        return float(self.table.iloc[0][self.metric])

    @property
    def best_baseline(self) -> str:
        """Name of the baseline with the lowest figure (failed baselines are left out)."""
        baselines = self.table.iloc[1:]
        finite = baselines[np.isfinite(baselines[self.metric].to_numpy(dtype=np.float64))]
        if finite.empty:
            return ""
        return str(finite.loc[finite[self.metric].idxmin(), "model"])

    @property
    def baseline_score(self) -> float:
        """The best baseline's figure (NaN when every baseline failed)."""
        best = self.best_baseline
        return float(self.table.set_index("model").loc[best, self.metric]) if best else float("nan")

    @property
    def passed(self) -> bool:
        """The model's figure is finite and no higher than the best baseline's (ties pass)."""
        return bool(np.isfinite(self.score) and not self.score > self.baseline_score)

    def line(self) -> str:
        """One line naming both scores and the verdict."""
        verdict = "loses to" if not self.passed else ("ties" if self.score == self.baseline_score else "beats")
        return (
            f"{self.model} {verdict} {self.best_baseline or 'the baselines'}: {self.metric} {self.score:.4g} vs "
            f"{self.baseline_score:.4g} on {self.config.windows} validation window(s) of horizon {self.config.horizon}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the verdict, both scores, the windows and every model's figures."""
        rows = json.loads(self.table.to_json(orient="records"))  # NaN -> null
        return {
            "metric": self.metric, "passed": self.passed, "forced": self.forced, "model": self.model,
            "score": _finite_or_none(self.score), "best_baseline": self.best_baseline,
            "baseline_score": _finite_or_none(self.baseline_score), "config": self.config.to_dict(),
            "season_length": self.season_length, "baseline_max_history": self.max_history, "scores": rows,
        }

    def to_frame(self) -> pd.DataFrame:
        """The table with the metric, the best baseline and the verdict on every row (for the CSV)."""
        verdict = "passed" if self.passed else ("forced" if self.forced else "refused")
        return self.table.assign(metric=self.metric, best_baseline=self.best_baseline, verdict=verdict)


def baseline_gate(
    model: Forecaster,
    series: Sequence[np.ndarray],
    horizon: int,
    season_length: int,
    windows: int = DEFAULT_GATE_WINDOWS,
    metric: str = "WQL",
    item_ids: Sequence[str] | None = None,
    baselines: Sequence[str] = GATE_BASELINES,
    max_history: int | None = DEFAULT_MAX_HISTORY,
    time_budget: float | None = DEFAULT_GATE_TIME_BUDGET,
) -> GateResult:
    """Score ``model`` and the classical ``baselines`` on the last ``windows`` rolling windows of ``series``.

    Parameters
    ----------
    model
        The model being exported, any forecaster of the contract.
    series
        The user's series, 1-D float arrays; windows are cut from their ends.
    horizon
        Steps per window: the horizon the model is exported for.
    season_length
        Season of MASE and of the seasonal baselines.
    windows
        Rolling origins per series (where the series allow).
    metric
        ``"WQL"`` or ``"MASE"``, the figure compared.
    max_history
        Most values (the last ones) of each window's history a baseline is fitted on; ``None``: all.
    time_budget
        Seconds the whole gate may take; ``None``: no limit.

    Raises
    ------
    InputError
        For an unknown metric or a bad budget, or when no window fits the data (naming the length needed).
    GateTimeoutError
        When the gate runs past ``time_budget``: it names the models scored and the one it stopped in.
    """
    if metric not in GATE_METRICS:
        raise InputError(f"metric must be one of {list(GATE_METRICS)}, got {metric!r}")
    check_max_history(max_history)
    if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                    or not 0 < time_budget < float("inf")):
        raise InputError(f"time_budget must be a positive number of seconds or None, got {time_budget!r}")
    config = RollingWindows(horizon, windows, min_train_length=season_length + 1)
    rows: list[dict[str, Any]] = []
    timings: list[str] = []
    current = model.name
    start = time.monotonic()
    try:
        with time_limit(time_budget):
            for role, candidate in [("exported", model), *(("baseline", name) for name in baselines)]:
                current = candidate if isinstance(candidate, str) else candidate.name
                began = time.monotonic()
                scored = candidate if role == "exported" else load(candidate, season_length=season_length)
                result = score(scored, series, config, DEFAULT_QUANTILE_LEVELS, season_length, item_ids, max_history)
                rows.append(_row(result, role))
                timings.append(f"{current} {time.monotonic() - began:.0f} s")
    except TimeLimitReached:
        raise GateTimeoutError(_over_budget(time_budget, timings, current, time.monotonic() - start, series,
                                            config)) from None
    return GateResult(metric, model.name, pd.DataFrame(rows), config, season_length, max_history=max_history)


def _over_budget(
    budget: float | None, timings: list[str], current: str, elapsed: float, series: Sequence[np.ndarray],
    config: RollingWindows,
) -> str:
    done = f"scored {', '.join(timings)}; " if timings else ""
    return (
        f"baseline gate stopped after {elapsed:.0f} s, over its time budget of {budget:g} s: {done}{current} "
        f"had not finished its windows of {len(series)} series ({config.windows} per series, horizon "
        f"{config.horizon}); pass --time-budget SECONDS with more time (or 'none'), fewer --windows, or --data "
        "with fewer or shorter series"
    )


def stamp_onnx(path: str | Path, gate: GateResult) -> None:
    """Add the gate to the ONNX file's metadata (atomically) and write ``<file>.gate.csv`` beside it."""
    import onnx

    from tsfm.distill.export import write_metadata
    from tsfm.outputs import atomic_file, write_table

    path = Path(path)
    with atomic_file(path) as staged:
        staged.write_bytes(path.read_bytes())
        existing = {p.key: p.value for p in onnx.load(str(staged), load_external_data=False).metadata_props}
        write_metadata(staged, {**existing, GATE_KEY: json.dumps(gate.to_dict(), sort_keys=True)})
    write_table(gate.to_frame(), gate_csv_path(path))


def gate_csv_path(path: str | Path) -> Path:
    """Where the gate's table of an exported file goes: ``<file>.gate.csv``."""
    path = Path(path)
    return path.with_name(path.name + ".gate.csv")


def _row(result: Any, role: str) -> dict[str, Any]:
    pooled = result.pooled()
    return {"model": result.model, "role": role, "MASE": pooled["MASE"], "WQL": pooled["WQL"],
            "windows": pooled["windows"], "failed": pooled["failed"]}


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
