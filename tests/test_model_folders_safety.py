"""Model folders are data, never code: no remote code, references that stay put, one-line refusals.

Every bad folder here is built from the tiny random-weight checkpoints of :mod:`tsfm.testing`
(or from a baseline, where the model does not matter) and then broken on purpose. The command
line cases check that the user meets one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsfm
from tsfm.adapters.calibration import CalibratedForecaster
from tsfm.errors import CheckpointError, InputError

HORIZON = 8


# ---- builders -----------------------------------------------------------------------------------
def sines(n: int = 4, length: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [(10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / 12) + rng.normal(0, 0.2, length)).astype(np.float32)
            for i in range(n)]


def write_csv(path: Path, n: int = 3, length: int = 120) -> Path:
    frames = [pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=length, freq="h"),
                            "target": s}) for i, s in enumerate(sines(n, length))]
    pd.concat(frames).to_csv(path, index=False)
    return path


def calibrated_folder(folder: Path, base_model: str = "seasonal-naive") -> Path:
    """A calibrated-model folder (zero offsets) whose ``calibration.json`` names ``base_model``."""
    levels = (0.1, 0.5, 0.9)
    model = CalibratedForecaster(tsfm.load("seasonal-naive"), np.zeros((1, 3)), levels, "split")
    model.save(folder)
    edit_json(folder / "calibration.json", base_model=base_model)
    return folder


def edit_json(path: Path, drop: tuple[str, ...] = (), **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    for key in drop:
        data.pop(key)
    path.write_text(json.dumps(data))


def finetune_folder(bolt_dir: Path, folder: Path) -> Path:
    """A fine-tuning folder assembled from its parts: an (untrained) LoRA adapter over the tiny Bolt."""
    from tsfm.adapters.lora import add_lora, fingerprint, make_lora_config, save_adapter

    base = tsfm.load(str(bolt_dir), device="cpu")
    peft_model = add_lora(copy.deepcopy(base.pipeline.inner_model), make_lora_config(None, ("q", "v")))
    save_adapter(peft_model, folder / "lora" / "adapter")
    marker = {
        "format": "tsfm-finetune", "version": 1, "base_model": str(bolt_dir),
        "base_fingerprint": fingerprint(base.pipeline.inner_model), "family": "chronos-bolt",
        "horizon": HORIZON, "chosen": "lora", "artifacts": {"lora": "lora/adapter"},
    }
    (folder / "finetune.json").write_text(json.dumps(marker))
    (folder / "report.json").write_text(json.dumps({"base_model": str(bolt_dir), "chosen": "lora"}))
    return folder


def student_folder(folder: Path) -> Path:
    from tsfm.distill.students import StudentConfig, build_student, save_student

    config = StudentConfig(architecture="mlp", context_length=32, horizon=HORIZON, hidden_size=16, n_blocks=1)
    return save_student(build_student(config), folder)


def custom_code_folder(folder: Path, marker: Path, **config_changes) -> Path:
    """A folder that looks like a Chronos model but asks transformers to import its own module.

    Importing ``evil_code.py`` writes ``marker``: if the file exists, custom code ran.
    """
    folder.mkdir(parents=True)
    config = {
        "model_type": "evil-chronos", "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "evil_code.EvilConfig", "AutoModelForSeq2SeqLM": "evil_code.EvilModel"},
        "chronos_pipeline_class": "ChronosBoltPipeline", "chronos_config": {"context_length": 64},
    }
    config.update(config_changes)
    config = {k: v for k, v in config.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil_code.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('custom code ran')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n"
        "    model_type = 'evil-chronos'\n"
    )
    (folder / "model.safetensors").write_bytes(b"")
    return folder


class _WritesMarker:
    """Unpickling this object creates a file: the proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def bolt_dir(tiny_checkpoints) -> Path:
    return tiny_checkpoints["chronos-bolt"]


@pytest.fixture(scope="module")
def tuned(bolt_dir, tmp_path_factory) -> Path:
    """A loadable fine-tuning folder; tests copy it before breaking it."""
    return finetune_folder(bolt_dir, tmp_path_factory.mktemp("finetuned") / "run")


