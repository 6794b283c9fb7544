"""Stress tests: how much accuracy and coverage each model loses when its context is perturbed.

For every perturbation of :mod:`tsfm.perturb` at every severity of its grid, the contexts of
the last ``windows`` rolling windows are perturbed (the same perturbed contexts for every
model) while the targets stay clean, and each model is scored against its own clean run:

    rel_MASE = MASE(perturbed) / MASE(clean)          (1.10 = 10% worse)
    coverage_change = coverage_80(perturbed) - coverage_80(clean)

Contexts are cut to their last ``context_length`` values before they are perturbed (what a
model with that context window reads), so a share of missing values means the same on long
and short series. MASE is always scaled by the clean, full context's seasonal naive error,
so a perturbation cannot change the yardstick. Results: a table (``stress.csv``) and a plot (``stress.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tsfm import metrics, perturb
from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.validation import validate_horizon, validate_season_length

CLEAN = "clean"
KIND = "stress"  # the kind of run named in the output folder's marker
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class StressConfig:
    """What to perturb and how to score.

    Attributes
    ----------
    horizon
        Steps forecast per window.
    windows
        Rolling windows per series (cut from the end, ``horizon`` apart).
    season_length
        Season of the MASE scale.
    perturbations
        Names from :data:`tsfm.perturb.PERTURBATIONS`; ``None`` = all of them.
    seed
        Seed of the perturbations; every model sees the same perturbed contexts.
    context_length
        Context values kept (the latest) and perturbed; ``None`` = the whole history.
    """

    horizon: int
    windows: int = 1
    season_length: int = 1
    perturbations: tuple[str, ...] | None = None
    seed: int = 0
    context_length: int | None = 512

    def __post_init__(self) -> None:
        validate_horizon(self.horizon)
        if self.context_length is not None and (
            isinstance(self.context_length, bool) or not isinstance(self.context_length, int)
            or self.context_length <= self.season_length + 1
        ):
            raise InputError(
                f"context_length must be an integer above season_length + 1 ({self.season_length + 1}) or None, "
                f"got {self.context_length!r}"
            )
        validate_season_length(self.season_length)
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise InputError(f"windows must be a positive integer, got {self.windows!r}")
        names = tuple(self.perturbations) if self.perturbations is not None else tuple(perturb.PERTURBATIONS)
        if not names:
            raise InputError("perturbations is empty: name at least one, e.g. noise,missing")
        for name in names:
            perturb.get_perturbation(name)
        object.__setattr__(self, "perturbations", names)


@dataclass
class StressReport:
    """``table``: one row per model, perturbation and severity (``clean`` rows first)."""

    table: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _windows(series: Sequence[np.ndarray], config: StressConfig) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Clean contexts, targets ``[n, horizon]`` and MASE scales ``[n]`` of every usable (series, window)."""
    h, m = config.horizon, config.season_length
    contexts, targets, scales = [], [], []
    for values in series:
        for k in range(config.windows):
            cutoff = len(values) - h - (config.windows - 1 - k) * h
            context = values[: max(cutoff, 0)]
            if np.isfinite(context).sum() <= m + 1:
                continue
            scale = metrics.seasonal_scale(context, m)
            if scale > 0:
                contexts.append(context if config.context_length is None else context[-config.context_length :])
                targets.append(values[cutoff : cutoff + h])
                scales.append(scale)
    if not contexts:
        longest = max((len(values) for values in series), default=0)
        raise InputError(
            f"no series is long enough: the longest has {longest} values; a window needs at least {h + m + 2}: "
            f"horizon ({h}) values after more than {m + 1} observed context values (season length {m} + 1, for "
            "the MASE scale). Pass a shorter --horizon or a smaller --season-length"
        )
    return contexts, np.vstack(targets), np.asarray(scales)


def _score(model: Forecaster, contexts: list[np.ndarray], targets: np.ndarray, scales: np.ndarray) -> dict:
    fc = model.predict_quantiles(contexts, targets.shape[1], LEVELS)
    observed = np.isfinite(targets)
    abs_err = np.where(observed, np.abs(targets - fc.median), np.nan)  # [n, horizon]
    inside = (targets >= fc.quantile(0.1)) & (targets <= fc.quantile(0.9))
    return {
        "MASE": float(np.nanmean(np.nanmean(abs_err, axis=1) / scales)),
        "WQL": metrics.wql(targets, fc.quantiles, LEVELS),
        "coverage_80": float(inside[observed].mean()),
    }


