"""The verdict: was fine-tuning worth it? Every candidate scored on the same rolling windows.

Candidates are the zero-shot model, each fine-tuned variant and classical baselines, each scored
by :func:`tsfm.rolling.score` on the verdict's windows (up to 3 per series, cut from the end),
which no training step or early-stopping check saw. The best fine-tuned variant is picked on the
early-stopping windows (its validation WQL) and kept only if it beats the zero-shot model twice
over: on the WQL pooled over every verdict window *and* on a majority of the window indices. One
lucky window is then not enough to call a variant better. Otherwise the zero-shot model is kept,
and the verdict says so. The table shows each window's WQL beside the pooled figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tsfm.adapters.windows import VerdictWindows
from tsfm.rolling import score

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WINDOW_PREFIX = "test_wql_w"  # per-window columns: test_wql_w1 (earliest) .. test_wql_wK (latest)


@dataclass(frozen=True)
class Candidate:
    """A model in the verdict: ``role`` is ``zero-shot``, ``lora``, ``full`` or ``baseline``."""

    label: str
    role: str
    forecaster: Any
    val_wql: float = float("nan")


def score_candidates(
    candidates: Sequence[Candidate], test: VerdictWindows, context_length: int, season_length: int
) -> pd.DataFrame:
    """One row per candidate: pooled test MASE, WQL and 80% coverage, each window's WQL, and wins.

    MASE is the mean over (series, window) pairs; WQL is pooled over every point of every window
    (the leaderboard's definition), and per window index in the ``test_wql_w<k>`` columns.
    ``windows_won`` counts the window indices where the candidate's WQL is below zero-shot's.
    """
    config = replace(test.config, max_context=context_length)
    rows = []
    for cand in candidates:
        result = score(cand.forecaster, test.series, config, LEVELS, season_length, test.item_ids)
        pooled, per_window = result.pooled(), result.per_window().sort_values("window")
        row = {"model": cand.label, "role": cand.role, "val_wql": cand.val_wql, "test_mase": pooled["MASE"],
               "test_wql": pooled["WQL"], "coverage_80": pooled["coverage_80"]}
        # failed windows have no row in per_window; reindex on every window so columns line up
        wqls = per_window.set_index("window")["WQL"].reindex(range(config.windows))
        row.update({f"{WINDOW_PREFIX}{k + 1}": float(v) for k, v in wqls.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    # a window index no series is long enough for has no figures for anyone
    table = table.loc[:, [c for c in table.columns if not c.startswith(WINDOW_PREFIX) or table[c].notna().any()]]
    zero = table[table["role"] == "zero-shot"]
    windows = window_columns(table)
    if len(zero):
        table["wql_vs_zero_shot"] = table["test_wql"] / float(zero["test_wql"].iloc[0])
        table["windows_won"] = (table[windows] < zero[windows].to_numpy()).sum(axis=1)
    return table


def window_columns(table: pd.DataFrame) -> list[str]:
    """The per-window WQL columns of a verdict table, earliest first; ``["test_wql"]`` when it has none."""
    columns = [c for c in table.columns if c.startswith(WINDOW_PREFIX)]
    return columns or ["test_wql"]


def choose(table: pd.DataFrame, force: str | None = None) -> tuple[str, str]:
    """The label to keep and a sentence saying why.

    The fine-tuned variant with the best validation WQL is kept when its pooled test WQL is below
    zero-shot's and it is also better on more than half of the windows; else zero-shot is kept.
    ``force`` keeps that fine-tuned variant (e.g. ``"lora"``) whatever the figures say.
    """
    zero = table[table["role"] == "zero-shot"].iloc[0]
    tuned = table[table["role"].isin(["lora", "full"])]
    if force is not None:
        row = tuned[tuned["role"] == force].iloc[0]
        return str(row["model"]), f"{row['model']} kept because it was forced (test WQL {row['test_wql']:.4f} " \
            f"vs zero-shot {zero['test_wql']:.4f})"
    best = tuned.sort_values("val_wql").iloc[0]
    change = best["test_wql"] / zero["test_wql"] - 1.0
    windows = window_columns(table)
    won = int(sum(best[c] < zero[c] for c in windows))
    figures = (f"test WQL {best['test_wql']:.4f} vs zero-shot {zero['test_wql']:.4f} ({change:+.1%}), "
               f"better on {won} of {len(windows)} windows")
    if best["test_wql"] < zero["test_wql"] and won > len(windows) / 2:
        return str(best["model"]), f"{best['model']} kept: {figures}"
    return str(zero["model"]), (
        f"fine-tuning did not beat zero-shot on the pooled WQL and a majority of windows: {best['model']} "
        f"{figures}; the zero-shot model is kept (pass force= to keep it anyway)"
    )


def format_verdict(table: pd.DataFrame, chosen: str, reason: str) -> str:
    """The verdict table as text, best test WQL first, each window's WQL shown, the chosen model marked."""
    shown = table.sort_values("test_wql").copy()
    shown.insert(0, " ", np.where(shown["model"] == chosen, "*", ""))
    text = shown.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-")
    return f"{text}\n* {reason}"
