"""Pictures of a backtest: a few series of the last window, each model's median and 80% band."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.forecast import Forecast
from tsfm.plots import format_time_axis, pyplot, thin, time_axis


def choose_series(
    item_ids: Sequence[str], scores: pd.DataFrame | None, series: int | Sequence[str]
) -> tuple[list[int], str]:
    """Which series of the last window to draw, and a phrase saying how they were chosen.

    Parameters
    ----------
    item_ids
        Item ids of the window's series, in window order.
    scores
        Per-series scores of that window (``item_id``, ``MASE``); ``None`` picks by order.
    series
        A count (the series with the highest MASE, averaged over the models) or item ids.

    Returns
    -------
    (indices into ``item_ids``, description for the title)
    """
    ids = [str(i) for i in item_ids]
    if not isinstance(series, (int, np.integer)):
        wanted = [str(s) for s in series]
        missing = [s for s in wanted if s not in ids]
        if missing:
            raise InputError(
                f"--plot-series {missing} are not in the last evaluation window (unknown ids, or series too short "
                f"for it); some that are: {ids[:5]}"
            )
        return [ids.index(s) for s in wanted], "chosen series"
    count = min(int(series), len(ids))
    if scores is None or "MASE" not in scores.columns or scores.empty:
        return list(range(count)), f"the first {count} series"
    worst = scores.groupby(scores["item_id"].astype(str), sort=False)["MASE"].mean()
    worst = worst.reindex(ids).fillna(-np.inf).to_numpy()
    order = np.argsort(-worst, kind="stable")[:count]
    return [int(k) for k in order], f"the {count} series with the highest MASE (mean over models)"


def plot_forecasts(
    contexts: Sequence[np.ndarray],
    targets: np.ndarray,
    forecasts: dict[str, Forecast],
    item_ids: Sequence[str],
    path: str | os.PathLike,
    series: int | Sequence[str] = 4,
    history: int | None = None,
    timestamps: Sequence[np.ndarray] | None = None,
    scores: pd.DataFrame | None = None,
) -> Path:
    """Save a PNG grid: history, actual future, and per model the median with its 0.1-0.9 band.

    Parameters
    ----------
    contexts
        Histories of the plotted window, one 1-D array per series.
    targets
        ``[n_series, horizon]`` actual values after each context.
    forecasts
        Model name -> forecast of those series (same order).
    item_ids
        Series names for the panel titles.
    path
        Where to write the PNG (atomically).
    series
        A count of panels (the worst-scored series by ``scores``, else the first ones) or item ids.
    history
        Context steps shown before the forecast, default ``3 * horizon``.
    timestamps
        Per series, the timestamps of its context followed by its ``horizon`` target steps;
        dates give a date axis. Default: steps relative to the forecast origin.
    scores
        Per-series scores of this window (``item_id``, ``MASE``) to choose the worst series.
    """
    from tsfm.outputs import save_figure

    chosen, how = choose_series(item_ids, scores, series)
    horizon = targets.shape[1]
    shown = history if history is not None else 3 * horizon
    plt = pyplot()
    cols = 2 if len(chosen) > 1 else 1
    rows = max(1, int(np.ceil(len(chosen) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.2 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    try:
        for panel, j in enumerate(chosen):
            ax = axes[panel // cols][panel % cols]
            past = contexts[j][-shown:]
            x_past, x_future, label = _x(len(past), horizon, None if timestamps is None else timestamps[j])
            keep = thin(past)
            ax.plot(x_past[keep], past[keep], color="black", lw=1.0, label="history")
            ax.plot(x_future, targets[j], color="black", lw=1.0, ls="--", label="actual")
            for c, (name, fc) in enumerate(forecasts.items()):
                color = colors[c % len(colors)]
                ax.plot(x_future, fc.median[j], color=color, lw=1.4, label=f"{name} median")
                if 0.1 in fc.quantile_levels and 0.9 in fc.quantile_levels:
                    ax.fill_between(x_future, fc.quantile(0.1)[j], fc.quantile(0.9)[j], color=color, alpha=0.18)
            ax.axvline(x_future[0], color="grey", lw=0.6)
            ax.set_title(f"{item_ids[j]}", fontsize=10)
            format_time_axis(ax, x_past, label)
        for panel in range(len(chosen), rows * cols):
            axes[panel // cols][panel % cols].axis("off")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
        fig.suptitle(f"Last evaluation window, {how}: median and 80% band", fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 0.96))
        return save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def _x(n_past: int, horizon: int, stamps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """x of the shown history and of the future, and the axis label: the data's dates or steps when
    given, else steps relative to the forecast origin."""
    if stamps is not None and len(stamps) >= n_past + horizon:
        x = time_axis(np.asarray(stamps)[len(stamps) - horizon - n_past :])
        return x[:n_past], x[n_past:], None
    return np.arange(-n_past, 0), np.arange(horizon), "steps relative to forecast origin"