def stress_test(
    models: Sequence[Forecaster], series: Sequence[np.ndarray], config: StressConfig, progress: bool = True
) -> StressReport:
    """Score every model on clean and perturbed contexts.

    Parameters
    ----------
    models
        Forecasters with unique names.
    series
        Full histories, 1-D float arrays; the last ``windows * horizon`` values are targets.
    config
        See :class:`StressConfig`.

    Returns
    -------
    StressReport
        ``table`` columns: ``model, perturbation, severity, unit, MASE, WQL, coverage_80,
        rel_MASE, rel_WQL, coverage_change``.
    """
    names = [m.name for m in models]
    if not models or len(set(names)) != len(names):
        raise InputError(f"pass at least one model, with unique names; got {names}")
    contexts, targets, scales = _windows([np.asarray(s, dtype=np.float64) for s in series], config)
    cases = [(CLEAN, 0.0, contexts)]
    for name in config.perturbations:
        spec = perturb.get_perturbation(name)
        for j, severity in enumerate(spec.severities):
            seed = config.seed * 1000 + 17 * config.perturbations.index(name) + j
            cases.append((name, severity, perturb.perturb_context(contexts, name, severity, seed)))
    rows = []
    for model in models:
        for name, severity, ctx in tqdm(cases, desc=f"stress {model.name}", disable=not progress):
            unit = "" if name == CLEAN else perturb.PERTURBATIONS[name].unit
            rows.append({"model": model.name, "perturbation": name, "severity": severity, "unit": unit,
                         **_score(model, ctx, targets, scales)})
    table = pd.DataFrame(rows)
    clean = table[table.perturbation == CLEAN].set_index("model")
    ref = clean.loc[table.model]
    table["rel_MASE"] = table.MASE.to_numpy() / ref.MASE.to_numpy()
    table["rel_WQL"] = table.WQL.to_numpy() / ref.WQL.to_numpy()
    table["coverage_change"] = table.coverage_80.to_numpy() - ref.coverage_80.to_numpy()
    return StressReport(table)


def plot_stress(table: pd.DataFrame, path: str | Path) -> Path:
    """One column per perturbation: relative MASE (top) and 80% coverage (bottom) vs severity, a line per model."""
    from tsfm.outputs import save_figure
    from tsfm.plots import pyplot

    plt = pyplot()
    names = [p for p in dict.fromkeys(table.perturbation) if p != CLEAN]
    fig, axes = plt.subplots(2, len(names), figsize=(2.6 * len(names) + 1, 5.6), squeeze=False, sharey="row")
    for c, name in enumerate(names):
        part = table[table.perturbation == name]
        for model, rows in part.groupby("model", sort=False):
            x = np.arange(len(rows))
            axes[0][c].plot(x, rows.rel_MASE, marker="o", label=model)
            axes[1][c].plot(x, rows.coverage_80, marker="o", label=model)
            for ax in (axes[0][c], axes[1][c]):
                ax.set_xticks(x, [f"{s:g}" for s in rows.severity])
        axes[0][c].axhline(1.1, color="grey", lw=0.6, ls="--")
        axes[1][c].axhline(0.8, color="grey", lw=0.6, ls="--")
        axes[0][c].set_title(name, fontsize=10)
        axes[1][c].set_xlabel(part.unit.iloc[0], fontsize=8)
    axes[0][0].set_ylabel("MASE / clean MASE")
    axes[1][0].set_ylabel("80% interval coverage")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.suptitle("Degradation under context perturbations (dashed: +10% MASE, nominal coverage)", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    try:
        return save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def write_stress(report: StressReport, folder: str | Path, overwrite: bool = False) -> dict[str, Path]:
    """Write ``stress.csv`` and ``stress.png`` as the folder ``folder``, whole or not at all.

    A folder of another kind of run is refused unless ``overwrite`` (see :mod:`tsfm.outputs`).
    """
    from tsfm.outputs import staged_folder, write_table

    out = Path(folder)
    with staged_folder(out, KIND, overwrite) as stage:
        write_table(report.table, stage / "stress.csv")
        plot_stress(report.table, stage / "stress.png")
    report.files = {"table": out / "stress.csv", "plot": out / "stress.png"}
    return report.files
