"""Fine-tuning benchmark on M4 Hourly: zero-shot vs LoRA vs full fine-tuning vs seasonal naive.

Fine-tunes on the M4 *training* part only (its own end split off for early stopping and the
verdict) with the product's defaults (:class:`~tsfm.adapters.config.FinetuneConfig`) unless flags
say otherwise, and scores every variant on the official M4 *test* part, which the run never sees.
Each method trains in its own child process, so the peak memory it reports is that method's alone::

    tsfm bench finetune --shared-data ../shared/data --output results/finetune-m4

Prints the verdict (each candidate's WQL on each verdict window, pooled, and the model the
verdict keeps, as ``finetune(method=("lora", "full"))`` would) beside the official test figures
(MASE, WQL, sMAPE, 80% coverage), whether the verdict's ranking agrees with the test's, and the
cost of each method (trainable share, file size, seconds per 100 steps, peak RSS). Writes
``comparison.csv``, ``test_scores.csv``, ``verdict.csv``, ``costs.csv`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

HORIZON, SEASON = 48, 24
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
METHODS = ("lora", "full")
# a child process runs one method, so the peak memory it reports is that method's alone
CHILD = "import sys; from tsfm.adapters.benchmark import main; sys.exit(main(sys.argv[1:]))"


def train_child(args: argparse.Namespace) -> None:
    """Run in a child process: fine-tune one method and write its figures plus peak RSS."""
    import torch

    from tsfm.adapters.config import FinetuneConfig
    from tsfm.adapters.finetune import finetune
    from tsfm.datasets import load_m4
    from tsfm.registry import load

    torch.set_num_threads(args.threads)
    _, train, _ = load_m4(Path(args.shared_data) / "m4")
    flags = {"steps": args.steps, "eval_every": args.eval_every, "patience": args.patience, "lr": args.lr,
             "windows": args.windows}
    config = FinetuneConfig(batch_size=args.batch_size, checkpoint_every=0, augment=args.augment,
                            **{k: v for k, v in flags.items() if v is not None})
    lora = {"r": args.lora_rank, "lora_alpha": 2 * args.lora_rank, "target_modules": args.lora_targets.split(",")}
    model = load(args.model, device="cpu")
    # force: the folder keeps this method's model whatever its own verdict says; the parent judges
    # all methods together on the same verdict windows
    result = finetune(model, train, HORIZON, method=args.method, config=config, baselines=("seasonal-naive",),
                      lora_config=lora if args.method == "lora" else None,
                      output_dir=Path(args.output) / args.method, season_length=SEASON, force=True,
                      resume=False, progress=False)
    run = result.report["runs"][args.method]
    run["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (Path(args.output) / f"{args.method}.json").write_text(json.dumps(
        {k: v for k, v in run.items() if k != "history"}, indent=2))


def merged_verdict(args: argparse.Namespace) -> tuple[pd.DataFrame, str, str, list[list[str]]]:
    """The verdict over every method at once: each child's rows on the same windows, judged together.

    Returns the table (one row per candidate, ``label`` as in the test table), the kept label, the
    reason and the verdict's ranking of zero-shot and the fine-tuned variants, best first, in tiers of ties.
    """
    from tsfm.adapters.verdict import choose, tiers, window_columns

    tables = [pd.DataFrame(json.loads((Path(args.output) / m / "report.json").read_text())["verdict"])
              for m in args.methods]
    shared = tables[0][~tables[0]["role"].isin(METHODS)]
    for other in tables[1:]:  # every child cut the same windows and scored zero-shot the same way
        again = other[~other["role"].isin(METHODS)]
        if not np.allclose(again["test_wql"].to_numpy(), shared["test_wql"].to_numpy(), rtol=1e-6):
            raise RuntimeError("the children's verdicts scored zero-shot differently; their windows differ")
    table = pd.concat([shared, *(t[t["role"] == m] for t, m in zip(tables, args.methods))], ignore_index=True)
    zero = table[table["role"] == "zero-shot"]
    windows = window_columns(table)
    table["wql_vs_zero_shot"] = table["test_wql"] / float(zero["test_wql"].iloc[0])
    table["windows_won"] = (table[windows] < zero[windows].to_numpy()).sum(axis=1)
    kept, reason = choose(table)
    labels = dict(zip(table["model"], [r if r in METHODS or r == "zero-shot" else m
                                       for r, m in zip(table["role"], table["model"])]))
    table.insert(0, "label", table["model"].map(labels))
    for model, label in labels.items():
        reason = reason.replace(model, label)
    return table, labels[kept], reason, [[labels[m] for m in tier] for tier in tiers(table)]


def score_on_test(args: argparse.Namespace) -> pd.DataFrame:
    """Every variant on the official M4 Hourly test part."""
    import torch

    from tsfm.adapters.artifacts import load_finetuned
    from tsfm.datasets import load_m4
    from tsfm.metrics import interval_coverage, mase, smape, wql
    from tsfm.registry import load

    torch.set_num_threads(args.threads)
    _, train, test = load_m4(Path(args.shared_data) / "m4")
    target = np.stack(test)
    models = {"zero-shot": load(args.model, device="cpu"),
              "seasonal-naive": load("seasonal-naive", season_length=SEASON)}
    for method in args.methods:
        models[method] = load_finetuned(Path(args.output) / method, variant=method)
    rows = []
    for label, model in models.items():
        started = time.perf_counter()
        forecast = model.predict_quantiles(train, HORIZON, LEVELS)
        median = forecast.quantiles[..., LEVELS.index(0.5)]
        rows.append({
            "model": label,
            "MASE": float(np.mean([mase(t, m, h, SEASON) for t, m, h in zip(target, median, train)])),
            "WQL": float(wql(target, forecast.quantiles, LEVELS)),
            "sMAPE": float(np.mean([smape(t, m) for t, m in zip(target, median)])),
            "coverage_80": float(interval_coverage(target, forecast.quantiles[..., 0], forecast.quantiles[..., -1])),
            "forecast_s": round(time.perf_counter() - started, 2),
        })
    table = pd.DataFrame(rows)
    table["WQL_vs_zero_shot"] = table["WQL"] / table.loc[table["model"] == "zero-shot", "WQL"].iloc[0]
    return table


def compare(verdict: pd.DataFrame, test: pd.DataFrame, kept: str, order: list[list[str]]) -> tuple[pd.DataFrame, dict]:
    """The verdict's figures beside the test's, one row per model, and whether they agree.

    Rankings are tiers of ties (``order``: the verdict's, :func:`tsfm.adapters.verdict.tiers`); the
    test's tie models whose figures are equal to ``TIE_RTOL``, as a full fine-tuning that kept the
    zero-shot weights does with zero-shot. They agree when the tiers are the same, in the same order.
    """
    from tsfm.adapters.verdict import same_tiers, tiers_by_value, window_columns

    windows = window_columns(verdict)
    left = verdict[["label", *windows, "test_wql", "test_mase", "val_wql"]].rename(
        columns={**{c: f"verdict_{c.removeprefix('test_wql_')}" for c in windows},
                 "test_wql": "verdict_WQL", "test_mase": "verdict_MASE", "val_wql": "early_stopping_WQL"})
    right = test.rename(columns={c: f"test_{c}" for c in test.columns if c != "model"})
    table = left.merge(right, left_on="label", right_on="model").drop(columns="model")
    table = table.rename(columns={"label": "model"})
    ranked = [label for tier in order for label in tier]
    figures = table.set_index("model")
    by_wql = tiers_by_value({m: float(figures.loc[m, "test_WQL"]) for m in ranked})
    by_mase = tiers_by_value({m: float(figures.loc[m, "test_MASE"]) for m in ranked})
    summary = {
        "kept": kept, "verdict_ranking": order, "test_ranking_wql": by_wql, "test_ranking_mase": by_mase,
        "agrees_wql": same_tiers(order, by_wql), "agrees_mase": same_tiers(order, by_mase),
        "kept_test_wql": float(figures.loc[kept, "test_WQL"]),
        "zero_shot_test_wql": float(figures.loc["zero-shot", "test_WQL"]),
        "kept_test_mase": float(figures.loc[kept, "test_MASE"]),
        "zero_shot_test_mase": float(figures.loc["zero-shot", "test_MASE"]),
    }
    summary["kept_not_worse_than_zero_shot"] = summary["kept_test_wql"] <= summary["zero_shot_test_wql"]
    return table, summary


def _print(args: argparse.Namespace, table: pd.DataFrame, reason: str, summary: dict, costs: pd.DataFrame) -> None:
    from tsfm.adapters.verdict import format_tiers

    def yes(flag: bool) -> str:
        return "yes" if flag else "NO"

    print(f"M4 Hourly, horizon {HORIZON}, {args.model} fine-tuned on the training part: the verdict's windows "
          f"(the end of the training part) beside the official test part, which no run saw")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-"))
    print(f"verdict: {reason}")
    print(f"verdict ranking: {format_tiers(summary['verdict_ranking'])}; official test by WQL: "
          f"{format_tiers(summary['test_ranking_wql'])} (agrees: {yes(summary['agrees_wql'])}); by MASE: "
          f"{format_tiers(summary['test_ranking_mase'])} (agrees: {yes(summary['agrees_mase'])})")
    print(f"kept model on the official test: WQL {summary['kept_test_wql']:.4f} vs zero-shot "
          f"{summary['zero_shot_test_wql']:.4f}, MASE {summary['kept_test_mase']:.3f} vs "
          f"{summary['zero_shot_test_mase']:.3f} (not worse: {yes(summary['kept_not_worse_than_zero_shot'])})")
    cols = ["method", "trainable_parameters", "trainable_share", "file_bytes", "file_share_of_base", "steps",
            "best_step", "seconds_per_100_steps", "peak_rss_mb"]
    print(costs[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def main(argv: Sequence[str] | None = None) -> int:
    """M4 Hourly: zero-shot vs LoRA vs full fine-tuning vs seasonal naive, the verdict beside the test."""
    parser = argparse.ArgumentParser(prog="tsfm bench finetune", description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", required=True, help="folder holding m4/Hourly-train.csv and -test.csv")
    parser.add_argument("--model", default="tsfm-bolt-mini")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--steps", type=int, default=None, help="most steps (default: FinetuneConfig's, 300)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=None, help="steps between validations (default: 25)")
    parser.add_argument("--patience", type=int, default=None, help="validations without gain (default: 4)")
    parser.add_argument("--windows", type=int, default=None, help="early-stopping and verdict windows (default: 3)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lora-rank", type=int, default=4, help="LoRA rank; alpha is twice the rank")
    parser.add_argument("--lora-targets", default="q,v", help="comma-separated module names (default: q,v)")
    parser.add_argument("--augment", type=float, default=0.0, help="noise-injection share (FinetuneConfig.augment)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default: 1)")
    parser.add_argument("--output", default="results/finetune-m4")
    parser.add_argument("--reuse", action="store_true",
                        help="judge and score the methods already trained in --output (as they were trained: "
                             "training flags are not applied again) instead of training them again")
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.method:
        train_child(args)
        return 0
    for method in args.methods:
        if args.reuse and (out / f"{method}.json").is_file():
            continue
        cmd = [sys.executable, "-c", CHILD, *(argv if argv is not None else sys.argv[1:]), "--method", method]
        subprocess.run(cmd, check=True)
    from tsfm.adapters.verdict import SERIES_LOSS

    verdict, kept, reason, order = merged_verdict(args)
    test = score_on_test(args)
    table, summary = compare(verdict, test, kept, order)
    costs = pd.DataFrame([{"method": m, **json.loads((out / f"{m}.json").read_text())} for m in args.methods])
    _print(args, table, reason, summary, costs)
    table.to_csv(out / "comparison.csv", index=False)
    test.to_csv(out / "test_scores.csv", index=False)
    verdict.drop(columns=SERIES_LOSS, errors="ignore").to_csv(out / "verdict.csv", index=False)
    costs.to_csv(out / "costs.csv", index=False)
    (out / "summary.json").write_text(json.dumps({**summary, "reason": reason}, indent=2) + "\n")
    return 0
