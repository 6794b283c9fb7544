"""Pictures of forecasts: a few series, each model's median and 80% band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsfm.forecast import Forecast


def plot_forecasts(
    contexts: Sequence[np.ndarray],
    targets: np.ndarray,
    forecasts: dict[str, Forecast],
    item_ids: Sequence[str],
    path: str | Path,
    max_series: int = 4,
    history: int | None = None,
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
        Where to write the PNG; parent folders are created.
    max_series
        Panels to draw (the first ``max_series`` series).
    history
        Context steps shown before the forecast, default ``3 * horizon``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(max_series, len(contexts))
    horizon = targets.shape[1]
    shown = history if history is not None else 3 * horizon
    cols = 2 if n > 1 else 1
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.2 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j in range(n):
        ax = axes[j // cols][j % cols]
        past = contexts[j][-shown:]
        t_past = np.arange(-len(past), 0)
        t_future = np.arange(horizon)
        ax.plot(t_past, past, color="black", lw=1.0, label="history")
        ax.plot(t_future, targets[j], color="black", lw=1.0, ls="--", label="actual")
        for c, (name, fc) in enumerate(forecasts.items()):
            color = colors[c % len(colors)]
            ax.plot(t_future, fc.median[j], color=color, lw=1.4, label=f"{name} median")
            if 0.1 in fc.quantile_levels and 0.9 in fc.quantile_levels:
                ax.fill_between(t_future, fc.quantile(0.1)[j], fc.quantile(0.9)[j], color=color, alpha=0.18)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_title(f"{item_ids[j]}", fontsize=10)
        ax.set_xlabel("steps relative to forecast origin")
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.suptitle("Forecasts on the last evaluation window (median, 80% band)", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
