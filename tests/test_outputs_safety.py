"""Nothing lost: every command writes its outputs whole or not at all, and refuses bad ones in one line.

Table-driven: one parametrized test per class of bad output (under a file, a folder where a file
is expected and the reverse, equal to an input, a full disk), each across several commands, then
the unit tests of :mod:`tsfm.outputs` itself. Commands run the fast baselines on tiny CSVs.
"""

from __future__ import annotations

import errno
import json
import os
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsfm import outputs
from tsfm.errors import InputError
from tsfm.tasks.cli import main

HORIZON = "6"


@pytest.fixture()
def files(tmp_path) -> dict[str, Path]:
    """Tiny inputs: hourly series (``data``, ``ref``), a labelled copy (``train``), a plain file, an empty
    one, and two folders holding a file no tsfm run wrote."""
    rng = np.random.default_rng(0)
    frames = []
    for item in ("a", "b", "c"):
        stamps = pd.date_range("2024-01-01", periods=96, freq="h")
        t = np.arange(len(stamps))
        target = 10 + np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.1, len(t))
        frames.append(pd.DataFrame({"item_id": item, "timestamp": stamps, "target": target}))
    data = pd.concat(frames)
    paths = {"data": tmp_path / "data.csv", "train": tmp_path / "train.csv", "file": tmp_path / "plain.txt",
             "empty": tmp_path / "empty.csv", "folder": tmp_path / "a-folder", "ref": tmp_path / "ref.csv",
             "other": tmp_path / "other-folder"}
    data.to_csv(paths["data"], index=False)
    data.to_csv(paths["ref"], index=False)
    labelled = pd.concat([data.assign(item_id=lambda f, k=k: f["item_id"] + str(k)) for k in range(2)])
    labelled.assign(label=np.where(labelled["item_id"].str.startswith("a"), "x", "y")).to_csv(paths["train"],
                                                                                             index=False)
    paths["file"].write_text("not a folder\n")
    paths["empty"].write_text("")
    for folder in (paths["folder"], paths["other"]):
        folder.mkdir()
        (folder / "keep.txt").write_text("someone else's file\n")
    return paths


def _forecast(f, out):
    return ["forecast", "--data", str(f["data"]), "--horizon", HORIZON, "--model", "seasonal-naive",
            "--output", str(out)]


def _evaluate(f, out):
    return ["evaluate", "--data", str(f["data"]), "--horizon", HORIZON, "--models", "naive", "--output", str(out)]


def _stress(f, out):
    return ["stress", "--data", str(f["data"]), "--horizon", HORIZON, "--model", "naive",
            "--perturbations", "spikes", "--output", str(out)]


def _monitor(f, out):
    return ["monitor", "--data", str(f["data"]), "--horizon", HORIZON, "--model", "seasonal-naive",
            "--season-length", "24", "--output", str(out)]


def _fallback(f, out):
    return ["fallback", "--data", str(f["data"]), "--horizon", HORIZON, "--primary", "naive", "--output", str(out)]


def _calibrate(f, out):
    return ["calibrate", "--data", str(f["data"]), "--horizon", HORIZON, "--model", "seasonal-naive",
            "--windows", "2", "--output", str(out)]


def _detect(f, out):
    return ["detect", "--data", str(f["data"]), "--detector", "zscore", "--reference-fraction", "0.5",
            "--output", str(out)]


def _classify(f, out):
    return ["classify", "--train", str(f["train"]), "--data", str(f["data"]), "--method", "dtw",
            "--output", str(out)]


def _distill(f, out):
    return ["distill", "--teacher", "seasonal-naive", "--data", str(f["data"]), "--horizon", HORIZON,
            "--output", str(out)]


def _export(f, out):
    return ["export", str(f["folder"]), "--output", str(out)]


def _merge(f, out):
    return ["merge", str(f["folder"]), "--output", str(out)]


def _distill_report(f, out):
    return ["distill-report", "--teacher", "seasonal-naive", "--student", str(f["folder"]),
            "--data", str(f["data"]), "--horizon", HORIZON, "--output", str(out)]


def _suite(f, out):
    return ["suite", "--models", "naive", "--datasets", "lynx", "--output", str(out)]


FILE_COMMANDS = {"forecast": (_forecast, "fc.csv"), "detect": (_detect, "s.csv"), "classify": (_classify, "p.csv"),
                 "export": (_export, "s.onnx"), "distill-report": (_distill_report, "r.json")}
FOLDER_COMMANDS = {"evaluate": _evaluate, "stress": _stress, "monitor": _monitor, "fallback": _fallback,
                   "calibrate": _calibrate, "distill": _distill, "merge": _merge, "suite": _suite}


