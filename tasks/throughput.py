"""CPU cost of the task layer: embedding throughput and anomaly-detector latency per point.

    tsfm bench throughput [--model tsfm-bolt-mini] [--threads 1]

- **Embeddings** (classification, embedding detectors): series per second through
  ``model.embed`` for series of 128 and 512 values, in batches of 1 and 256.
- **Detectors**: every detector of :data:`tsfm.tasks.anomaly.benchmarks.DETECTORS`, fitted on a
  1,000-step normal reference and run on a 2,000-step series (one channel); microseconds per
  scored point, fit time apart. The series is a noisy daily cycle with a few spikes, generated
  here, so the figures need no data files.

Figures are medians of ``--repeats`` runs after one warm-up, printed as two tables.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def embedding_throughput(model, lengths: Sequence[int], batches: Sequence[int], repeats: int) -> pd.DataFrame:
    """Series per second through ``model.embed`` for each (length, batch)."""
    rng = np.random.default_rng(0)
    rows = []
    for length in lengths:
        for batch in batches:
            series = [np.sin(np.arange(length) / 4 + rng.uniform(0, 6)) + rng.normal(0, 0.1, length)
                      for _ in range(batch)]
            seconds = median_seconds(lambda s=series: model.embed(s), repeats)
            rows.append({"length": length, "batch": batch, "seconds": seconds, "series_per_s": batch / seconds})
    return pd.DataFrame(rows)


def detector_latency(model_name: str, names: Sequence[str], repeats: int) -> pd.DataFrame:
    """Fit seconds and microseconds per scored point for each detector."""
    from tsfm.tasks.anomaly.benchmarks import make_detector

    rng = np.random.default_rng(1)
    t = np.arange(3000)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, t.size)
    values[rng.choice(np.arange(1200, 3000), 10, replace=False)] += 6
    reference, series = values[:1000], values[1000:]
    rows = []
    for name in names:
        detector = make_detector(name, model_name)
        start = time.perf_counter()
        detector.fit(reference)
        fit = time.perf_counter() - start
        seconds = median_seconds(lambda d=detector: d.detect(series), repeats)
        rows.append({"detector": name, "fit_s": fit, "us_per_point": 1e6 * seconds / len(series)})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """CPU cost of the task layer: embedding throughput and anomaly-detector latency per point."""
    import torch

    import tsfm
    from tsfm.tasks.anomaly.benchmarks import DETECTORS

    parser = argparse.ArgumentParser(prog="tsfm bench throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=tsfm.DEFAULT_MODEL, help="model to embed with (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (default: %(default)s)")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = tsfm.load(args.model, device="cpu")
    print(f"{args.model}, {args.threads} CPU thread(s), median of {args.repeats}\n")
    print("embedding throughput")
    print(embedding_throughput(model, (128, 512), (1, 256), args.repeats).to_string(index=False, float_format="%.4g"))
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    print("\ndetector latency (fit on 1,000 steps, score 2,000)")
    print(detector_latency(args.model, names, args.repeats).to_string(index=False, float_format="%.4g"))
    return 0
