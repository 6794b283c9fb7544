"""ONNX export of students, the torch-free edge runtime, and the ONNX forecaster behind the contract."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tsfm
from tests import fresh_venv
from tsfm.distill.export import TOLERANCES, ExportVerificationError, export_student
from tsfm.distill.runtime import NotATsfmExportError, OnnxRuntimeModel, RuntimeInputError
from tsfm.distill.students import StudentConfig, build_student, save_student
from tsfm.errors import CheckpointError, InputError

CONTEXT, HORIZON = 48, 12
EDGE = Path(__file__).parents[1] / "distill" / "edge"  # the tsfm-edge distribution: pip install ./distill/edge


def windows(n: int = 64, seed: int = 0) -> np.ndarray:
    """Seasonal windows of different levels and scales, some left-padded with NaN: ``[n, CONTEXT]``."""
    rng = np.random.default_rng(seed)
    t = np.arange(CONTEXT)
    phase = rng.uniform(0, 6, (n, 1))
    rows = rng.uniform(-10, 300, (n, 1)) + rng.uniform(1, 30, (n, 1)) * np.sin(2 * np.pi * t / 12 + phase)
    rows[: n // 4, :10] = np.nan
    return rows.astype(np.float32)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A briefly trained MLP student in a folder (a few gradient steps towards the truth, so weights are not random)."""
    config = StudentConfig(architecture="mlp", context_length=CONTEXT, horizon=HORIZON, hidden_size=64)
    model = build_student(config)
    data = windows(128, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(data)
    target = torch.nan_to_num(x[:, -HORIZON:], nan=0.0)  # any signal: the test checks parity, not accuracy
    for _ in range(20):
        loss = (model(x)[:, :, 4] - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save_student(model.eval(), tmp_path_factory.mktemp("student") / "mlp")


@pytest.fixture(scope="module")
def exported(student, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {q: export_student(student, folder / f"{q}.onnx", q, windows()) for q in TOLERANCES}


def _torch(student, x):
    from tsfm.distill.students import load_student

    with torch.no_grad():
        return load_student(student)(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize(("mode", "bound"), [("none", 1e-4), ("dynamic-int8", 0.15), ("static-int8", 0.15)])
def test_when_exported_then_the_runtime_matches_torch_within_the_documented_tolerance(student, exported, mode, bound):
    x = windows(32, seed=7)  # windows not used for calibration
    got = OnnxRuntimeModel(exported[mode].path).run(x)
    scale = np.nanstd(x, axis=1)[:, None, None]
    assert got.shape == (32, HORIZON, 9)
    assert np.max(np.abs(got - _torch(student, x)) / scale) < bound
    assert exported[mode].max_scaled_diff["quantiles"] <= TOLERANCES[mode]


def test_when_quantized_then_the_file_is_smaller(exported):
    assert exported["dynamic-int8"].file_bytes < 0.5 * exported["none"].file_bytes
    assert exported["static-int8"].file_bytes < 0.5 * exported["none"].file_bytes


def test_when_a_file_is_loaded_then_its_metadata_round_trips(exported):
    runtime = OnnxRuntimeModel(exported["static-int8"].path)
    assert (runtime.context_length, runtime.horizon) == (CONTEXT, HORIZON)
    assert runtime.quantile_levels == tsfm.DEFAULT_QUANTILE_LEVELS
    assert runtime.metadata["architecture"] == "mlp"
    assert runtime.metadata == exported["static-int8"].metadata


def test_when_the_context_is_short_or_long_then_the_runtime_pads_or_cuts_it(exported):
    runtime = OnnxRuntimeModel(exported["none"].path)
    row = windows(1, seed=3)[0]
    short = runtime.forecast([row[-20:]])
    padded = np.concatenate([np.full(CONTEXT - 20, np.nan, np.float32), row[-20:]])
    np.testing.assert_allclose(short, runtime.run(padded[None]), rtol=1e-6)
    long = np.concatenate([np.arange(100, dtype=np.float32), row])
    np.testing.assert_allclose(runtime.forecast([long]), runtime.run(row[None]), rtol=1e-6)


@pytest.mark.parametrize(
    ("context", "match"),
    [
        ([], "context is empty"),
        ([np.ones((3, 4))], "must be 1-D"),
        ([np.array([1.0, np.inf])], "contains inf"),
        ([np.full(5, np.nan)], "no finite value"),
        ([["a", "b"]], "not numeric"),
    ],
)
def test_when_runtime_input_is_bad_then_the_error_says_why(exported, context, match):
    with pytest.raises(RuntimeInputError, match=match):
        OnnxRuntimeModel(exported["none"].path).forecast(context)


def test_when_an_onnx_file_is_not_a_tsfm_export_then_it_is_refused(tmp_path):
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(plain), input_names=["context"],
                      output_names=["quantiles"], dynamo=False)
    with pytest.raises(NotATsfmExportError, match="not a tsfm export"):
        OnnxRuntimeModel(plain)
    with pytest.raises(CheckpointError, match="not a tsfm export"):
        tsfm.load(str(plain))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(NotATsfmExportError, match="not a readable ONNX model"):
        OnnxRuntimeModel(garbage)


def test_when_the_runtime_forecasts_then_torch_pandas_and_tsfm_are_never_imported(exported):
    # The edge folder on the path, as `import tsfm_edge` sees it after `pip install ./distill/edge`.
    code = (
        "import sys, numpy as np\n"
        "from tsfm_edge import OnnxRuntimeModel\n"
        f"m = OnnxRuntimeModel({str(exported['static-int8'].path)!r})\n"
        "out = m.forecast([np.sin(np.arange(30.0)), np.arange(80.0)])\n"
        "assert out.shape == (2, m.horizon, 9), out.shape\n"
        "heavy = [name for name in ('torch', 'tsfm', 'pandas') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(EDGE)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=EDGE, env=env)
    assert done.returncode == 0, done.stderr


def test_the_edge_distribution_has_the_version_of_the_full_one():
    edge_version = re.search(r'^version = "([^"]+)"', (EDGE / "pyproject.toml").read_text(), re.MULTILINE)
    assert edge_version is not None and edge_version.group(1) == importlib.metadata.version("tsfm-adapt")


EDGE_SCRIPT = """
import json, sys
import numpy as np
import tsfm_edge
model_path, series_path, out_path = sys.argv[1:4]
with np.load(series_path) as saved:
    series = [saved[name] for name in sorted(saved.files)]
np.save(out_path, tsfm_edge.OnnxRuntimeModel(model_path).forecast(series))
print(json.dumps({"file": tsfm_edge.__file__, "heavy": [m for m in ("torch", "pandas", "tsfm") if m in sys.modules]}))
"""


@pytest.mark.slow  # about 65 s on two cores: a venv, then numpy and onnxruntime from the registry
def test_when_tsfm_edge_is_installed_alone_then_it_forecasts_like_the_full_package_without_torch(exported, tmp_path):
    source = shutil.copytree(EDGE, tmp_path / "edge", ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                                   "__pycache__"))  # build off-tree
    venv = fresh_venv.create(tmp_path / "venv")
    seconds = fresh_venv.pip_install(venv, str(source))  # pulls numpy and onnxruntime from the registry

    series = [w[~np.isnan(w)] for w in windows(4, seed=11)] + [np.sin(np.arange(30.0)), np.arange(80.0) % 17]
    np.savez(tmp_path / "series.npz", **{f"s{i:02d}": s for i, s in enumerate(series)})
    path = exported["static-int8"].path
    done = venv.run("-c", EDGE_SCRIPT, str(path), str(tmp_path / "series.npz"), str(tmp_path / "edge.npy"),
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout)
    assert Path(info["file"]).is_relative_to(venv.root) and info["heavy"] == []
    np.testing.assert_allclose(np.load(tmp_path / "edge.npy"), OnnxRuntimeModel(path).forecast(series),
                               rtol=1e-5, atol=1e-4)

    for heavy in ("torch", "pandas", "tsfm"):
        absent = venv.run("-c", f"import {heavy}", cwd=tmp_path)
        assert absent.returncode != 0 and f"No module named '{heavy}'" in absent.stderr, (heavy, absent.stderr)
    size = fresh_venv.size_bytes(venv.root)
    print(f"tsfm-edge venv: {size / 1e6:.0f} MB after a {seconds:.0f} s pip install")
    assert size < 350e6  # numpy, onnxruntime and pip: about 180 MB; torch alone is more than that


def test_when_loaded_through_tsfm_then_the_onnx_file_is_a_forecaster(exported, student):
    model = tsfm.load(str(exported["none"].path))
    series = [w[~np.isnan(w)] for w in windows(5, seed=4)]
    forecast = model.predict_quantiles(series, 6, [0.1, 0.5, 0.9])
    reference = tsfm.load(str(student)).predict_quantiles(series, 6, [0.1, 0.5, 0.9])
    assert forecast.quantiles.shape == (5, 6, 3)
    np.testing.assert_allclose(forecast.quantiles, reference.quantiles, rtol=1e-4, atol=1e-3)


def test_when_the_file_differs_beyond_tolerance_then_a_typed_error_reports_it_and_keeps_the_old_file(
    student, tmp_path
):
    good = tmp_path / "q.onnx"
    export_student(student, good, "none", windows())
    before = good.read_bytes()
    with pytest.raises(ExportVerificationError, match="differs from the torch model by .* above the tolerance"):
        export_student(student, good, "dynamic-int8", windows(), tolerance=1e-9)
    assert good.read_bytes() == before  # the failed export neither replaced it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"]  # nor left a partial file


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantize": "int4"}, "quantize must be one of"),
        ({"windows": np.zeros((3, 7))}, "windows must be a non-empty \\[n, 48\\] array"),
    ],
)
def test_when_export_arguments_are_bad_then_the_error_says_what_is_allowed(student, tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        export_student(student, tmp_path / "x.onnx", **{"quantize": "none", **kwargs})


def test_when_the_cli_exports_then_it_prints_the_verification(student, tmp_path, capsys):
    from tsfm.tasks.cli import main

    assert main(["export", str(student), "--quantize", "dynamic-int8", "--output", str(tmp_path / "s.onnx")]) == 0
    assert "largest difference vs torch" in capsys.readouterr().out
    assert main(["export", str(student), "--output", str(tmp_path / "s.bin")]) == 2


@pytest.mark.slow
def test_when_a_bolt_teacher_is_exported_then_onnx_matches_torch(tmp_path):
    from tsfm.distill.teacher_export import export_bolt_teacher
    from tsfm.testing import build_tiny_checkpoint

    folder = build_tiny_checkpoint("chronos-bolt", tmp_path / "bolt")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 64)) * 5 + 20).astype(np.float32)
    x[0, :16] = np.nan
    report = export_bolt_teacher(str(folder), tmp_path / "bolt.onnx", horizon=16, context_length=64, windows=x)
    assert report.max_scaled_diff["quantiles"] < 1e-3
    forecast = tsfm.load(str(report.path)).predict_quantiles([x[1]], 16)
    assert forecast.quantiles.shape == (1, 16, 9)