def _fails(capsys, argv: list[str], message: str) -> str:
    """Run ``tsfm argv``: exit 2 and one line on stderr that holds ``message``."""
    code = main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]  # progress bars may come before it
    assert code == 2, lines
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert message in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("command", [*FILE_COMMANDS, *FOLDER_COMMANDS])
def test_when_the_output_sits_under_a_file_then_the_command_exits_2_with_one_line(command, files, capsys):
    make, name = FILE_COMMANDS.get(command, (FOLDER_COMMANDS.get(command), "out"))
    out = files["file"] / name  # a path under a file: as unwritable as a read-only folder, even for root
    _fails(capsys, make(files, out), "is a file")
    assert files["file"].read_text() == "not a folder\n"


@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_when_a_file_output_is_an_existing_folder_then_it_is_refused(command, files, capsys, tmp_path):
    make, name = FILE_COMMANDS[command]
    out = tmp_path / name
    out.mkdir()
    _fails(capsys, make(files, out), "is a folder; give a file name")


@pytest.mark.parametrize("command", list(FOLDER_COMMANDS))
def test_when_a_folder_output_is_an_existing_file_then_it_is_refused(command, files, capsys):
    _fails(capsys, FOLDER_COMMANDS[command](files, files["file"]), "is a file")
    assert files["file"].read_text() == "not a folder\n"


@pytest.mark.parametrize("command", list(FOLDER_COMMANDS))
def test_when_a_folder_output_holds_other_files_then_it_is_refused_unless_overwrite(command, files, capsys):
    _fails(capsys, FOLDER_COMMANDS[command](files, files["other"]), "pass --overwrite")
    assert (files["other"] / "keep.txt").is_file()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (lambda f, tmp: _forecast(f, f["data"]), "--output"),
        (lambda f, tmp: _detect(f, f["data"]), "--output"),
        (lambda f, tmp: [*_detect(f, f["ref"]), "--reference", str(f["ref"])], "--output"),
        (lambda f, tmp: _classify(f, f["train"]), "--output"),
        (lambda f, tmp: _evaluate(f, f["data"]), "--output"),
        (lambda f, tmp: _stress(f, tmp), "--output"),  # the folder holding the data
        (lambda f, tmp: _calibrate(f, tmp), "--output"),
        (lambda f, tmp: _merge(f, f["folder"]), "--output"),
        (lambda f, tmp: [*_forecast(f, tmp / "fc.csv"), "--plot", str(f["data"])], "--plot"),
    ],
    ids=["forecast", "detect", "detect-reference", "classify-train", "evaluate", "stress-parent", "calibrate-parent",
         "merge", "forecast-plot"],
)
def test_when_the_output_is_an_input_then_it_is_refused_and_the_input_kept(argv, flag, files, capsys, tmp_path):
    before = {name: path.read_bytes() for name, path in files.items() if path.is_file()}
    err = _fails(capsys, argv(files, tmp_path), "would overwrite the input")
    assert err.split(": error: ")[1].startswith(f"{flag} ")
    assert {name: path.read_bytes() for name, path in files.items() if path.is_file()} == before


def _disk_full(monkeypatch) -> None:
    """``os.replace`` of :mod:`tsfm.outputs` fails as on a full disk; nothing else is touched."""

    def replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs, "os", types.SimpleNamespace(**{**vars(os), "replace": replace}))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["forecast", "detect", "classify", "evaluate", "monitor", "fallback"])
def test_when_the_disk_is_full_then_the_earlier_output_is_intact_and_no_temp_file_is_left(
    command, files, capsys, tmp_path, monkeypatch
):
    make, name = FILE_COMMANDS.get(command, (FOLDER_COMMANDS.get(command), "out"))
    place = tmp_path / "results"
    place.mkdir()
    argv = make(files, place / name)
    if command == "detect":
        argv.append("--no-plot")
    assert main(argv) == 0, capsys.readouterr().err
    before = _snapshot(place)
    _disk_full(monkeypatch)
    _fails(capsys, argv, "No space left on device")
    assert _snapshot(place) == before
    assert not [p for p in place.rglob(".*") if p.name != outputs.MARKER]  # no temporary or staging files


def test_when_detect_reads_an_empty_file_then_it_says_so_in_one_line(files, capsys, tmp_path):
    _fails(capsys, ["detect", "--data", str(files["empty"]), "--output", str(tmp_path / "s.csv")], "is empty")


def test_when_detect_runs_with_no_plot_then_only_the_scores_are_written(files, capsys, tmp_path):
    assert main([*_detect(files, tmp_path / "s.csv"), "--no-plot"]) == 0
    assert (tmp_path / "s.csv").is_file() and not (tmp_path / "s.png").exists()