def copied(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(folder, tmp_path / name))


# ---- 1. no remote code --------------------------------------------------------------------------
@pytest.mark.slow  # runs the tsfm command in a subprocess
def test_when_a_folder_asks_for_custom_code_and_stdin_says_yes_then_the_cli_refuses_and_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER_RAN"
    folder = custom_code_folder(tmp_path / "evil", marker)
    data = write_csv(tmp_path / "data.csv")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "hf-modules")}
    done = subprocess.run(
        [sys.executable, "-m", "tsfm.tasks.cli", "forecast", "--data", str(data), "--model", str(folder),
         "--horizon", "4", "--output", str(tmp_path / "out.csv")],
        input="y\n" * 50, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "evil" in lines[0] and "custom code is not run" in lines[0]
    assert "custom code" not in done.stdout  # no prompt was shown
    assert not marker.exists()
    assert not (tmp_path / "hf-modules").exists()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({}, r"'[^']*evil'.*auto_map.*custom code is not run"),
        ({"model_type": "t5"}, r"auto_map.*custom code is not run"),
        ({"auto_map": None}, r"model_type 'evil-chronos'.*not a known Chronos architecture.*custom code is not run"),
        ({"auto_map": None, "model_type": None}, r"no model_type.*custom code is not run"),
    ],
)
def test_when_config_json_names_custom_code_then_loading_refuses_before_transformers(tmp_path, changes, match):
    marker = tmp_path / "MARKER_RAN"
    folder = custom_code_folder(tmp_path / "evil", marker, **changes)
    with pytest.raises(CheckpointError, match=match):
        tsfm.load(str(folder), device="cpu")
    assert not marker.exists()


def test_when_a_bolt_teacher_folder_asks_for_custom_code_then_the_export_refuses(tmp_path):
    from tsfm.distill.teacher_export import export_bolt_teacher

    marker = tmp_path / "MARKER_RAN"
    folder = custom_code_folder(tmp_path / "evil", marker, architectures=["ChronosBoltModelForForecasting"])
    with pytest.raises(CheckpointError, match="custom code is not run"):
        export_bolt_teacher(str(folder), tmp_path / "teacher.onnx", horizon=4)
    assert not marker.exists()


@pytest.mark.parametrize("family", ["chronos-t5", "chronos-bolt", "chronos-2"])
def test_when_a_chronos_folder_loads_then_transformers_is_told_trust_remote_code_false(
    tiny_checkpoints, monkeypatch, family
):
    import transformers

    seen: list[object] = []
    original = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code", "absent"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    tsfm.load(str(tiny_checkpoints[family]), device="cpu")
    assert seen and all(value is False for value in seen)


def test_when_a_chronos_folder_holds_a_peft_adapter_config_then_it_is_refused(tiny_checkpoints, tmp_path):
    folder = copied(tiny_checkpoints["chronos-2"], tmp_path, "with-adapter")
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "../elsewhere"}))
    with pytest.raises(CheckpointError, match=r"with-adapter.*adapter_config.json"):
        tsfm.load(str(folder), device="cpu")


