"""The verdict: was fine-tuning worth it? Every candidate scored on the same rolling windows.

Candidates are the zero-shot model, each fine-tuned variant and classical baselines, each scored
by :func:`tsfm.rolling.score` on the verdict's windows (``FinetuneConfig.windows`` per series, 3
by default, cut from the end), which no training step or early-stopping check saw. A fine-tuned
variant is kept only if it beats the zero-shot model three times over: on the WQL pooled
over every verdict window, on a majority of the window indices *and* on a majority of the series
(each series' quantile loss summed over its windows); and full fine-tuning is kept over LoRA only
if it beats LoRA the same way (the simpler model wins a tie). One lucky window, or a few large
series that dominate the pooled WQL, is then not enough to call a variant better: on M4 Hourly a
LoRA run 2.7% better on the pooled verdict WQL but better on only 207 of 414 series was 1.7% worse
than zero-shot on the official test. Otherwise the
zero-shot model is kept, and the verdict says so. The table shows each window's WQL beside the
pooled figures.
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
SERIES_LOSS = "series_loss"  # per candidate: each series' quantile loss over its windows, in item order


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
    ``windows_won`` counts the window indices where the candidate's WQL is below zero-shot's, and
    ``series_won`` the series where its quantile loss (summed over the series' windows) is; the
    losses themselves are in the ``series_loss`` column (a list per row, in ``test.item_ids`` order;
    NaN where every window of the series failed), which the printed and CSV tables leave out.
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
        ok = result.scores[result.scores["error"] == ""]
        losses = ok.groupby("item_id")["quantile_loss"].sum().reindex(test.item_ids)
        row[SERIES_LOSS] = [float(v) for v in losses]
        rows.append(row)
    table = pd.DataFrame(rows)
    # a window index no series is long enough for has no figures for anyone
    table = table.loc[:, [c for c in table.columns if not c.startswith(WINDOW_PREFIX) or table[c].notna().any()]]
    zero = table[table["role"] == "zero-shot"]
    windows = window_columns(table)
    if len(zero):
        table["wql_vs_zero_shot"] = table["test_wql"] / float(zero["test_wql"].iloc[0])
        table["windows_won"] = (table[windows] < zero[windows].to_numpy()).sum(axis=1)
        table["series_won"] = [series_won(row, zero.iloc[0])[0] for _, row in table.iterrows()]
    return table


def series_won(a: pd.Series, b: pd.Series) -> tuple[int, int]:
    """On how many series ``a``'s quantile loss is below ``b``'s, of the series both forecast.

    ``(0, 0)`` when the rows carry no per-series losses (a table built by hand, or an old report).
    """
    if SERIES_LOSS not in a.index or not isinstance(a[SERIES_LOSS], (list, tuple, np.ndarray)):
        return 0, 0
    la, lb = np.asarray(a[SERIES_LOSS], dtype=float), np.asarray(b[SERIES_LOSS], dtype=float)
    both = np.isfinite(la) & np.isfinite(lb)
    return int((la[both] < lb[both]).sum()), int(both.sum())


def window_columns(table: pd.DataFrame) -> list[str]:
    """The per-window WQL columns of a verdict table, earliest first; ``["test_wql"]`` when it has none."""
    columns = [c for c in table.columns if c.startswith(WINDOW_PREFIX)]
    return columns or ["test_wql"]


SIMPLEST_FIRST = ("zero-shot", "lora", "full")  # fewer trained weights first: kept on a tie


def beats(a: pd.Series, b: pd.Series, windows: Sequence[str]) -> bool:
    """``a`` is better than ``b``: a lower pooled WQL, a lower WQL on a majority of ``windows``, and a
    lower quantile loss on a majority of the series (where the rows carry per-series losses)."""
    won = sum(bool(a[c] < b[c]) for c in windows)
    series, compared = series_won(a, b)
    broad = compared == 0 or series > compared / 2
    return bool(a["test_wql"] < b["test_wql"]) and won > len(windows) / 2 and broad


TIE_RTOL = 1e-6  # figures this close (relative) come from the same forecasts, e.g. weights that never moved


def same_scores(a: pd.Series, b: pd.Series, windows: Sequence[str]) -> bool:
    """``a`` and ``b`` scored alike: the pooled WQL, every window's and every series' loss equal to :data:`TIE_RTOL`.

    That is the same forecasts, as when full fine-tuning's best step was step 0 and it kept the
    zero-shot weights: such a variant ties with zero-shot rather than ranking below it.
    """
    columns = ["test_wql", *windows]
    if not np.allclose(a[columns].to_numpy(float), b[columns].to_numpy(float), rtol=TIE_RTOL, atol=0, equal_nan=True):
        return False
    la, lb = a.get(SERIES_LOSS), b.get(SERIES_LOSS)
    if isinstance(la, (list, tuple, np.ndarray)) and isinstance(lb, (list, tuple, np.ndarray)):
        return len(la) == len(lb) and bool(np.allclose(np.asarray(la, float), np.asarray(lb, float),
                                                       rtol=TIE_RTOL, atol=0, equal_nan=True))
    return True


def tiers(table: pd.DataFrame) -> list[list[str]]:
    """Zero-shot and the fine-tuned variants of a verdict table, best first, in tiers of ties.

    Repeatedly the simplest remaining candidate (zero-shot, then LoRA, then full fine-tuning) that
    no other remaining candidate :func:`beats` comes next, with every remaining candidate that
    scored exactly as it did (:func:`same_scores`) in its tier. So a variant with more trained
    weights ranks above a simpler one only when it beats it on the pooled WQL and on most windows
    and series; a pooled WQL a little lower, from one lucky window, is not enough. There is always
    such a candidate: the lowest pooled WQL is beaten by none.
    """
    rows = table[table["role"].isin(SIMPLEST_FIRST)].copy()
    rows = rows.iloc[np.argsort([SIMPLEST_FIRST.index(r) for r in rows["role"]], kind="stable")]
    windows, remaining, order = window_columns(table), list(range(len(rows))), []
    while remaining:
        best = next(i for i in remaining if not any(beats(rows.iloc[j], rows.iloc[i], windows) for j in remaining))
        tier = [i for i in remaining if i == best or same_scores(rows.iloc[i], rows.iloc[best], windows)]
        order.append([str(rows.iloc[i]["model"]) for i in tier])
        remaining = [i for i in remaining if i not in tier]
    return order


def ranking(table: pd.DataFrame) -> list[str]:
    """The labels of :func:`tiers`, best first (within a tie, the simplest first)."""
    return [label for tier in tiers(table) for label in tier]


def tiers_by_value(scores: dict[str, float]) -> list[list[str]]:
    """Labels sorted by score, lowest first, in tiers of scores equal to :data:`TIE_RTOL` (e.g. a test WQL)."""
    order: list[list[str]] = []
    for label in sorted(scores, key=lambda key: scores[key]):  # stable: ties keep the given order
        if order and np.isclose(scores[label], scores[order[-1][0]], rtol=TIE_RTOL, atol=0):
            order[-1].append(label)
        else:
            order.append([label])
    return order


def _as_tiers(order: Sequence[Sequence[str] | str]) -> list[list[str]]:
    """Tiers of a ranking; a plain label (a ranking written before tiers) is a tier of its own."""
    return [[tier] if isinstance(tier, str) else list(tier) for tier in order]


def format_tiers(order: Sequence[Sequence[str] | str]) -> str:
    """``"zero-shot = full > lora"``."""
    return " > ".join(" = ".join(tier) for tier in _as_tiers(order))


def same_tiers(a: Sequence[Sequence[str] | str], b: Sequence[Sequence[str] | str]) -> bool:
    """Whether two rankings agree: the same tiers in the same order (order within a tie does not count)."""
    return [set(t) for t in _as_tiers(a)] == [set(t) for t in _as_tiers(b)]


def choose(table: pd.DataFrame, force: str | None = None) -> tuple[str, str]:
    """The label to keep and a sentence saying why: the first of :func:`ranking`.

    A variant that scored exactly as zero-shot ties with it (:func:`tiers`) and zero-shot, the
    simpler, is kept; the sentence then names the best variant that did not tie, and the tie.

    A fine-tuned variant is kept only when it beats zero-shot on the pooled WQL and on more than
    half of the windows, and a variant with more trained weights (full fine-tuning) is kept over a
    simpler one (LoRA) only when it beats that one the same way. ``force`` keeps the fine-tuned
    variant with that role (e.g. ``"lora"``) whatever the figures say. The early-stopping score
    (``val_wql``) plays no part: it picked each variant's best step and is biased in its favour.
    """
    zero = table[table["role"] == "zero-shot"].iloc[0]
    if force is not None:
        row = table[table["role"] == force].iloc[0]
        return str(row["model"]), f"{row['model']} kept because it was forced (test WQL {row['test_wql']:.4f} " \
            f"vs zero-shot {zero['test_wql']:.4f})"
    order = tiers(table)
    by_label = table.set_index("model")
    best, tied = order[0][0], order[0][1:]
    below = [label for tier in order[1:] for label in tier]
    kept = by_label.loc[best]
    if kept["role"] != "zero-shot":
        others = "; ".join(_comparison(kept, by_label.loc[label], window_columns(table)) for label in tied + below)
        return best, f"{best} kept: {others}"
    # the variant to name: the best one that did not tie with zero-shot (a tie kept the zero-shot weights)
    tuned = by_label.loc[(below or tied or [best])[0]]
    same = f"; {' and '.join(tied)} scored exactly as zero-shot on every window and series" if tied else ""
    return best, (
        f"fine-tuning did not beat zero-shot on the pooled WQL and a majority of windows and of series: "
        f"{_comparison(tuned, kept, window_columns(table))}; the zero-shot model is kept (pass force= to keep "
        f"{tuned.name} anyway){same}"
    )


def _comparison(a: pd.Series, b: pd.Series, windows: Sequence[str]) -> str:
    """``a`` against ``b`` in words: pooled WQL of both, the change, and the windows ``a`` is better on."""
    won = sum(bool(a[c] < b[c]) for c in windows)
    series, compared = series_won(a, b)
    on_series = f" and {series} of {compared} series" if compared else ""
    return (f"{a.name} pooled WQL {a['test_wql']:.4f} vs {b.name} {b['test_wql']:.4f} "
            f"({a['test_wql'] / b['test_wql'] - 1:+.1%}), better on {won} of {len(windows)} windows{on_series}")


def format_verdict(table: pd.DataFrame, chosen: str, reason: str) -> str:
    """The verdict table as text, best test WQL first, each window's WQL shown, the chosen model marked."""
    shown = table.drop(columns=SERIES_LOSS, errors="ignore").sort_values("test_wql")
    shown.insert(0, " ", np.where(shown["model"] == chosen, "*", ""))
    text = shown.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-")
    return f"{text}\n* {reason}"
