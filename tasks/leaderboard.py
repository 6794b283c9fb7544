"""Aggregate backtest scores into a leaderboard.

Columns (one row per model, ranked by WQL, best first):

- ``MASE``, ``sMAPE``, ``MSE``: means over (series, window) of the per-series figure.
- ``WQL``: sum of the weighted quantile losses over the sum of |y| across every
  series and window (one figure for the whole set, as Chronos and fev report it).
- ``coverage_80``: share of observations inside the 0.1-0.9 quantile band.
- ``seconds``: wall-clock seconds the model spent forecasting, all windows.
- ``rel_MASE``, ``rel_WQL``: geometric mean over (series, window) of the model's
  figure divided by the reference model's (seasonal naive); below 1 beats it.
- ``skill``: ``1 - rel_WQL``, the geometric-mean skill relative to the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsfm.errors import InputError

LEADERBOARD_COLUMNS = [
    "model", "MASE", "WQL", "sMAPE", "MSE", "coverage_80", "seconds", "rel_MASE", "rel_WQL", "skill",
]
_EPS = 1e-10  # keeps ratios finite when a reference error is exactly zero


def leaderboard(scores: pd.DataFrame, seconds: dict[str, float], reference: str | None) -> pd.DataFrame:
    """One row per model, ranked by WQL.

    Parameters
    ----------
    scores
        Per-(model, item_id, window) rows from :func:`tsfm.tasks.backtest.run_backtest`.
    seconds
        Forecasting seconds per model.
    reference
        Model whose per-series errors the relative columns divide by; ``None``
        leaves those columns NaN.
    """
    grouped = scores.groupby("model", sort=False)
    board = pd.DataFrame(
        {
            "MASE": grouped["MASE"].mean(),
            "WQL": grouped["quantile_loss"].sum() / grouped["abs_target"].sum(),
            "sMAPE": grouped["sMAPE"].mean(),
            "MSE": grouped["MSE"].mean(),
            "coverage_80": grouped["covered_80"].mean(),
        }
    )
    board["seconds"] = pd.Series(seconds)
    board["rel_MASE"], board["rel_WQL"] = np.nan, np.nan
    if reference is not None:
        if reference not in board.index:
            raise InputError(f"reference model {reference!r} is not among {list(board.index)}")
        board["rel_MASE"] = _gmean_ratio(scores, "MASE", reference)
        per_series_wql = scores["quantile_loss"] / np.maximum(scores["abs_target"], _EPS)
        board["rel_WQL"] = _gmean_ratio(scores.assign(WQL=per_series_wql), "WQL", reference)
    board["skill"] = 1.0 - board["rel_WQL"]
    board = board.sort_values("WQL", kind="stable").reset_index(names="model")
    return board[LEADERBOARD_COLUMNS]


def _gmean_ratio(scores: pd.DataFrame, column: str, reference: str) -> pd.Series:
    """Geometric mean per model of ``column / reference's column`` on matching (item, window)."""
    table = scores.pivot_table(index=["item_id", "window"], columns="model", values=column, aggfunc="first")
    ratio = np.maximum(table, _EPS).div(np.maximum(table[reference], _EPS), axis=0)
    return np.exp(np.log(ratio).mean(axis=0))


def format_leaderboard(board: pd.DataFrame) -> str:
    """Fixed-width text of a leaderboard for the terminal."""
    formats = {
        "MASE": "{:.3f}", "WQL": "{:.4f}", "sMAPE": "{:.2f}", "MSE": "{:.4g}",
        "coverage_80": "{:.3f}", "seconds": "{:.2f}", "rel_MASE": "{:.3f}", "rel_WQL": "{:.3f}",
        "skill": "{:+.3f}",
    }
    shown = board.copy()
    for column, fmt in formats.items():
        shown[column] = [("-" if pd.isna(v) else fmt.format(v)) for v in shown[column]]
    return shown.to_string(index=False)
