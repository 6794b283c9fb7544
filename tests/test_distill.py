"""Students, distillation data and the training loop, on small synthetic tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tsfm
from tsfm.distill.data import split_windows
from tsfm.distill.students import ARCHITECTURES, StudentConfig, build_student, instance_stats, load_student
from tsfm.distill.train import DistillConfig, distill
from tsfm.errors import CheckpointError, InputError

SEASON, HORIZON, CONTEXT = 12, 12, 48
FAST = {"max_epochs": 12, "patience": 12, "n_synthetic": 0, "batch_size": 64, "progress": False, "device": "cpu"}


def seasonal_series(n: int = 8, length: int = 180, seed: int = 0) -> list[np.ndarray]:
    """Seasonal series with different levels, scales and phases, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [
        rng.uniform(-50, 500) + rng.uniform(1, 20) * (np.sin(2 * np.pi * t / SEASON + rng.uniform(0, 6))
                                                      + rng.normal(0, 0.05, length))
        for _ in range(n)
    ]


def small_config(architecture: str, **changes) -> StudentConfig:
    base = {"architecture": architecture, "context_length": CONTEXT, "horizon": HORIZON, "hidden_size": 64,
            "n_blocks": 2, "patch_size": 12}
    return StudentConfig(**{**base, **changes})


class CountingTeacher(tsfm.BaseForecaster):
    """Seasonal naive that counts how many series it was asked to forecast."""

    def __init__(self) -> None:
        super().__init__("counting-seasonal-naive")
        self.inner = tsfm.load("seasonal-naive", season_length=SEASON)
        self.calls = 0

    def _predict_quantiles(self, context, horizon, levels):
        self.calls += len(context)
        forecast = self.inner.predict_quantiles(context, horizon, levels)
        return forecast.quantiles, forecast.mean


@pytest.fixture(scope="module")
def holdout():
    series = seasonal_series()
    return [s[:-HORIZON] for s in series], np.stack([s[-HORIZON:] for s in series])


# ---- students -------------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_when_a_student_runs_then_quantiles_have_the_documented_shape_and_do_not_cross(architecture):
    model = build_student(small_config(architecture))
    context = torch.randn(5, CONTEXT) * 1000 + 7
    context[1, :20] = float("nan")  # left padding
    context[2, 30:33] = float("nan")  # a gap
    out = model(context)
    assert out.shape == (5, HORIZON, 9)
    assert torch.isfinite(out).all()
    assert (out.diff(dim=2) >= 0).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_when_the_context_is_rescaled_then_the_forecast_rescales_with_it(architecture):
    model = build_student(small_config(architecture)).eval()
    context = torch.randn(3, CONTEXT)
    with torch.no_grad():
        base, scaled = model(context), model(context * 1000.0 + 50.0)
    torch.testing.assert_close(scaled, base * 1000.0 + 50.0, rtol=1e-3, atol=1e-2)


def test_when_a_student_config_goes_through_json_then_it_comes_back_equal(tmp_path):
    config = small_config("patch", quantile_levels=(0.05, 0.5, 0.95), seed=3, extra={"teacher": "x"})
    assert StudentConfig.from_json(config.to_json(tmp_path / "c.json")) == config


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"architecture": "transformer"}, "architecture must be one of"),
        ({"context_length": 0}, "context_length must be a positive integer"),
        ({"horizon": 2.5}, "horizon must be a positive integer"),
        ({"quantile_levels": (0.5, 0.1)}, "strictly increasing"),
        ({"quantile_levels": (0.0, 0.5)}, "strictly increasing numbers in \\(0, 1\\)"),
        ({"dropout": 1.0}, "dropout must be a number in \\[0, 1\\)"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"architecture": "patch", "patch_size": 10}, "patch_size 10 must divide context_length 48"),
    ],
)
def test_when_a_student_config_is_invalid_then_the_error_names_the_field(changes, match):
    with pytest.raises(InputError, match=match):
        small_config(**{"architecture": "mlp", **changes})


def test_when_a_config_has_an_unknown_field_then_the_known_ones_are_listed():
    with pytest.raises(InputError, match="unknown student config field.*known fields"):
        StudentConfig.from_dict({"architecture": "mlp", "width": 3})


