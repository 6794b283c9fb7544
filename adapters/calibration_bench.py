"""How calibration settings hold up on long single series: coverage after calibrating at several cut points.

Each column of a wide CSV is one long series. For every cut point (a share of its length) the
model is calibrated on the values before the cut, once per setting, and the 80% band of the
uncalibrated and of every calibrated model is scored on the next ``eval_windows`` windows of
``horizon`` steps (as ``tsfm calibrate --eval-windows`` scores it). Reported per (column, cut)
and summarised per setting: mean coverage, mean distance from the nominal 80%, and how many
cases land within 78-82%.

    tsfm bench calibration --data ../shared/data/ett/ETTh1.csv \\
        --columns HUFL,HULL,MUFL,MULL,LUFL,LULL

is how the defaults of :class:`~tsfm.adapters.calibration.CalibrationConfig` were chosen (the
six load columns of ETTh1; its ``OT``, the column a target is stated on, took no part).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsfm.adapters.calibration import CalibrationConfig, calibrate, coverage_report
from tsfm.errors import InputError

# The settings compared: the defaults, and those they replaced on 2026-12-05.
SETTINGS: dict[str, CalibrationConfig] = {
    "default": CalibrationConfig(),
    "previous (100 windows, per step from 50)": CalibrationConfig(min_windows=100, min_per_step=50),
}
CUTS = (0.6, 0.65, 0.7, 0.75, 0.8)
BAND = (0.78, 0.82)


def coverage_by_cut(
    model: Any, columns: dict[str, np.ndarray], settings: dict[str, CalibrationConfig], cuts: Sequence[float] = CUTS,
    horizon: int = 24, eval_windows: int = 30,
) -> pd.DataFrame:
    """One row per (column, cut): ``column, cut``, then the held-out coverage of ``uncalibrated`` and of each setting.

    Raises
    ------
    InputError
        A cut outside (0, 1), or a column too short for ``eval_windows`` windows after a cut.
    """
    bad = [c for c in cuts if not 0 < c < 1]
    if bad:
        raise InputError(f"cuts must lie strictly between 0 and 1, got {bad}")
    held_out = eval_windows * horizon
    rows = []
    for name, values in columns.items():
        for cut in cuts:
            start = int(len(values) * cut)
            if start + held_out > len(values):
                raise InputError(
                    f"column {name!r} has {len(values)} values: the cut at {cut:.0%} leaves {len(values) - start}, "
                    f"fewer than the {held_out} that {eval_windows} windows of {horizon} steps need"
                )
            series = values[: start + held_out]
            calibrated = [calibrate(model, [series[:start]], horizon, c, progress=False) for c in settings.values()]
            report = coverage_report([model, *calibrated], [series], horizon, eval_windows).table
            rows.append({"column": name, "cut": cut, **dict(zip(["uncalibrated", *settings], report["coverage"]))})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, nominal: float = 0.8) -> pd.DataFrame:
    """Per setting: mean coverage, mean absolute distance from ``nominal``, and cases within :data:`BAND`."""
    values = table.drop(columns=["column", "cut"])
    return pd.DataFrame({
        "mean coverage": values.mean(),
        "mean |coverage - nominal|": (values - nominal).abs().mean(),
        f"cases in {BAND[0]:.0%}-{BAND[1]:.0%}": ((values >= BAND[0]) & (values <= BAND[1])).sum(),
        "cases": len(values),
    })


def main(argv: Sequence[str] | None = None) -> int:
    """Calibration on long single series: held-out coverage after calibrating at several cut points."""
    from tsfm.cli_support import names, run_handler

    p = argparse.ArgumentParser(prog="tsfm bench calibration", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="wide .csv: one long series per column (e.g. ETTh1.csv)")
    p.add_argument("--columns", required=True, help="comma-separated columns to use, each one series")
    p.add_argument("--model", default="tsfm-bolt-mini", help="model to calibrate (default: %(default)s)")
    p.add_argument("--horizon", type=int, default=24, help="(default: %(default)s)")
    p.add_argument("--eval-windows", type=int, default=30,
                   help="held-out windows after each cut (default: %(default)s)")
    p.add_argument("--cuts", default=",".join(f"{c:g}" for c in CUTS),
                   help="shares of each series to cut at (default: %(default)s)")
    p.add_argument("--season-length", type=int, default=24, help="season of baseline models (default: %(default)s)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    args = p.parse_args(argv)

    def handler(a: argparse.Namespace) -> int:
        import tsfm

        frame = pd.read_csv(a.data)
        wanted = names(a.columns) or []
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise InputError(f"--columns {missing} are not in {a.data!r}; it has {list(frame.columns)}")
        try:
            cuts = [float(c) for c in a.cuts.split(",")]
        except ValueError:
            raise InputError(f"--cuts must be comma-separated numbers in (0, 1), got {a.cuts!r}") from None
        model = tsfm.load(a.model, season_length=a.season_length)
        table = coverage_by_cut(model, {c: frame[c].to_numpy(dtype=float) for c in wanted}, SETTINGS, cuts,
                                a.horizon, a.eval_windows)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print(summary(table).to_string(float_format=lambda x: f"{x:.3f}"))
        return 0

    args.handler = handler
    return run_handler("tsfm bench calibration", args)
