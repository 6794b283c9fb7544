"""Fine-tuning benchmark on M4 Hourly: zero-shot vs LoRA vs full fine-tuning vs seasonal naive.

Fine-tunes on the M4 *training* part only (its own end split off for validation and the verdict)
and scores every variant on the official M4 *test* part, which the run never sees. Each method
trains in its own child process, so the peak memory it reports is that method's alone::

    tsfm bench finetune --shared-data ../shared/data --steps 600 --output results/finetune-m4

Prints one table (MASE, WQL, sMAPE, 80% coverage, WQL relative to zero-shot) and the cost of each
method (trainable share, adapter/model file size, seconds per 100 steps, peak RSS).
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
    config = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, eval_every=args.eval_every,
                            patience=args.patience, checkpoint_every=0, lr=args.lr, augment=args.augment)
    lora = {"r": args.lora_rank, "lora_alpha": 2 * args.lora_rank, "target_modules": args.lora_targets.split(",")}
    model = load(args.model, device="cpu")
    result = finetune(model, train, HORIZON, method=args.method, config=config, baselines=(),
                      lora_config=lora if args.method == "lora" else None,
                      output_dir=Path(args.output) / args.method, season_length=SEASON, force=True,
                      resume=False, progress=False)
    run = result.report["runs"][args.method]
    run["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (Path(args.output) / f"{args.method}.json").write_text(json.dumps(
        {k: v for k, v in run.items() if k != "history"}, indent=2))


def score_on_test(args: argparse.Namespace) -> pd.DataFrame:
    """Every variant on the official M4 Hourly test part."""
    from tsfm.adapters.artifacts import load_finetuned
    from tsfm.datasets import load_m4
    from tsfm.metrics import interval_coverage, mase, smape, wql
    from tsfm.registry import load

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


def main(argv: Sequence[str] | None = None) -> int:
    """M4 Hourly: zero-shot vs LoRA vs full fine-tuning vs seasonal naive, with each method's cost."""
    parser = argparse.ArgumentParser(prog="tsfm bench finetune", description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", required=True, help="folder holding m4/Hourly-train.csv and -test.csv")
    parser.add_argument("--model", default="tsfm-bolt-mini")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lora-rank", type=int, default=4, help="LoRA rank; alpha is twice the rank")
    parser.add_argument("--lora-targets", default="q,v", help="comma-separated module names (default: q,v)")
    parser.add_argument("--augment", type=float, default=0.0, help="noise-injection share (FinetuneConfig.augment)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="results/finetune-m4")
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    Path(args.output).mkdir(parents=True, exist_ok=True)
    if args.method:
        train_child(args)
        return 0
    for method in args.methods:
        cmd = [sys.executable, "-c", CHILD, *(argv if argv is not None else sys.argv[1:]), "--method", method]
        subprocess.run(cmd, check=True)
    table = score_on_test(args)
    costs = pd.DataFrame([{"method": m, **json.loads((Path(args.output) / f"{m}.json").read_text())}
                          for m in args.methods])
    cols = ["method", "trainable_parameters", "trainable_share", "file_bytes", "file_share_of_base", "steps",
            "best_step", "seconds_per_100_steps", "peak_rss_mb"]
    print(f"M4 Hourly official test, horizon {HORIZON}, {args.model} fine-tuned on the training part")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(costs[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    table.to_csv(Path(args.output) / "test_scores.csv", index=False)
    costs.to_csv(Path(args.output) / "costs.csv", index=False)
    return 0