def test_when_a_sharded_index_points_outside_the_folder_then_it_is_refused(tiny_checkpoints, tmp_path):
    folder = copied(tiny_checkpoints["chronos-bolt"], tmp_path, "sharded")
    (folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {"shared.weight": "../elsewhere/model-00001.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"weight_map.*'\.\./elsewhere/model-00001.safetensors'.*outside"):
        tsfm.load(str(folder), device="cpu")


# ---- 2. references stay inside the folder -------------------------------------------------------
@pytest.mark.parametrize("reference", ["../other", "sub/../../other", "link"])
def test_when_a_calibration_base_escapes_its_folder_then_it_is_refused(tmp_path, reference):
    calibrated_folder(tmp_path / "other")  # a loadable model sits right there
    folder = calibrated_folder(tmp_path / "cal", base_model=reference)
    (folder / "link").symlink_to(tmp_path / "other")
    with pytest.raises(CheckpointError, match=rf"base_model '{reference}'.*outside the folder"):
        tsfm.load(str(folder))


@pytest.mark.parametrize(
    ("key", "changes"),
    [
        ("base_model", {"base_model": "../bolt"}),
        ("artifacts.lora", {"artifacts": {"lora": "../elsewhere/adapter"}}),
        ("artifacts.lora", {"artifacts": {"lora": "/tmp"}}),
    ],
)
def test_when_a_finetune_reference_escapes_its_folder_then_it_is_refused(tuned, bolt_dir, tmp_path, key, changes):
    shutil.copytree(bolt_dir, tmp_path / "bolt")
    shutil.copytree(tuned / "lora", tmp_path / "elsewhere")
    folder = copied(tuned, tmp_path, "run")
    edit_json(folder / "finetune.json", **changes)
    with pytest.raises(CheckpointError, match=rf"finetune.json.*{key} '.*'.*outside the folder"):
        tsfm.load(str(folder), device="cpu")


def test_when_the_escaping_reference_reaches_the_cli_then_it_says_so_on_one_line(tmp_path, capsys):
    from tsfm.tasks.cli import main

    calibrated_folder(tmp_path / "other")
    folder = calibrated_folder(tmp_path / "cal", base_model="../other")
    code = main(["forecast", "--data", str(write_csv(tmp_path / "d.csv")), "--model", str(folder),
                 "--horizon", "4", "--output", str(tmp_path / "fc.csv")])
    assert code == 2
    assert "base_model '../other'" in one_line_error(capsys)


@pytest.mark.parametrize("how", ["absolute", "inside", "name"])
def test_when_a_reference_is_absolute_inside_or_a_name_then_it_loads(tmp_path, how):
    folder = tmp_path / "cal"
    if how == "absolute":
        calibrated_folder(folder, base_model=str(calibrated_folder(tmp_path / "base")))
    elif how == "inside":
        calibrated_folder(folder, base_model="base")
        calibrated_folder(folder / "base")
    else:
        calibrated_folder(folder, base_model="seasonal-naive")
    model = tsfm.load(str(folder))
    assert model.predict_quantiles(sines(2, 60), 4).quantiles.shape == (2, 4, 9)


def test_when_a_calibrated_folder_is_its_own_base_then_the_cycle_is_refused(tmp_path):
    folder = calibrated_folder(tmp_path / "cal", base_model=".")
    with pytest.raises(CheckpointError, match=r"'[^']*cal' refers back to itself"):
        tsfm.load(str(folder))


def test_when_two_folders_are_each_others_base_then_the_cycle_is_refused(tmp_path):
    a = calibrated_folder(tmp_path / "a", base_model=str(tmp_path / "b"))
    calibrated_folder(tmp_path / "b", base_model=str(a))
    with pytest.raises(CheckpointError, match="refers back to itself"):
        tsfm.load(str(a))


def test_when_a_finetune_folder_is_its_own_base_then_the_cycle_is_refused(tuned, tmp_path):
    folder = copied(tuned, tmp_path, "run")
    edit_json(folder / "finetune.json", base_model=".")
    with pytest.raises(CheckpointError, match="refers back to itself"):
        tsfm.load(str(folder), device="cpu")


def test_when_folders_chain_deeper_than_the_limit_then_the_chain_is_refused(tmp_path):
    from tsfm.model_folders import MAX_CHAIN_DEPTH

    base = "seasonal-naive"
    for depth in range(MAX_CHAIN_DEPTH + 1):
        base = str(calibrated_folder(tmp_path / f"c{depth}", base_model=base))
    tsfm.load(str(tmp_path / f"c{MAX_CHAIN_DEPTH - 1}"))  # exactly the limit: fine
    with pytest.raises(CheckpointError, match=rf"more than {MAX_CHAIN_DEPTH} model folders"):
        tsfm.load(base)


# ---- 3. broken files: one line each -------------------------------------------------------------
@pytest.mark.parametrize(
    ("file_name", "drop", "match"),
    [
        ("finetune.json", ("artifacts",), r"finetune.json' lacks 'artifacts'"),
        ("finetune.json", ("base_model", "chosen"), r"finetune.json' lacks 'base_model', 'chosen'"),
        ("calibration.json", ("offsets",), r"calibration.json' lacks 'offsets'"),
        ("calibration.json", ("base_model",), r"calibration.json' lacks 'base_model'"),
        ("student_config.json", ("architecture",), r"student_config.json' lacks 'architecture'"),
    ],
)
def test_when_a_folder_json_lacks_a_key_then_the_error_names_the_file_and_the_key(
    tuned, tmp_path, file_name, drop, match
):
    if file_name == "finetune.json":
        folder = copied(tuned, tmp_path, "run")
    elif file_name == "calibration.json":
        folder = calibrated_folder(tmp_path / "cal")
    else:
        folder = student_folder(tmp_path / "student")
    edit_json(folder / file_name, drop=drop)
    with pytest.raises(CheckpointError, match=match):
        tsfm.load(str(folder), device="cpu")


def test_when_a_finetune_folder_lacks_its_report_then_the_error_names_it(tuned, tmp_path):
    folder = copied(tuned, tmp_path, "run")
    (folder / "report.json").unlink()
    with pytest.raises(CheckpointError, match=r"report.json"):
        tsfm.load(str(folder), device="cpu")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_when_student_weights_are_damaged_then_the_error_names_the_file(tmp_path, damage):
    folder = student_folder(tmp_path / "student")
    weights = folder / "model.safetensors"
    content = weights.read_bytes()
    weights.write_bytes({"truncated": content[: len(content) // 2], "garbage": b"\x00" * 64, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"model.safetensors' is not a readable safetensors file"):
        tsfm.load(str(folder))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"hidden_size": 10**9}, r"hidden_size must be an integer in 1\.\.\d+, got 1000000000"),
        ({"context_length": 10**9}, r"context_length must be an integer in 1\.\.\d+"),
        ({"horizon": 10**9}, r"horizon must be an integer in 1\.\.\d+"),
        ({"n_blocks": 10**6}, r"n_blocks must be an integer in 1\.\.\d+"),
        ({"hidden_size": 16384, "context_length": 65536}, r"a 'mlp' student of these sizes has [\d,]+ parameters"),
    ],
)
def test_when_a_student_config_is_absurdly_large_then_it_is_refused_before_allocating(tmp_path, changes, match):
    folder = student_folder(tmp_path / "student")
    edit_json(folder / "student_config.json", **changes)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=rf"student_config.json': {match}"):
        tsfm.load(str(folder))
    assert time.perf_counter() - started < 5.0


