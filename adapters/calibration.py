"""Conformal calibration of any forecaster's quantiles on the user's own recent windows.

:func:`calibrate` backtests a model on rolling windows cut from the end of the given
history, measures scale-normalised residuals ``r = (y - q_tau) / s`` (``s`` = mean absolute
step-to-step change of the context) and learns, per quantile level ``tau`` and per horizon
step where the data allow, the offset ``d`` that makes ``P(y <= q_tau + d s)`` equal ``tau``
(one-sided conformalised quantile regression, applied to every level, so every central
interval is calibrated too). Two methods:

- ``"split"``: exchangeable split conformal, with the finite-sample correction that widens
  the outer levels (``ceil((n + 1) tau) / n`` above the median, ``floor`` below).
- ``"adaptive"``: for drifting data. Offsets are read from the latest ``memory`` windows
  only, each window's residuals weighted by ``0.5 ** (age / half_life)`` (age 0 = the most
  recent window), so the calibration follows the current behaviour of the data rather
  than its average over the history (a rolling, recency-weighted conformal quantile).

The result is a new :class:`CalibratedForecaster` wrapping the model, which is not
modified. :meth:`CalibratedForecaster.save` writes a folder (``calibration.json``: the base
model's name or path and the offsets; no pickles) that ``tsfm.load`` opens.

The base model is recorded as given: a registered name or hub id as written, a local folder
as its absolute path (the path the user named when calibrating, resolved, so the folder
reloads from any working directory). When loading, ``base_model`` follows the rule of
:mod:`tsfm.model_folders`: a name, an absolute path, or a path relative to the calibrated
folder that stays inside it (``../other`` is refused); a base that is a calibrated or
fine-tuned folder itself is fine, up to :data:`tsfm.model_folders.MAX_CHAIN_DEPTH` folders
deep and never cyclic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tsfm.contract import BaseForecaster, Forecaster
from tsfm.errors import CheckpointError, InputError, TsfmError
from tsfm.metrics import series_scale
from tsfm.model_folders import loading, read_folder_json, resolve_reference
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS
from tsfm.registry import LoadOptions, load, register_path_loader
from tsfm.rolling import RollingWindows, Window, forecast_windows, rows_by_window
from tsfm.validation import validate_horizon, validate_quantile_levels

METHODS = ("split", "adaptive")
FILE_NAME = "calibration.json"
FORMAT = "tsfm-calibrated-forecaster"
MIN_WINDOWS = 200  # (series, window) pairs; see CalibrationConfig.min_windows
MIN_PER_STEP = 1_000  # residuals per horizon step for offsets of its own; see CalibrationConfig.min_per_step


@dataclass(frozen=True)
class CalibrationConfig:
    """How to calibrate.

    Attributes
    ----------
    method
        ``"split"`` (exchangeable data) or ``"adaptive"`` (drifting data), see the module doc.
    windows
        Rolling calibration windows per series, cut from the end of the history
        (:class:`tsfm.rolling.RollingWindows`); more when that gives fewer than ``min_windows``.
    step
        Steps between window origins; ``None`` = the horizon (non-overlapping targets).
    min_windows
        Fewest (series, window) pairs to calibrate on: with few series (one long series), each
        takes more windows, further back in its history, so the offsets do not rest on its last
        few horizons alone (see :func:`calibration_rolling`); 1 keeps exactly ``windows`` per series.
    quantile_levels
        Levels whose offsets are learnt; other levels are interpolated between them.
    coverage
        Nominal coverage of the central interval that reports describe, in (0, 1).
    min_per_step
        Fewest residuals a horizon step needs to get its own offsets; below it, all steps
        share offsets pooled over the horizon. An outer level's offset read from a few hundred
        residuals is noisy: on ETTh1's six load columns (one series each; five cut points, 30
        daily windows after each) the 80% band missed its coverage by 5.9 points on average with
        per-step offsets from 100 windows, 4.9 from 200, and 2.9 with offsets pooled over the
        horizon from 200 windows (uncalibrated: 2.6, but 1.5 points low on average). A panel such
        as M4 Hourly (414 series x 5 windows) keeps offsets per step.
    memory
        Adaptive only: how many of the latest windows the offsets are read from.
    half_life
        Adaptive only: age, in windows, at which a window's weight halves; ``None`` = equal weights.
    """

    method: str = "split"
    windows: int = 5
    step: int | None = None
    min_windows: int = MIN_WINDOWS
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    coverage: float = 0.8
    min_per_step: int = MIN_PER_STEP
    memory: int = 3
    half_life: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("windows", "min_windows", "min_per_step", "memory"):
            _positive_int(name, getattr(self, name))
        if self.step is not None:
            _positive_int("step", self.step)
        if not (isinstance(self.coverage, (int, float)) and 0.0 < self.coverage < 1.0):
            raise InputError(f"coverage must lie strictly between 0 and 1, got {self.coverage!r}")
        if self.half_life is not None and not (isinstance(self.half_life, (int, float)) and self.half_life > 0):
            raise InputError(f"half_life must be a positive number of windows or None, got {self.half_life!r}")
        levels = validate_quantile_levels(self.quantile_levels)
        object.__setattr__(self, "quantile_levels", tuple(float(x) for x in levels))


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class CalibrationWindow:
    """Residuals of one rolling origin: ``residuals [n, horizon, n_levels]`` scaled by each series' scale."""

    index: int
    residuals: np.ndarray


