"""The verdict: was fine-tuning worth it? Every candidate scored on the same held-out test windows.

Candidates are the zero-shot model, each fine-tuned variant and classical baselines. The
choice is made on the *validation* windows (the best fine-tuned variant by validation WQL) and
then confirmed on the *test* windows, which nothing was trained or selected on: the fine-tuned
model is kept only if its test WQL beats the zero-shot model's. Otherwise the zero-shot model
is kept, and the verdict says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsfm.adapters.windows import HeldOut
from tsfm.metrics import interval_coverage, mase, wql

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Candidate:
    """A model in the verdict: ``role`` is ``zero-shot``, ``lora``, ``full`` or ``baseline``."""

    label: str
    role: str
    forecaster: Any
    val_wql: float = float("nan")


def score_candidates(
    candidates: Sequence[Candidate], test: HeldOut, context_length: int, season_length: int
) -> pd.DataFrame:
    """One row per candidate: test MASE, WQL, 80% coverage, and WQL relative to zero-shot.

    MASE and WQL are pooled over all test windows the way :mod:`tsfm.metrics` defines them
    (MASE averaged over series; WQL over all points).
    """
    context = [c[-context_length:] for c in test.context]
    horizon = test.target.shape[1]
    rows = []
    for cand in candidates:
        forecast = cand.forecaster.predict_quantiles(context, horizon, LEVELS)
        median = forecast.quantiles[..., LEVELS.index(0.5)]
        mases = [mase(t, m, full, season_length) for t, m, full in zip(test.target, median, test.context)]
        rows.append({
            "model": cand.label,
            "role": cand.role,
            "val_wql": cand.val_wql,
            "test_mase": float(np.nanmean(mases)),
            "test_wql": float(wql(test.target, forecast.quantiles, forecast.quantile_levels)),
            "coverage_80": float(
                interval_coverage(test.target, forecast.quantiles[..., 0], forecast.quantiles[..., -1])
            ),
        })
    table = pd.DataFrame(rows)
    zero = table.loc[table["role"] == "zero-shot", "test_wql"]
    table["wql_vs_zero_shot"] = table["test_wql"] / float(zero.iloc[0]) if len(zero) else np.nan
    return table


def choose(table: pd.DataFrame, force: str | None = None) -> tuple[str, str]:
    """The label to keep and a sentence saying why.

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
    if best["test_wql"] < zero["test_wql"]:
        return str(best["model"]), (
            f"{best['model']} kept: test WQL {best['test_wql']:.4f} vs zero-shot {zero['test_wql']:.4f} "
            f"({change:+.1%})"
        )
    return str(zero["model"]), (
        f"fine-tuning did not beat zero-shot: {best['model']} test WQL {best['test_wql']:.4f} vs zero-shot "
        f"{zero['test_wql']:.4f} ({change:+.1%}); the zero-shot model is kept (pass force= to keep it anyway)"
    )


def format_verdict(table: pd.DataFrame, chosen: str, reason: str) -> str:
    """The verdict table as text, best test WQL first, with the chosen model marked."""
    shown = table.sort_values("test_wql").copy()
    shown.insert(0, " ", np.where(shown["model"] == chosen, "*", ""))
    text = shown.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-")
    return f"{text}\n* {reason}"
