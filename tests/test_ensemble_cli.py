"""``tsfm ensemble``: prints the validation table and weights, saves a folder, one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import tsfm
from tsfm.tasks.cli import main


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(3):
        t = np.arange(70 + 10 * i)
        y = 20 + 5 * i + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, t.size)
        frames.append(pd.DataFrame({"item_id": f"s{i}", "timestamp": t, "target": y}))
    path = tmp_path / "data.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_when_run_then_it_prints_the_table_and_weights_and_saves_a_loadable_folder(data_file, tmp_path, capsys):
    out = tmp_path / "ens"
    code = main(["ensemble", "--data", str(data_file), "--horizon", "6", "--models", "seasonal-naive,naive",
                 "--windows", "2", "--season-length", "12", "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "3 series, 2 validation window(s) each, horizon 6, season length 12" in printed
    assert "seasonal-naive" in printed and "ensemble" in printed and "weights: seasonal-naive" in printed
    model = tsfm.load(str(out))
    assert model.kind == "ensemble" and model.season_length == 12
    assert model.config.windows == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--models", "naive,no-such-model"], "unknown model 'no-such-model'.*Registered: naive, seasonal-naive"),
        (["--models", " , "], "--models is empty"),
        (["--models", "naive", "--windows", "0"], "--windows must be a positive integer, got 0"),
        (["--models", "naive", "--min-train-length", "-1"], "--min-train-length must be a positive integer"),
        (["--models", "naive", "--shrinkage", "2"], r"shrinkage must be a number in \[0, 1\], got 2.0"),
        (["--models", "naive", "--horizon", "500"], r"no validation window fits.*shortest series \('s0'\) has 70"),
    ],
)
def test_when_input_is_bad_then_one_line_and_exit_code_2(data_file, tmp_path, capsys, flags, message):
    argv = ["ensemble", "--data", str(data_file), "--horizon", "6", "--season-length", "12",
            "--output", str(tmp_path / "ens"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp_path / "ens").exists(), "nothing is written when the input is bad"


def test_when_the_output_holds_other_files_then_nothing_is_fitted_or_lost(data_file, tmp_path, capsys):
    out = tmp_path / "ens"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["ensemble", "--data", str(data_file), "--horizon", "6", "--models", "naive", "--output", str(out)]
    assert main(argv) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