def calibration_windows(
    model: Forecaster, series: Sequence[np.ndarray], horizon: int, config: CalibrationConfig, progress: bool = True,
    item_ids: Sequence[str] | None = None,
) -> list[CalibrationWindow]:
    """Forecast the rolling windows of ``series`` and return their scaled residuals, oldest first.

    The windows are the validation engine's (:func:`calibration_rolling`): window ``k`` of series
    ``i`` ends its context at ``len_i - horizon - (windows - 1 - k) * step``, and a series takes
    part in a window when its context holds at least ``max(2, model.min_observations)`` values.

    Raises
    ------
    InputError
        When no series is long enough for a single window: names the longest series, its length
        and the length needed.
    """
    need = max(2, getattr(model, "min_observations", 1))
    rolling = calibration_rolling(series, horizon, config, need)
    try:
        windows = rolling.split(series, item_ids)
    except InputError as exc:
        raise InputError(_too_short("the calibration set is too short", series, item_ids, rolling, exc)) from None
    levels = np.asarray(config.quantile_levels, dtype=float)
    quantiles = _forecast_all(model, windows, horizon, levels, "calibration", item_ids, progress)  # [n, horizon, n_q]
    out = []
    for k, rows in rows_by_window(windows):
        scales = np.array([series_scale(windows[r].context) for r in rows])  # [n_k]
        y = np.vstack([windows[r].target for r in rows])  # [n_k, horizon]
        out.append(CalibrationWindow(k, (y[:, :, None] - quantiles[rows]) / scales[:, None, None]))
    return out


def _forecast_all(
    model: Forecaster, windows: Sequence[Window], horizon: int, levels: np.ndarray, what: str,
    item_ids: Sequence[str] | None = None, progress: bool = False,
) -> np.ndarray:
    """Quantiles of every window in the validation engine's batched calls; a failed window is an error.

    A calibration or coverage figure resting on the windows a model happened to forecast would
    silently leave out the hard ones, so any failure stops it, naming how many windows failed and
    the first one.
    """
    bar = tqdm(total=len(windows), desc=f"{what} windows", disable=not progress, unit="window")
    quantiles, _, _, errors = forecast_windows(model, windows, horizon, levels)
    bar.update(len(windows))
    bar.close()
    failed = [r for r, e in enumerate(errors) if e]
    if failed:
        first = windows[failed[0]]
        name = repr(str(item_ids[first.item])) if item_ids is not None else f"number {first.item}"
        raise TsfmError(
            f"{what}: {model.name} failed on {len(failed)} of {len(windows)} windows; first: series {name}, "
            f"window {first.window}: {errors[failed[0]]}"
        )
    return quantiles


