"""The M4 Hourly ensemble benchmark, on a tiny folder in the M4 layout: weights from training windows only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsfm.tasks.ensemble_bench import main, run


def _m4_folder(tmp_path, n_series: int = 3):
    """Hourly-train.csv / Hourly-test.csv as the M4 organisers publish them: id column, ragged rows."""
    rng = np.random.default_rng(0)
    train_rows, test_rows = [], []
    for i in range(n_series):
        t = np.arange(200 + 24 * i + 48)
        y = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, t.size)
        train_rows.append(y[:-48])
        test_rows.append(y[-48:])
    for part, rows in (("train", train_rows), ("test", test_rows)):
        width = max(len(r) for r in rows)
        frame = pd.DataFrame([np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in rows],
                             columns=[f"V{j + 2}" for j in range(width)])
        frame.insert(0, "V1", [f"H{i + 1}" for i in range(n_series)])
        frame.to_csv(tmp_path / f"Hourly-{part}.csv", index=False)
    return tmp_path


def test_when_run_then_each_member_and_the_ensemble_get_a_test_row(tmp_path):
    table = run(str(_m4_folder(tmp_path)), ["seasonal-naive", "naive"], windows=2, device="cpu")
    assert table["model"].tolist() == ["seasonal-naive", "naive", "ensemble"]
    assert table["weight"].iloc[:2].sum() == 1.0
    snaive = table.set_index("model").loc["seasonal-naive"]
    assert 0 < snaive["test_MASE"] < 2 and 0 < snaive["test_WQL"] < 0.2


def test_when_the_folder_is_missing_then_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["--m4", str(tmp_path / "nowhere"), "--models", "naive"]) == 2
    assert "M4 file not found" in capsys.readouterr().err


def test_when_per_series_is_asked_then_a_row_scores_the_ensemble_told_the_item_ids(tmp_path):
    table = run(str(_m4_folder(tmp_path)), ["seasonal-naive", "naive"], windows=3, device="cpu", per_series=True)
    assert table["model"].tolist() == ["seasonal-naive", "naive", "ensemble", "ensemble-per-series"]
    rows = table.set_index("model")
    assert np.isfinite(rows.loc["ensemble-per-series", ["test_MASE", "test_WQL"]].astype(float)).all()
    # top-2 of two members splits the weight evenly; each series' own windows clearly favour seasonal naive
    assert rows.loc["ensemble-per-series", "test_WQL"] < 0.8 * rows.loc["ensemble", "test_WQL"]
    assert rows.loc["ensemble-per-series", "test_MASE"] < 0.8 * rows.loc["ensemble", "test_MASE"]
