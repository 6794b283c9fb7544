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
- ``note``: why a model's figures cover less than the others', e.g. it went over its time
  budget and scored only the first windows; empty otherwise.

Scale-free metrics of a (series, window) pair whose scale is zero are undefined: MASE
when the history repeats itself exactly at the season lag (an all-zero or constant
series), WQL when every target value is 0. Those pairs hold NaN; the means and the
relative columns leave them out, the columns still exist (NaN when no pair is
defined), and :func:`format_leaderboard` adds a note that counts them
(``board.attrs["notes"]``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsfm.errors import InputError

LEADERBOARD_COLUMNS = [
    "model", "MASE", "WQL", "sMAPE", "MSE", "coverage_80", "seconds", "rel_MASE", "rel_WQL", "skill", "note",
]
_EPS = 1e-10  # keeps ratios finite when a reference error is exactly zero


def leaderboard(
    scores: pd.DataFrame, seconds: dict[str, float], reference: str | None, notes: dict[str, str] | None = None
) -> pd.DataFrame:
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
    notes
        Per model, a line for the ``note`` column (e.g. ``run_backtest``'s over-budget notes).
    """
    scores = scores.assign(MASE=scores["MASE"].where(np.isfinite(scores["MASE"])))  # inf: zero scale
    grouped = scores.groupby("model", sort=False)
    abs_sum = grouped["abs_target"].sum()
    board = pd.DataFrame(
        {
            "MASE": grouped["MASE"].mean(),
            "WQL": (grouped["quantile_loss"].sum() / abs_sum).where(abs_sum > 0),
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
        per_series_wql = (scores["quantile_loss"] / scores["abs_target"]).where(scores["abs_target"] > 0)
        board["rel_WQL"] = _gmean_ratio(scores.assign(WQL=per_series_wql), "WQL", reference)
    board["skill"] = 1.0 - board["rel_WQL"]
    board["note"] = pd.Series(notes or {}, dtype=object).reindex(board.index).fillna("")
    board = board.sort_values("WQL", kind="stable").reset_index(names="model")
    board = board[LEADERBOARD_COLUMNS]
    board.attrs["notes"] = _undefined_scale_notes(scores)
    return board


def _gmean_ratio(scores: pd.DataFrame, column: str, reference: str) -> pd.Series:
    """Geometric mean per model of ``column / reference's column`` on matching (item, window).

    Pairs where either figure is undefined (NaN) are left out; a model with no defined
    pair gets NaN.
    """
    table = scores.pivot_table(
        index=["item_id", "window"], columns="model", values=column, aggfunc="first", dropna=False
    ).reindex(columns=scores["model"].unique())  # every model a column, even one whose figures are all NaN
    ratio = np.maximum(table, _EPS).div(np.maximum(table[reference], _EPS), axis=0)
    return np.exp(np.log(ratio).mean(axis=0, skipna=True))


def _undefined_scale_notes(scores: pd.DataFrame) -> list[str]:
    """One sentence counting the (series, window) pairs whose MASE or WQL is undefined, if any."""
    pairs = scores.groupby(["item_id", "window"], sort=False).agg(
        mase=("MASE", lambda v: v.isna().all()), wql=("abs_target", lambda v: (v == 0).all())
    )
    undefined = pairs[pairs["mase"] | pairs["wql"]]
    if undefined.empty:
        return []
    n = len(undefined)
    items = ", ".join(repr(str(i)) for i in list(dict.fromkeys(undefined.index.get_level_values(0)))[:3])
    return [
        f"{n} (series, window) pair{'s' if n > 1 else ''} (e.g. {items}) {'have' if n > 1 else 'has'} a zero scale "
        "(an all-zero target, or a history that repeats itself exactly), so MASE and WQL are undefined there: "
        "NaN in per_series.csv, left out of the means and of the relative columns"
    ]


def format_leaderboard(board: pd.DataFrame) -> str:
    """Fixed-width text of a leaderboard for the terminal."""
    formats = {
        "MASE": "{:.3f}", "WQL": "{:.4f}", "sMAPE": "{:.2f}", "MSE": "{:.4g}",
        "coverage_80": "{:.3f}", "seconds": "{:.2f}", "rel_MASE": "{:.3f}", "rel_WQL": "{:.3f}",
        "skill": "{:+.3f}",
    }
    shown = board.copy()
    if "note" in shown and not shown["note"].astype(bool).any():
        shown = shown.drop(columns="note")  # no column of blanks on the terminal
    for column, fmt in formats.items():
        shown[column] = [("-" if pd.isna(v) else fmt.format(v)) for v in shown[column]]
    notes = [f"note: {note}" for note in board.attrs.get("notes", [])]
    return "\n".join([shown.to_string(index=False), *notes])
