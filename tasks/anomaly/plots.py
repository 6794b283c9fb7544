"""A picture of a detection: the series with flagged events shaded, and the score against its threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsfm.tasks.anomaly.base import Detection
from tsfm.tasks.anomaly.metrics import events


def plot_detections(
    items: Sequence[tuple[str, np.ndarray, np.ndarray, Detection]],
    channel_names: Sequence[str],
    path: str | Path,
    max_items: int = 4,
) -> Path:
    """Write a PNG with two panels per item: values (flagged events shaded) and score vs threshold.

    Parameters
    ----------
    items
        ``(item_id, x [time], values [time, channels], detection)`` per series.
    channel_names
        One name per channel, for the legend.
    path
        Where to write the PNG.
    max_items
        Items drawn (the first ones).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(items)[:max_items]
    fig, axes = plt.subplots(2 * len(shown), 1, figsize=(11, 3.2 * len(shown)), squeeze=False)
    for row, (item_id, x, values, found) in enumerate(shown):
        top, bottom = axes[2 * row, 0], axes[2 * row + 1, 0]
        for c, name in enumerate(channel_names):
            top.plot(x, values[:, c], lw=0.8, label=name)
        for start, end in events(found.is_anomaly):
            for ax in (top, bottom):
                ax.axvspan(x[start], x[min(end, len(x) - 1)], color="tab:red", alpha=0.2, lw=0)
        top.set_title(f"{item_id}: {int(found.is_anomaly.sum())} flagged points in "
                      f"{len(events(found.is_anomaly))} events (shaded)")
        if len(channel_names) <= 8:
            top.legend(loc="upper left", fontsize=7, ncol=min(4, len(channel_names)))
        bottom.plot(x, found.scores, color="black", lw=0.8, label="score")
        bottom.axhline(found.threshold, color="tab:red", ls="--", lw=1, label=f"threshold {found.threshold:.3g}")
        bottom.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