def calibration_rolling(
    series: Sequence[np.ndarray], horizon: int, config: CalibrationConfig, need: int = 2
) -> RollingWindows:
    """Where the calibration windows lie.

    ``config.windows`` windows per series, unless that gives fewer than ``config.min_windows``
    (series, window) pairs in all: a handful of windows of one long series describe only its
    last few horizons (with the first-generation model, 5 daily windows of ETTh1's ``OT`` moved the
    80% band's coverage on the next 30 days from 78% to 62%; its last 100 gave 80%), so then each
    series takes more windows, one ``step`` apart back through its history, until ``min_windows``
    pairs are reached or the added windows would leave the shortest series less than half its
    length as context (a model forecasting from a stub of the history is not the model being
    calibrated).
    """
    windows, stride = config.windows, config.step or horizon
    wanted = math.ceil(config.min_windows / max(len(series), 1))
    if wanted > windows:
        shortest = min((len(s) for s in series), default=0)
        room = shortest - max(need, shortest // 2) - horizon  # how far back an added origin may go
        windows = max(windows, min(wanted, room // stride + 1))
    return RollingWindows(horizon, windows, config.step, min_train_length=need)


def _too_short(
    what: str, series: Sequence[np.ndarray], item_ids: Sequence[str] | None, rolling: RollingWindows,
    exc: InputError,
) -> str:
    """The message for windows that do not fit: the longest series, its length and the length needed."""
    if not len(series):
        return f"{what}: no series given; pass at least one series of {rolling.needed_length(1)} values or more"
    lengths = [len(s) for s in series]
    i = int(np.argmax(lengths))
    name = repr(str(item_ids[i])) if item_ids is not None else f"#{i}"
    need = rolling.needed_length(1)
    if lengths[i] >= need:
        return f"{what}: {exc}"
    return (
        f"{what}: a {rolling.horizon}-step window needs {need} values ({rolling.min_history} of context, then the "
        f"horizon), but the longest series, {name}, has {lengths[i]}; pass a longer history or a shorter horizon"
    )


def _quantile(values: np.ndarray, weights: np.ndarray, level: float) -> float:
    """Inverse weighted empirical CDF of the finite ``values`` at ``level``.

    With equal weights this is the ``ceil(level n)``-th smallest value.
    """
    finite = np.isfinite(values)
    if not finite.any():
        return 0.0
    order = np.argsort(values[finite])
    v, w = values[finite][order], weights[finite][order]
    cdf = np.cumsum(w) / w.sum()
    return float(v[min(int(np.searchsorted(cdf, level - 1e-9)), v.size - 1)])


def _conformal_level(tau: float, n: int) -> float:
    """Finite-sample level for the order statistic: widen away from the median."""
    if tau >= 0.5:
        return min(math.ceil((n + 1) * tau) / n, 1.0)
    return max(math.floor((n + 1) * tau) / n, 1.0 / n)


def fit_offsets(
    residuals: np.ndarray, weights: np.ndarray, levels: np.ndarray, min_per_step: int, correct: bool
) -> np.ndarray:
    """Offsets ``[horizon or 1, n_levels]``: per level, the conformal quantile of the residuals.

    Parameters
    ----------
    residuals
        ``[n, horizon, n_levels]`` scaled residuals ``(y - q) / s``.
    weights
        ``[n]`` weight of each row (series-window) of ``residuals``.
    levels
        ``[n_levels]`` nominal levels.
    min_per_step
        Per-step offsets when every step has this many finite residuals, else one pooled row.
    correct
        Apply the split-conformal finite-sample correction (equal weights only).
    """
    counts = np.isfinite(residuals[:, :, 0]).sum(axis=0)  # [horizon]
    per_step = counts.min() >= min_per_step
    groups = [residuals[:, [h], :] for h in range(residuals.shape[1])] if per_step else [residuals]
    offsets = np.zeros((len(groups), len(levels)))
    for g, block in enumerate(groups):
        w = np.repeat(weights, block.shape[1])  # rows of block[:, :, j].ravel() are series-major
        for j, level in enumerate(levels):
            values = block[:, :, j].ravel()
            n = int(np.isfinite(values).sum())
            at = _conformal_level(float(level), n) if correct and n > 0 else float(level)
            offsets[g, j] = _quantile(values, w, at)
    return offsets


def _adaptive_offsets(windows: list[CalibrationWindow], levels: np.ndarray, config: CalibrationConfig) -> np.ndarray:
    """Offsets from the latest ``memory`` windows, recency-weighted when ``half_life`` is set."""
    recent = windows[-config.memory :]
    ages = [len(recent) - 1 - i for i in range(len(recent))]
    decay = (lambda age: 0.5 ** (age / config.half_life)) if config.half_life else (lambda age: 1.0)
    weights = np.concatenate([np.full(len(w.residuals), decay(a)) for w, a in zip(recent, ages)])
    residuals = np.concatenate([w.residuals for w in recent])
    return fit_offsets(residuals, weights, levels, config.min_per_step, correct=config.half_life is None)


def _broadcast(offsets: np.ndarray, horizon: int) -> np.ndarray:
    """``[horizon, n_levels]`` offsets; steps past the calibrated ones reuse the last row."""
    rows = np.minimum(np.arange(horizon), offsets.shape[0] - 1)
    return offsets[rows]


class CalibratedForecaster(BaseForecaster):
    """A forecaster whose quantiles are shifted by conformal offsets: ``q' = q + d(level, step) * s``.

    Levels between the calibrated ones get linearly interpolated offsets; levels outside
    their range take the nearest calibrated level's offset. Steps past the calibrated
    horizon reuse the last step's offsets. The mean moves with the median's offset.
    """

    def __init__(
        self, base: Forecaster, offsets: np.ndarray, quantile_levels: Sequence[float], method: str,
        base_ref: str | None = None, name: str | None = None, info: dict | None = None,
    ) -> None:
        super().__init__(name or f"{base.name}+{method}")
        self.base = base
        self.offsets = np.asarray(offsets, dtype=np.float64)  # [horizon or 1, n_levels]
        self.calibrated_levels = np.asarray(quantile_levels, dtype=np.float64)
        if self.offsets.ndim != 2 or self.offsets.shape[1] != self.calibrated_levels.size:
            raise InputError(
                f"offsets must be [steps, {self.calibrated_levels.size}] for the calibrated levels, "
                f"got shape {self.offsets.shape}"
            )
        self.method = method
        self.base_ref = base_ref or base.name
        self.info = dict(info or {})
        self.kind = getattr(base, "kind", "tsfm")
        self.min_observations = getattr(base, "min_observations", 1)
        self.max_horizon = getattr(base, "max_horizon", None)
        self.has_embeddings = getattr(base, "has_embeddings", False)

    def offsets_at(self, levels: np.ndarray, horizon: int) -> np.ndarray:
        """``[horizon, n_levels]`` offsets (in scale units) at any ``levels``."""
        rows = _broadcast(self.offsets, horizon)
        return np.stack([np.interp(levels, self.calibrated_levels, row) for row in rows])

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        forecast = self.base.predict_quantiles(context, horizon, levels)
        scales = np.array([series_scale(c) for c in context])[:, None, None]  # [n, 1, 1]
        shift = self.offsets_at(levels, horizon)[None] * scales  # [n, horizon, n_q]
        median_shift = self.offsets_at(np.array([0.5]), horizon)[None, :, 0] * scales[:, :, 0]  # [n, horizon]
        return forecast.quantiles + shift, forecast.mean + median_shift

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        return self.base.embed(context)

    def to_dict(self) -> dict:
        """JSON-ready description: the base model's reference and the offsets."""
        return {
            "format": FORMAT, "version": 1, "name": self.name, "base_model": self.base_ref,
            "method": self.method, "quantile_levels": self.calibrated_levels.tolist(),
            "offsets": self.offsets.tolist(), "scale": "mean absolute change of the context", "info": self.info,
            "season_length": getattr(self.base, "season_length", None),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/calibration.json``; ``tsfm.load(folder)`` loads it back with its base model."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / FILE_NAME).write_text(json.dumps(self.to_dict(), indent=2))
        return out


def _reference(model: Forecaster | str) -> tuple[Forecaster, str]:
    if isinstance(model, str):
        path = Path(model).expanduser()
        return load(model), str(path.resolve()) if path.exists() else model
    path = Path(model.name).expanduser()
    return model, str(path.resolve()) if path.exists() else model.name


def calibrate(
    model: Forecaster | str,
    history: Sequence[np.ndarray],
    horizon: int,
    config: CalibrationConfig | None = None,
    progress: bool = True,
    item_ids: Sequence[str] | None = None,
) -> CalibratedForecaster:
    """Calibrate ``model``'s quantiles on rolling windows at the end of ``history``.

    Parameters
    ----------
    model
        Any forecaster, or a name/path for ``tsfm.load`` (stored so the saved folder reloads).
    history
        Series, 1-D float arrays; only data the calibrated model will not be scored on.
    horizon
        Steps of each calibration window (the horizon you will forecast).
    config
        See :class:`CalibrationConfig`.
    progress
        A progress bar over the windows.
    item_ids
        Names of the series, used in messages; default their positions (``#0``, ``#1``, ...).

    Returns
    -------
    CalibratedForecaster
        A new forecaster; ``model`` is not modified.
    """
    config = config or CalibrationConfig()
    horizon = validate_horizon(horizon)
    base, ref = _reference(model)
    series = [np.asarray(s, dtype=np.float64) for s in history]
    if not series:
        need = horizon + max(2, getattr(base, "min_observations", 1))
        raise InputError(
            f"history holds no series: calibrating a {horizon}-step forecast needs at least one series of "
            f"{need} values or more ({need - horizon} of context, then the horizon)"
        )
    windows = calibration_windows(base, series, horizon, config, progress, item_ids)
    levels = np.asarray(config.quantile_levels)
    if config.method == "split":
        residuals = np.concatenate([w.residuals for w in windows])
        offsets = fit_offsets(residuals, np.ones(len(residuals)), levels, config.min_per_step, correct=True)
        used = windows
    else:
        offsets = _adaptive_offsets(windows, levels, config)
        used = windows[-config.memory :]
    info = {
        "horizon": horizon, "windows": len(used), "series_windows": int(sum(len(w.residuals) for w in used)),
        "residuals_per_step": int(sum(len(w.residuals) for w in used)),
        "per_step": bool(offsets.shape[0] > 1),
    }
    return CalibratedForecaster(base, offsets, levels, config.method, base_ref=ref, info=info)


@dataclass
class CoverageReport:
    """Coverage and width of central intervals, one row per model: ``table`` columns
    ``model, nominal, coverage, relative_width, mean_width, n``."""

    table: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def coverage_report(
    models: Sequence[Forecaster], series: Sequence[np.ndarray], horizon: int, windows: int = 1,
    coverage: float = 0.8, step: int | None = None, item_ids: Sequence[str] | None = None,
) -> CoverageReport:
    """Empirical coverage and width of each model's central ``coverage`` interval on the last windows.

    The windows are :class:`tsfm.rolling.RollingWindows` ``(horizon, windows, step)`` cut from the end
    of ``series``. ``relative_width`` is the mean interval width over each context's :func:`series_scale`.
    """
    if not 0.0 < coverage < 1.0:
        raise InputError(f"coverage must lie strictly between 0 and 1, got {coverage!r}")
    lo, hi = round((1 - coverage) / 2, 10), round(1 - (1 - coverage) / 2, 10)
    rows = []
    for model in models:
        rolling = RollingWindows(horizon, windows, step, min_train_length=max(2, model.min_observations))
        try:
            cut = rolling.split(series, item_ids)
        except InputError as exc:
            raise InputError(_too_short("no evaluation window fits", series, item_ids, rolling, exc)) from None
        fc = _forecast_all(model, cut, horizon, np.array([lo, 0.5, hi]), "coverage", item_ids)  # [n, horizon, 3]
        y = np.vstack([w.target for w in cut])  # [n, horizon]
        scales = np.array([series_scale(w.context) for w in cut])  # [n]
        width = fc[:, :, 2] - fc[:, :, 0]  # [n, horizon]
        ok = np.isfinite(y)
        inside = ((y >= fc[:, :, 0]) & (y <= fc[:, :, 2]))[ok]
        rows.append({
            "model": model.name, "nominal": coverage, "coverage": float(inside.mean()),
            "relative_width": float(np.mean((width / scales[:, None])[ok])),
            "mean_width": float(np.mean(width[ok])), "n": int(ok.sum()),
        })
    return CoverageReport(pd.DataFrame(rows))


def is_calibrated_folder(path: Path) -> bool:
    """Whether ``path`` is a folder written by :meth:`CalibratedForecaster.save`."""
    return path.is_dir() and (path / FILE_NAME).is_file()


REQUIRED_KEYS = ("format", "base_model", "method", "quantile_levels", "offsets")


@register_path_loader("calibrated", accepts=is_calibrated_folder)
def load_calibrated(path: str, options: LoadOptions) -> CalibratedForecaster:
    """Path loader: read ``calibration.json`` and load its base model with ``options``.

    A base that was calibrated with a season length (a baseline) is loaded with that season
    length whatever ``options`` say: the offsets are only valid for the model they were learnt on.

    Raises
    ------
    CheckpointError
        ``calibration.json`` is unreadable, lacks a key, holds offsets that do not fit its
        levels, or its ``base_model`` escapes the folder or leads back to it (see the module doc).
    """
    folder = Path(path)
    spec = read_folder_json(folder, FILE_NAME, REQUIRED_KEYS, "calibrated model")
    where = str(folder / FILE_NAME)
    if spec["format"] != FORMAT:
        raise CheckpointError(f"{where!r} is not a calibrated forecaster (format {spec['format']!r})")
    if spec["method"] not in METHODS:
        raise CheckpointError(f"{where!r}: method must be one of {METHODS}, got {spec['method']!r}")
    base_ref = resolve_reference(folder, FILE_NAME, "base_model", spec["base_model"])
    with loading(folder):
        base = load(
            base_ref, device=options.device, dtype=options.dtype, batch_size=options.batch_size,
            season_length=spec.get("season_length") or options.season_length,
        )
    try:
        return CalibratedForecaster(
            base, np.asarray(spec["offsets"], dtype=np.float64), spec["quantile_levels"], spec["method"],
            base_ref=spec["base_model"], name=spec.get("name"), info=spec.get("info"),
        )
    except (InputError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where!r} holds offsets or levels that do not fit: {exc}") from None