def test_when_a_lora_adapter_is_a_pickle_then_it_is_refused_unopened(tuned, tmp_path):
    marker = tmp_path / "UNPICKLED"
    folder = copied(tuned, tmp_path, "run")
    adapter = folder / "lora" / "adapter"
    (adapter / "adapter_model.safetensors").unlink()
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_WritesMarker(marker), protocol=4))
    with pytest.raises(CheckpointError, match=r"adapter_model.bin.*pickle.*adapter_model.safetensors"):
        tsfm.load(str(folder), device="cpu")
    assert not marker.exists()


def test_when_a_pickled_adapter_reaches_the_cli_then_it_is_one_line(tuned, tmp_path, capsys):
    from tsfm.tasks.cli import main

    marker = tmp_path / "UNPICKLED"
    folder = copied(tuned, tmp_path, "run")
    adapter = folder / "lora" / "adapter"
    (adapter / "adapter_model.safetensors").unlink()
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_WritesMarker(marker), protocol=4))
    code = main(["forecast", "--data", str(write_csv(tmp_path / "d.csv")), "--model", str(folder),
                 "--horizon", "4", "--output", str(tmp_path / "fc.csv")])
    assert code == 2
    assert "pickle" in one_line_error(capsys)
    assert not marker.exists()


def test_when_adapter_weights_are_corrupt_then_the_error_names_the_file(tuned, tmp_path):
    folder = copied(tuned, tmp_path, "run")
    (folder / "lora" / "adapter" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=r"adapter_model.safetensors' is not a readable safetensors file"):
        tsfm.load(str(folder), device="cpu")


