"""Pictures a new user can read: real dates on the x-axis, and lines thin enough to draw fast.

Every plot of the project goes through the small helpers here:

- :func:`time_axis` turns timestamps into something matplotlib places on a continuous axis:
  datetimes stay datetimes, text timestamps are parsed to datetimes, numbers stay numbers.
  Text is never handed to matplotlib as is: it would become a categorical axis with one tick
  per row, unreadable and, for a long series, minutes to draw.
- :func:`format_time_axis` gives a date axis matplotlib's automatic locator and concise
  formatter (``Jan``, ``Feb``, ``2024`` rather than overlapping full stamps).
- :func:`thin` keeps at most a few thousand points of a line, the minimum and the maximum
  of each bucket, so that a spike survives the downsampling.

:func:`plot_forecasts` draws the history and forecast of some series of a forecast table;
``tsfm forecast --plot`` uses it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsfm.errors import InputError

MAX_POINTS = 5000
BAND = ("0.1", "0.9")


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def time_axis(stamps: Sequence[object] | np.ndarray) -> np.ndarray:
    """Timestamps as ``datetime64`` or numbers, never as text.

    Text that parses as dates becomes ``datetime64``; text that does not is replaced by the
    row numbers ``0, 1, ...`` so the axis stays continuous.
    """
    values = np.asarray(stamps)
    if np.issubdtype(values.dtype, np.datetime64) or np.issubdtype(values.dtype, np.number):
        return values
    if isinstance(stamps, pd.Series) and isinstance(stamps.dtype, pd.DatetimeTZDtype):
        return stamps.dt.tz_localize(None).to_numpy()
    try:
        parsed = pd.to_datetime(pd.Series(values), format="mixed")
    except (ValueError, TypeError, OverflowError):
        try:
            return pd.to_numeric(pd.Series(values)).to_numpy()
        except (ValueError, TypeError):
            return np.arange(len(values))
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy()


def is_dates(x: np.ndarray) -> bool:
    """Whether an axis made by :func:`time_axis` holds dates."""
    return np.issubdtype(np.asarray(x).dtype, np.datetime64)


def format_time_axis(ax, x: np.ndarray, label: str | None = None) -> None:
    """Concise date ticks when ``x`` holds dates; otherwise ``label`` (default "step") on the axis."""
    if is_dates(x):
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if label:
            ax.set_xlabel(label)
    else:
        ax.set_xlabel(label or "step")


def thin(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most about ``max_points`` points of ``y`` that draw like all of them.

    ``y`` is cut into ``max_points // 2`` buckets and each keeps its smallest and largest
    value (NaN-aware), so spikes and dips stay visible. Short lines keep every point.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    edges = np.linspace(0, n, max(1, max_points // 2) + 1).astype(int)
    keep = [0, n - 1]
    for start, end in zip(edges[:-1], edges[1:]):
        part = y[start:end]
        if end <= start or not np.isfinite(part).any():
            keep.append(start)
            continue
        keep += [start + int(np.nanargmin(part)), start + int(np.nanargmax(part))]
    return np.unique(np.asarray(keep))


def pick_series(frame: pd.DataFrame, series: int | Sequence[str] | None = None) -> list[str]:
    """The item ids to draw: ``series`` ids (checked against the frame), else that many of the
    longest items (default 4)."""
    lengths = frame.groupby("item_id", sort=False).size()
    known = [str(i) for i in lengths.index]
    if series is not None and not isinstance(series, (int, np.integer)):
        wanted = [str(s) for s in series]
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise InputError(f"--plot-series {unknown} are not in the data; its first item ids: {known[:5]}")
        return wanted
    count = 4 if series is None else int(series)
    order = np.argsort(-lengths.to_numpy(), kind="stable")
    return [known[k] for k in order[:count]]


def plot_forecasts(
    frame: pd.DataFrame,
    forecast_table: pd.DataFrame,
    path: str | os.PathLike,
    series: int | Sequence[str] | None = None,
    history: int | None = None,
) -> Path:
    """Save a picture of some series: history, forecast median and 80% band (0.1-0.9).

    Parameters
    ----------
    frame
        Canonical long frame (``item_id``, ``timestamp``, ``target``) the forecast was made from.
    forecast_table
        :meth:`tsfm.forecast.Forecast.to_frame` output: ``item_id``, ``timestamp`` (or ``step``),
        the quantile columns (``"0.5"``, and ``"0.1"``/``"0.9"`` for the band when present).
    path
        Where to write the picture (PNG unless the suffix names another format); written atomically.
    series
        Item ids to draw, or a count of the longest series; default the four longest.
    history
        Past steps drawn before the forecast; default ``4 * horizon`` (at least 48).

    Returns
    -------
    Path
        ``path``.
    """
    from tsfm.outputs import save_figure

    chosen = pick_series(frame, series)
    if not chosen:
        raise InputError("--plot-series chose no series to draw; give item ids or a count >= 1")
    plt = pyplot()
    cols = 2 if len(chosen) > 1 else 1
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.2 * rows), squeeze=False)
    try:
        for j, item in enumerate(chosen):
            _draw_one(axes[j // cols][j % cols], frame, forecast_table, item, history)
        for j in range(len(chosen), rows * cols):
            axes[j // cols][j % cols].axis("off")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
        chose_ids = series is not None and not isinstance(series, (int, np.integer))
        which = "the chosen series" if chose_ids else f"the {len(chosen)} longest series"
        fig.suptitle(f"Forecast of {which}: median and 80% band", fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 0.95))
        return save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def _draw_one(ax, frame: pd.DataFrame, table: pd.DataFrame, item: str, history: int | None) -> None:
    past = frame[frame["item_id"].astype(str) == item]
    future = table[table["item_id"].astype(str) == item]
    horizon = len(future)
    shown = history if history is not None else max(4 * horizon, 48)
    past = past.iloc[-shown:]
    x_past = time_axis(past["timestamp"])
    if "timestamp" in future.columns:
        x_future = time_axis(future["timestamp"])
    else:  # step numbers 1..horizon after the last observation
        x_future = np.arange(1, horizon + 1) + (x_past[-1] if len(x_past) and not is_dates(x_past) else 0)
    if is_dates(x_past) != is_dates(x_future):
        x_past, x_future = np.arange(-len(past), 0), np.arange(horizon)
    keep = thin(past["target"].to_numpy())
    ax.plot(x_past[keep], past["target"].to_numpy()[keep], color="black", lw=1.0, label="history")
    median = future["0.5"] if "0.5" in future.columns else future["mean"]
    ax.plot(x_future, median.to_numpy(), color="tab:blue", lw=1.4, label="forecast median")
    if all(c in future.columns for c in BAND):
        ax.fill_between(x_future, future[BAND[0]].to_numpy(), future[BAND[1]].to_numpy(),
                        color="tab:blue", alpha=0.2, label="80% band")
    ax.set_title(item, fontsize=10)
    format_time_axis(ax, x_past)
