"""Installed names: tsfm-adapt installs one top-level package, ``tsfm``, so no other distribution's
top-level name (AdapterHub's ``adapters``, any ``tasks`` or ``distill``) can shadow ours, nor ours theirs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsfm.adapters
from tests import fresh_venv

ROOT = Path(__file__).parents[1]
GENERIC = ("adapters", "distill", "tasks")  # the repository's folders, installed under tsfm only

PROBE = """
import importlib.metadata, importlib.util, json
specs = {name: importlib.util.find_spec(name) for name in ("adapters", "tsfm.adapters", "distill", "tasks")}
ours = importlib.metadata.distribution("tsfm-adapt")
print(json.dumps({
    "origins": {name: spec.origin if spec else None for name, spec in specs.items()},
    "adapters_author": importlib.metadata.metadata("adapters")["Author"],
    "top_level": (ours.read_text("top_level.txt") or "").split(),
    "files": [str(f) for f in ours.files or []],
}))
"""


@pytest.mark.slow  # builds the wheel in a subprocess
def test_when_built_then_the_wheel_holds_only_the_tsfm_package(tmp_path):
    source = tmp_path / "src"  # build a copy: setuptools writes build/ and *.egg-info beside the sources
    skip = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("tsfm", *GENERIC):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp_path / "dist"), str(source)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tsfm_adapt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"tsfm", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "tsfm/adapters/__init__.py" in names and "tsfm/tasks/cli.py" in names
    assert "tsfm/distill/runtime/__init__.py" in names  # the edge runtime, from distill/edge/tsfm_edge
    assert not [name for name in names if name.startswith("tsfm/distill/edge/")]


@pytest.mark.slow  # a venv, AdapterHub's wheel from the registry, then a real fine-tuning run in a subprocess
def test_when_adapterhub_adapters_is_installed_then_each_name_resolves_to_its_own_and_finetune_runs(
    tiny_checkpoints, tmp_path
):
    # The project and its stack come from the system site packages; only AdapterHub's adapters is new,
    # without its dependencies (they may pin another transformers): the shadowing name is the point.
    venv = fresh_venv.create(tmp_path / "venv", system_site_packages=True)
    fresh_venv.pip_install(venv, "--no-deps", "adapters")

    probe = venv.run("-c", PROBE, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)
    assert Path(found["origins"]["adapters"]).is_relative_to(venv.root)  # AdapterHub's, from the venv
    assert "AdapterHub" in found["adapters_author"]
    assert found["origins"]["tsfm.adapters"] == tsfm.adapters.__file__  # ours, unshadowed
    for name in ("distill", "tasks"):  # nothing of ours answers to a generic top-level name
        assert found["origins"][name] is None or not Path(found["origins"][name]).is_relative_to(ROOT), name
    assert found["top_level"] == ["tsfm"]
    assert not [f for f in found["files"] if Path(f).parts[0] in GENERIC]

    t = np.arange(120)
    pd.concat([
        pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=len(t), freq="h"),
                      "target": 10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / 12)})
        for i in range(3)
    ]).to_csv(tmp_path / "data.csv", index=False)
    done = venv.run("-m", "tsfm.tasks.cli", "finetune", "--model", str(tiny_checkpoints["chronos-bolt"]),
                    "--data", "data.csv", "--horizon", "8", "--steps", "2", "--eval-every", "1", "--batch-size", "4",
                    "--baselines", "seasonal-naive", "--device", "cpu", "--no-progress", "--force", "--output", "ft",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "ft" / "report.json").read_text())
    assert {row["role"] for row in report["verdict"]} == {"zero-shot", "lora", "baseline"}