def test_when_context_is_constant_then_instance_stats_stay_finite():
    loc, scale = instance_stats(torch.full((2, 10), 5.0))
    assert torch.allclose(loc, torch.full((2, 1), 5.0)) and (scale > 0).all()


# ---- data -----------------------------------------------------------------------------------------
def test_when_windows_are_cut_then_no_training_target_reaches_into_the_validation_target():
    values = np.arange(100, dtype=float)
    train, val = split_windows([values], context_length=20, horizon=10, stride=3, max_per_series=100)
    assert val.targets.tolist() == [list(range(90, 100))]
    assert np.nanmax(train.targets) < 90  # training targets end where validation starts
    assert np.isnan(train.contexts).any()  # early windows are left-padded with NaN
    for context, target in zip(train.contexts, train.targets):  # each target continues its context
        assert target[0] == context[-1] + 1


def test_when_no_series_is_long_enough_then_distill_says_what_it_needs():
    with pytest.raises(InputError, match="no series is long enough"):
        split_windows([np.arange(5.0)], context_length=8, horizon=10, stride=1, max_per_series=4)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"teacher_weight": 1.5}, "teacher_weight must be a number in \\[0, 1\\]"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"n_synthetic": -1}, "n_synthetic must be an integer >= 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite"),
        ({"device": "tpu"}, "device must be"),
    ],
)
def test_when_a_distill_config_is_invalid_then_the_error_names_the_field(changes, match):
    with pytest.raises(InputError, match=match):
        DistillConfig(**changes)


# ---- training -------------------------------------------------------------------------------------
def _mae(model, contexts, targets) -> float:
    return float(np.mean(np.abs(model.predict_quantiles(contexts, HORIZON).median - targets)))


@pytest.mark.parametrize(  # linear trains in seconds; mlp and patch take several times longer
    "architecture", [a if a == "linear" else pytest.param(a, marks=pytest.mark.slow) for a in ARCHITECTURES]
)
def test_when_a_student_is_distilled_on_a_seasonal_task_then_it_beats_the_naive_forecast(architecture, holdout):
    contexts, targets = holdout
    teacher = tsfm.load("seasonal-naive", season_length=SEASON)
    result = distill(teacher, contexts, HORIZON, small_config(architecture), DistillConfig(**FAST, stride=4))
    from tsfm.distill.student_forecaster import StudentForecaster

    student = StudentForecaster(result.student, "student")
    naive = tsfm.load("naive")
    assert _mae(student, contexts, targets) < 0.5 * _mae(naive, contexts, targets)
    assert result.report["best_epoch"] >= 1 and len(result.history) >= result.report["best_epoch"]


def _distance_to_teacher(model, teacher, contexts) -> float:
    from tsfm.distill.student_forecaster import StudentForecaster

    mine = StudentForecaster(model, "s").predict_quantiles(contexts, HORIZON).quantiles
    theirs = teacher.predict_quantiles(contexts, HORIZON).quantiles
    scale = np.array([np.nanstd(c[-CONTEXT:]) for c in contexts])[:, None, None]
    return float(np.mean(np.abs(mine - theirs) / scale))


@pytest.mark.slow
def test_when_the_loss_follows_the_teacher_then_the_student_quantiles_move_towards_the_teacher(tmp_path, holdout):
    from tsfm.testing import build_tiny_checkpoint

    contexts, _ = holdout
    teacher = tsfm.load(str(build_tiny_checkpoint("chronos-bolt", tmp_path / "bolt")), device="cpu")
    config = small_config("mlp")
    untrained = _distance_to_teacher(build_student(config).eval(), teacher, contexts)
    longer = {**FAST, "max_epochs": 30, "patience": 30}  # 12 epochs move it only part of the way
    follow = distill(teacher, contexts, HORIZON, config, DistillConfig(**longer, teacher_weight=1.0))
    ignore = distill(teacher, contexts, HORIZON, config, DistillConfig(**longer, teacher_weight=0.0))
    towards = _distance_to_teacher(follow.student, teacher, contexts)
    assert towards < 0.5 * untrained
    assert towards < _distance_to_teacher(ignore.student, teacher, contexts)