@pytest.mark.parametrize("rank", ["0", "-1"])
def test_when_lora_rank_is_not_positive_then_finetune_says_the_allowed_range(bolt_dir, tmp_path, capsys, rank):
    from tsfm.tasks.cli import main

    code = main(["finetune", "--model", str(bolt_dir), "--data", str(write_csv(tmp_path / "d.csv")),
                 "--horizon", str(HORIZON), "--output", str(tmp_path / "ft"), "--lora-rank", rank, "--no-progress"])
    assert code == 2
    assert one_line_error(capsys) == (
        f"tsfm finetune: error: --lora-rank must be a positive integer (1 or more; 4 to 64 is usual), got {rank}"
    )
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("rank", [0, -3, 2.5, True])
def test_when_a_lora_config_rank_is_not_positive_then_the_library_refuses(rank):
    from tsfm.adapters.lora import make_lora_config

    with pytest.raises(InputError, match=rf"lora_config r must be a positive integer.*got {rank!r}"):
        make_lora_config({"r": rank}, ("q", "v"))


# ---- 4. fine-tuning checkpoints survive a crash while saving ------------------------------------
class Killed(BaseException):
    """Stands for the process being killed: nothing catches it on the way out."""


def finetune_run(model, out: Path, **kwargs):
    from tsfm.adapters.config import FinetuneConfig
    from tsfm.adapters.finetune import finetune

    config = FinetuneConfig(steps=6, batch_size=8, eval_every=2, checkpoint_every=2, warmup_steps=2, lr=3e-3)
    options = dict(horizon=HORIZON, method="lora", config=config, output_dir=out, baselines=("seasonal-naive",),
                   season_length=12, progress=False, resume=False)
    options.update(kwargs)
    return finetune(model, sines(), **options)


def complete_checkpoints(run_dir: Path) -> dict[str, int]:
    """Step of each checkpoint a resume may read; ``checkpoint.tmp`` is never one, complete or not."""
    folders = [run_dir / "checkpoint", run_dir / "checkpoint.old"]
    return {p.name: json.loads((p / "trainer_state.json").read_text())["step"]
            for p in folders if (p / "trainer_state.json").is_file()}


def crash_while_writing(monkeypatch) -> None:
    """The second checkpoint dies while its weights are being written."""
    import safetensors.torch

    original, calls = safetensors.torch.save_file, []

    def save_file(tensors, filename, *args, **kwargs):
        if str(filename).endswith("best.safetensors"):
            calls.append(filename)
            if len(calls) == 2:
                Path(filename).write_bytes(b"half a file")
                raise Killed
        return original(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


def crash_while_swapping(monkeypatch) -> None:
    """The second checkpoint is complete, and the process dies as it moves it into place."""
    calls = []
    for name in ("rename", "replace"):
        original = getattr(os, name)

        def move(src, dst, *args, _original=original, **kwargs):
            if Path(src).name == "checkpoint.tmp":
                calls.append(src)
                if len(calls) == 2:
                    raise Killed
            return _original(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, move)


@pytest.mark.slow  # two fine-tuning runs each: one crashed mid-save, one resumed
@pytest.mark.parametrize("crash", [crash_while_writing, crash_while_swapping])
def test_when_a_checkpoint_save_is_killed_then_the_previous_one_survives_and_resume_continues_from_it(
    bolt_dir, tmp_path, monkeypatch, crash
):
    model = tsfm.load(str(bolt_dir), device="cpu")
    out = tmp_path / "ft"
    with monkeypatch.context() as patch:
        crash(patch)
        with pytest.raises(Killed):
            finetune_run(model, out)
    assert set(complete_checkpoints(out / "lora").values()) == {2}

    steps: list[int] = []
    result = finetune_run(model, out, resume=True, callback=lambda method, step: steps.append(step))
    assert steps[0] == 3
    assert result.report["runs"]["lora"]["steps"] == 6
    assert complete_checkpoints(out / "lora") == {"checkpoint": 6}