def test_when_export_is_given_a_missing_folder_then_it_says_the_folder_is_missing(capsys, tmp_path):
    err = _fails(capsys, ["export", str(tmp_path / "nope"), "--output", str(tmp_path / "s.onnx")], "does not exist")
    assert "--horizon" not in err


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_when_export_tolerance_is_not_positive_then_the_flag_and_range_are_named(value, files, capsys, tmp_path):
    _fails(capsys, ["export", str(files["folder"]), "--tolerance", value, "--output", str(tmp_path / "s.onnx")],
           "--tolerance must be a number > 0")


def test_when_evaluate_reruns_without_a_plot_then_the_earlier_plot_is_gone(files, capsys, tmp_path):
    out = tmp_path / "ev"
    assert main([*_evaluate(files, out), "--plot-series", "2"]) == 0
    assert (out / "forecasts.png").is_file()
    assert main([*_evaluate(files, out), "--plot-series", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([outputs.MARKER, "leaderboard.csv", "per_series.csv"])


def test_when_evaluate_plot_series_names_an_unknown_id_then_it_is_refused_before_the_backtest(files, capsys, tmp_path):
    _fails(capsys, [*_evaluate(files, tmp_path / "ev"), "--plot-series", "a,zz"], "['zz'] are not in the data")
    assert not (tmp_path / "ev").exists()


# ---- tsfm.outputs itself ------------------------------------------------------------------------


def test_when_a_write_dies_midway_then_the_old_file_is_intact_and_no_temp_file_is_left(tmp_path):
    target = tmp_path / "t.csv"
    outputs.write_table(pd.DataFrame({"x": [1, 2]}), target)
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with outputs.atomic_file(target) as tmp:
            tmp.write_text("x\n1\n")  # half written, then the run is killed
            raise KeyboardInterrupt
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_when_a_table_would_overwrite_its_input_then_write_table_refuses(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("x\n1\n")
    with pytest.raises(InputError, match="would overwrite the input"):
        outputs.write_table(pd.DataFrame({"x": [2]}), tmp_path / "." / "in.csv", inputs=[source])
    assert source.read_text() == "x\n1\n"


def test_when_a_staged_folder_is_written_again_then_stale_files_are_gone(tmp_path):
    folder = tmp_path / "run"
    with outputs.staged_folder(folder, "evaluate") as stage:
        (stage / "old.png").write_text("old")
        (stage / "table.csv").write_text("1")
    with outputs.staged_folder(folder, "evaluate") as stage:
        (stage / "table.csv").write_text("2")
    assert sorted(p.name for p in folder.iterdir()) == [outputs.MARKER, "table.csv"]
    assert (folder / "table.csv").read_text() == "2"
    assert json.loads((folder / outputs.MARKER).read_text()) == {"kind": "evaluate"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_when_a_staged_run_fails_then_the_earlier_folder_is_untouched(tmp_path):
    folder = tmp_path / "run"
    with outputs.staged_folder(folder, "stress") as stage:
        (stage / "table.csv").write_text("good")
    with pytest.raises(RuntimeError):
        with outputs.staged_folder(folder, "stress") as stage:
            (stage / "table.csv").write_text("half")
            raise RuntimeError("killed")
    assert (folder / "table.csv").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_when_a_folder_is_of_another_kind_then_it_is_refused_unless_overwrite(tmp_path):
    folder = tmp_path / "run"
    with outputs.staged_folder(folder, "stress") as stage:
        (stage / "stress.csv").write_text("1")
    with pytest.raises(InputError, match="already holds the results of a 'stress' run.*--overwrite"):
        outputs.check_output_folder(folder, "evaluate")
    with outputs.staged_folder(folder, "evaluate", overwrite=True) as stage:
        (stage / "leaderboard.csv").write_text("1")
    assert sorted(p.name for p in folder.iterdir()) == [outputs.MARKER, "leaderboard.csv"]


def test_when_a_staged_file_cannot_be_written_then_the_message_names_the_final_folder(tmp_path, monkeypatch):
    _disk_full(monkeypatch)
    with pytest.raises(InputError, match=r"run/t\.csv' could not be written \(No space left on device\)"):
        with outputs.staged_folder(tmp_path / "run", "evaluate") as stage:
            outputs.write_table(pd.DataFrame({"x": [1]}), stage / "t.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [("plain.txt/out.csv", "is a file, not a folder"), ("plain.txt/deeper/out.csv", "cannot create its folder"),
     ("dir.csv", "is a folder; give a file name"), ("out.txt", "must end in .csv or .parquet")],
)
def test_when_a_table_output_is_unusable_then_check_table_output_says_why(path, message, tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=message):
        outputs.check_table_output(tmp_path / path)