def test_when_distilled_twice_into_one_folder_then_the_teacher_runs_once_and_the_folder_loads(tmp_path, holdout):
    contexts, targets = holdout
    teacher = CountingTeacher()
    config = DistillConfig(**{**FAST, "max_epochs": 2, "n_synthetic": 16})
    first = distill(teacher, contexts, HORIZON, small_config("linear"), config, output=tmp_path / "s")
    calls = teacher.calls
    second = distill(teacher, contexts, HORIZON, small_config("linear"), config, output=tmp_path / "s")
    assert calls > 0 and teacher.calls == calls
    assert not first.report["teacher_cache_reused"] and second.report["teacher_cache_reused"]
    for name in ("student_config.json", "model.safetensors", "report.json"):
        assert (tmp_path / "s" / name).is_file()
    model = tsfm.load(str(tmp_path / "s"))
    forecast = model.predict_quantiles([c[-5:] for c in contexts], 6, [0.1, 0.5, 0.9])  # short context, horizon
    assert forecast.quantiles.shape == (len(contexts), 6, 3) and np.isfinite(forecast.quantiles).all()
    assert model.config.extra["teacher"] == teacher.name


def test_when_the_horizon_is_longer_than_the_students_then_the_error_says_its_maximum(tmp_path, holdout):
    contexts, _ = holdout
    from tsfm.distill.students import save_student

    model = tsfm.load(str(save_student(build_student(small_config("linear")), tmp_path / "s")))
    with pytest.raises(InputError, match=f"exceeds this model's maximum of {HORIZON}"):
        model.predict_quantiles(contexts, HORIZON + 1)


def test_when_a_student_folder_lacks_weights_then_loading_says_what_is_missing(tmp_path):
    small_config("mlp").to_json(tmp_path / "student_config.json")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_student(tmp_path)


def test_when_the_student_config_horizon_differs_then_distill_refuses(holdout):
    contexts, _ = holdout
    with pytest.raises(InputError, match="horizon 12 differs from horizon=6"):
        distill("seasonal-naive", contexts, 6, small_config("mlp"), DistillConfig(**FAST))


def test_when_the_cli_distils_then_it_writes_a_loadable_student(tmp_path, holdout, capsys):
    from tsfm.tasks.cli import main

    contexts, _ = holdout
    frames = [f"{i},{t},{v}" for i, c in enumerate(contexts) for t, v in enumerate(c)]
    data = tmp_path / "d.csv"
    data.write_text("item_id,timestamp,target\n" + "\n".join(frames) + "\n")
    code = main(["distill", "--teacher", "seasonal-naive", "--data", str(data), "--horizon", "6", "--student",
                 "linear", "--context-length", "24", "--max-epochs", "2", "--n-synthetic", "8", "--device", "cpu",
                 "--holdout", "--output", str(tmp_path / "s")])
    assert code == 0 and "linear student" in capsys.readouterr().out
    assert Path(tmp_path / "s" / "model.safetensors").is_file()


def test_when_augmenting_then_perturbed_copies_join_the_training_set_with_clean_targets():
    from tsfm.distill.train import _tensors

    rng = np.random.default_rng(0)
    split = {"context": rng.normal(size=(200, CONTEXT)).astype(np.float32),
             "teacher": rng.normal(size=(200, HORIZON, 3)).astype(np.float32),
             "target": rng.normal(size=(200, HORIZON)).astype(np.float32)}
    clean, augmented = _tensors(split), _tensors(split, augment=0.5, seed=1)
    extra = len(augmented) - len(clean)
    assert 70 < extra < 130  # binomial(200, 0.5)
    context, teacher, target = augmented.tensors
    assert torch.equal(context[:200], clean.tensors[0])
    copies = [int(np.flatnonzero((split["teacher"] == t.numpy()).all(axis=(1, 2)))[0]) for t in teacher[200:]]
    assert np.array_equal(target[200:].numpy(), split["target"][copies])
    assert not np.allclose(context[200:].numpy(), split["context"][copies], equal_nan=True)


def test_when_the_augmentation_share_is_bad_then_distillation_refuses():
    with pytest.raises(InputError, match=r"DistillConfig.augment must be a probability"):
        DistillConfig(augment=-0.1)
