"""A picture of a detection: the series with flagged events shaded, and the score against its threshold.

Drawing stays fast on long files: timestamps are parsed to dates (text stamps would become a
categorical axis with one tick per row), each line keeps at most about 5,000 points (the
minimum and maximum of each bucket, so spikes stay visible), and all events of a panel are
one shaded collection; each event's start is also marked, so one-step alarms show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsfm.plots import format_time_axis, is_dates, pyplot, thin, time_axis
from tsfm.tasks.anomaly.base import Detection
from tsfm.tasks.anomaly.metrics import events

MAX_MARKERS = 2000  # event starts marked on the values panel (the first ones)


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
        ``(item_id, x [time], values [time, channels], detection)`` per series; ``x`` may be
        datetimes, text timestamps (parsed) or numbers.
    channel_names
        One name per channel, for the legend.
    path
        Where to write the PNG (atomically).
    max_items
        Items drawn (the first ones).
    """
    from tsfm.outputs import save_figure

    plt = pyplot()
    shown = list(items)[:max_items]
    fig, axes = plt.subplots(2 * len(shown), 1, figsize=(11, 3.2 * len(shown)), squeeze=False)
    try:
        for row, (item_id, stamps, values, found) in enumerate(shown):
            _draw_item(axes[2 * row, 0], axes[2 * row + 1, 0], item_id, time_axis(stamps), values, found,
                       channel_names)
        fig.tight_layout()
        return save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def _draw_item(top, bottom, item_id: str, x: np.ndarray, values: np.ndarray, found: Detection,
               channel_names: Sequence[str]) -> None:
    for c, name in enumerate(channel_names):
        keep = thin(values[:, c])
        top.plot(x[keep], values[keep, c], lw=0.8, label=name)
    spans = events(found.is_anomaly)
    for ax in (top, bottom):
        _shade(ax, x, spans)
    if len(spans):  # a marker at each event's start: one-step alarms (onsets) are too thin to see shaded
        starts = spans[:MAX_MARKERS, 0]
        top.scatter(x[starts], values[starts, 0], marker="v", s=20, color="tab:red", zorder=3, label="alarm")
    top.set_title(f"{item_id}: {int(found.is_anomaly.sum())} flagged points in {len(spans)} events "
                  "(shaded, marked at their start)")
    if len(channel_names) <= 8:
        top.legend(loc="upper left", fontsize=7, ncol=min(4, len(channel_names)))
    keep = thin(found.scores)
    bottom.plot(x[keep], np.asarray(found.scores)[keep], color="black", lw=0.8, label="score")
    bottom.axhline(found.threshold, color="tab:red", ls="--", lw=1, label=f"threshold {found.threshold:.3g}")
    bottom.legend(loc="upper left", fontsize=7)
    for ax in (top, bottom):
        format_time_axis(ax, x, None if is_dates(x) else "row")


def _shade(ax, x: np.ndarray, spans: np.ndarray) -> None:
    """Shade every event ``[start, end)`` as one collection, from its first point to the next point."""
    if len(spans) == 0:
        return
    if is_dates(x):
        import matplotlib.dates as mdates

        position = mdates.date2num(x)
    else:
        position = np.asarray(x, dtype=np.float64)
    starts = position[spans[:, 0]]
    ends = position[np.minimum(spans[:, 1], len(position) - 1)]
    ax.broken_barh(list(zip(starts, np.maximum(ends - starts, 0.0))), (0, 1),
                   transform=ax.get_xaxis_transform(), color="tab:red", alpha=0.2, lw=0)
