"""The accelerator recipe, tested on the CPU: batch probing against a fake memory limit, sizing the
run to a time budget, checkpoints by the clock, batches made ahead, and resuming with the same plan.

No test needs a GPU: the probe takes a fake trial that raises torch's out-of-memory error above a
chosen batch size, and ``resolve_device`` is patched where the CUDA branch is exercised.
"""

from __future__ import annotations

import argparse
import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from tsfm.errors import InputError


@pytest.fixture
def rc() -> types.SimpleNamespace:
    from tsfm.pretraining import cli, pacing, recipe, trainer

    return types.SimpleNamespace(cli=cli, pacing=pacing, recipe=recipe, trainer=trainer)


def tiny(rc, tmp_path: Path, **changes):
    return rc.cli.load_config("tiny-test").replace(output_dir=str(tmp_path / "run"), **changes)


def memory_limited(rows: int, seconds: float = 0.01):
    """A fake trial: raises torch's out-of-memory error above ``rows``; records the sizes it saw."""
    seen: list[int] = []

    def trial(size: int) -> float:
        seen.append(size)
        if size > rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory at batch {size}")
        return seconds

    trial.seen = seen  # type: ignore[attr-defined]
    return trial


# ---- batch probing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rows, start, limit, expected", [
    (1000, 128, 4096, 1000), (1003, 128, 4096, 1000), (100, 128, 4096, 96), (5000, 128, 4096, 4096),
    (300, 1024, 4096, 296), (8, 8, 64, 8),
])
def test_when_memory_runs_out_above_a_size_then_the_probe_finds_the_largest_multiple_that_fits(rc, rows, start,
                                                                                              limit, expected):
    trial = memory_limited(rows)
    assert rc.recipe.largest_batch(rc.recipe._fits(trial), start, limit) == expected
    assert len(trial.seen) <= 2 * np.log2(limit) + 2  # doubling then bisection, not a linear scan


def test_when_not_even_the_smallest_batch_fits_then_input_error_says_so(rc):
    with pytest.raises(InputError, match="not even a batch of 8"):
        rc.recipe.largest_batch(rc.recipe._fits(memory_limited(7)), 128, 4096)


def test_when_a_trial_fails_for_another_reason_then_the_error_is_not_taken_for_memory(rc):
    def broken(size: int) -> float:
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        rc.recipe.largest_batch(rc.recipe._fits(broken), 8, 64)
    assert rc.recipe.is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not rc.recipe.is_out_of_memory(RuntimeError("expected scalar type"))


def test_on_cuda_the_plan_uses_bf16_a_margin_below_the_largest_batch_and_a_scaled_lr(rc, tmp_path, monkeypatch):
    monkeypatch.setattr(rc.recipe, "resolve_device", lambda device: "cuda")
    config = tiny(rc, tmp_path, batch_size=64, lr=1e-4)
    planned, plan = rc.recipe.plan_run(config, "auto", None, trial=memory_limited(700), workers=3)
    assert plan.largest_fitting_batch == 696 and planned.batch_size == 584  # 85% of 696, a multiple of 8
    assert planned.bf16 and planned.data_workers == 3 and planned.checkpoint_minutes == 2.0
    assert planned.lr == pytest.approx(1e-4 * min(4.0, np.sqrt(584 / 64)))
    assert planned.steps == config.steps  # no budget given: the config's steps


def test_when_step_time_grows_with_the_square_of_the_batch_then_the_plan_takes_a_smaller_faster_batch(
        rc, tmp_path, monkeypatch):
    # Chronos-2's group attention: seconds = fixed cost + quadratic term; on an H200 batch 1,736 took
    # 0.68 s a step and OOMed mid-run, batch 512 0.10 s (3.4x the rows per second).
    monkeypatch.setattr(rc.recipe, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(rc.recipe, "data_seconds", lambda config, size: 0.0)

    def quadratic(size: int) -> float:
        if size > 2048:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return 0.02 + (size / 1000) ** 2 * 0.2

    config = tiny(rc, tmp_path, batch_size=64, lr=1e-4)
    planned, plan = rc.recipe.plan_run(config, "auto", None, trial=quadratic, workers=3)
    sizes = [1736, 864, 432, 216, 104]
    rates = {size: size / quadratic(size) for size in sizes}
    best = max(rates.values())
    assert plan.largest_fitting_batch == 2048
    assert planned.batch_size == max(s for s in sizes if rates[s] >= 0.9 * best) == 432
    assert planned.lr == pytest.approx(1e-4 * np.sqrt(432 / 64))
    assert "432" in plan.note and "1736" in plan.note


def test_when_the_data_cannot_keep_up_then_the_largest_batch_is_kept(rc):
    batch, timed = rc.recipe.fastest_batch(lambda size: 1e-4 * size ** 0.5, 1024, 64, data_seconds_per_row=1e-3)
    assert batch == 1024 and timed[1024] == pytest.approx(1.024)  # data-bound: every size trains 1,000 rows/s


def test_with_a_time_budget_the_steps_fill_it_at_the_measured_step_time(rc, tmp_path, monkeypatch):
    monkeypatch.setattr(rc.recipe, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(rc.recipe, "data_seconds", lambda config, size: 0.09)  # 0.03 s a batch with 3 workers
    config = tiny(rc, tmp_path, warmup_steps=5000, clean_warmup_steps=20000)  # longer than the run
    planned, plan = rc.recipe.plan_run(config, "auto", 10, trial=memory_limited(4096, seconds=0.05), workers=3)
    assert plan.step_seconds == pytest.approx(1.1 * 0.05)  # the model, not the data, is the bottleneck
    assert planned.steps == int(600 * rc.recipe.BUDGET_SHARE / (1.1 * 0.05))
    assert planned.warmup_steps == planned.steps // 10 and planned.clean_warmup_steps == planned.steps // 5
    assert planned.checkpoint_every == planned.steps // 5 == planned.validate_every


def test_on_the_cpu_the_plan_is_the_config_and_a_budget_adds_data_time_to_compute_time(rc, tmp_path, monkeypatch):
    monkeypatch.setattr(rc.recipe, "data_seconds", lambda config, size: 0.2)
    config = tiny(rc, tmp_path)
    same, plan = rc.recipe.plan_run(config, "cpu", None, trial=memory_limited(10))
    assert same == config and plan.device == "cpu" and plan.largest_fitting_batch is None
    sized, plan = rc.recipe.plan_run(config, "cpu", 1, trial=memory_limited(4096, seconds=0.3))
    assert plan.step_seconds == pytest.approx(1.1 * 0.5) and sized.steps == int(60 * 0.85 / (1.1 * 0.5))
    assert not sized.bf16 and sized.batch_size == config.batch_size


@pytest.mark.parametrize("device, minutes, match", [("tpu", None, "--device"), ("cpu", -1, "--minutes")])
def test_when_the_device_or_budget_is_bad_then_input_error_names_it(rc, tmp_path, device, minutes, match):
    with pytest.raises(InputError, match=match):
        rc.recipe.plan_run(tiny(rc, tmp_path), device, minutes, trial=memory_limited(64))


def test_when_several_processes_would_each_probe_then_input_error_says_to_fix_the_batch(rc, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError, match="single-process"):
        rc.recipe.plan_run(tiny(rc, tmp_path), "cpu", None, trial=memory_limited(64))


def test_when_cuda_is_asked_for_on_a_machine_without_it_then_the_error_points_to_auto(rc):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="--device auto"):
        rc.recipe.resolve_device("cuda")
    assert rc.recipe.resolve_device("auto") == "cpu"


# ---- checkpoints by the clock ----------------------------------------------------------------------
def test_the_checkpoint_clock_fires_by_steps_at_the_end_and_after_the_minutes(rc):
    now = [0.0]
    clock = rc.pacing.CheckpointClock(every_steps=100, last_step=250, every_minutes=2, clock=lambda: now[0])
    assert not clock.due(1) and clock.due(100) and clock.due(250)
    now[0] = 119.0
    assert not clock.due(7)
    now[0] = 121.0
    assert clock.due(7)
    clock.saved()
    assert not clock.due(8)
    assert not rc.pacing.CheckpointClock(100, 250, None, clock=lambda: 1e9).due(7)


def test_when_minutes_pass_then_the_run_writes_a_checkpoint_between_step_multiples(rc, tmp_path, monkeypatch):
    now = [0.0]

    def fake_clock() -> float:
        now[0] += 50.0  # every reading: 50 s later
        return now[0]

    real = rc.pacing.CheckpointClock
    monkeypatch.setattr(rc.trainer, "CheckpointClock", lambda *a, **k: real(*a, **k, clock=fake_clock))
    config = tiny(rc, tmp_path, steps=3, checkpoint_every=1000, validate_every=1000, checkpoint_minutes=1.0)
    saved_at = []

    def record(step: int, metrics: dict) -> None:
        state = Path(config.output_dir) / "checkpoint" / "trainer_state.json"
        saved_at.append(json.loads(state.read_text())["step"] if state.is_file() else None)

    rc.trainer.pretrain(config, progress=False, callback=record)
    # readings at 50 (start), 100 (step 1: 50 s), 150 (step 2: 100 s > 60 s, saved), 200 + 250 (step 3: the end)
    assert saved_at == [None, 2, 3]


# ---- batches made ahead ----------------------------------------------------------------------------
def test_batches_made_by_worker_processes_equal_those_made_in_process(rc, tmp_path):
    config = tiny(rc, tmp_path, clean_warmup_steps=2)
    make = rc.trainer.StepBatches(config)
    here = list(rc.pacing.batch_stream(make, 1, 5, workers=0))
    ahead = list(rc.pacing.batch_stream(make, 1, 5, workers=2))
    assert len(here) == len(ahead) == 4
    for a, b in zip(here, ahead):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k].nan_to_num(-1), b[k].nan_to_num(-1)) for k in a)


# ---- resume with the same plan ---------------------------------------------------------------------
def test_when_a_planned_run_resumes_then_it_keeps_the_plan_it_started_with(rc, tmp_path, monkeypatch):
    monkeypatch.setattr(rc.recipe, "resolve_device", lambda device: "cuda")
    config = tiny(rc, tmp_path, steps=4, checkpoint_every=2)
    planned, _ = rc.recipe.plan_run(config, "auto", None, trial=memory_limited(40), workers=0)
    assert planned.batch_size == 32

    class Stop(Exception):
        pass

    def stop(step: int, metrics: dict) -> None:
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        rc.trainer.pretrain(planned.replace(bf16=False), progress=False, callback=stop)
    again, plan = rc.recipe.plan_run(config, "auto", 10, trial=memory_limited(4000), workers=0)
    assert plan.resumed and again.batch_size == 32 and again.steps == 4  # not re-probed, not re-sized
    rc.trainer.pretrain(again, progress=False)
    state = json.loads((Path(config.output_dir) / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4


def test_the_pretrain_command_with_a_device_writes_its_plan_and_refuses_minutes_alone(rc, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="tsfm")
    rc.cli.add_parsers(parser.add_subparsers(dest="command"))
    base = ["pretrain", "--config", "tiny-test", "--output", str(tmp_path / "run"), "--no-progress"]
    args = parser.parse_args([*base, "--device", "cpu", "--minutes", "0.05"])
    assert args.handler(args) == 0
    plan = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert plan["device"] == "cpu" and plan["steps"] >= 1 and plan["step_seconds"] > 0
    assert "recipe: cpu, batch 8" in capsys.readouterr().out
    args = parser.parse_args([*base, "--minutes", "5"])
    with pytest.raises(InputError, match="--minutes 5 needs --device"):
        args.handler(args)


def test_init_from_takes_a_bundled_model_name(rc, tmp_path):
    from tsfm.pretraining.config import initial_weights_folder

    assert (initial_weights_folder("tsfm-bolt-mini") / "model.safetensors").is_file()
    assert initial_weights_folder(str(tmp_path)) == tmp_path
    gen2 = rc.cli.load_config("bolt-mini-gen2")
    assert gen2.init_from == "tsfm-bolt-mini" and gen2.corpus == "builtin"
    assert {"short_trend", "day_night"} <= set(gen2.synthetic.weights)


def test_one_command_trains_both_formats_each_in_its_folder_with_half_the_budget(rc, tmp_path, capsys):
    chronos2 = rc.cli.load_config("tiny-test").replace(family="chronos-2", quantiles=None, covariate_share=0.25)
    chronos2.to_json(tmp_path / "tiny-chronos2.json")
    parser = argparse.ArgumentParser(prog="tsfm")
    rc.cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pretrain", "--config", f"tiny-test,{tmp_path / 'tiny-chronos2.json'}", "--output",
                              str(tmp_path / "runs"), "--device", "cpu", "--minutes", "0.1", "--no-progress"])
    assert args.handler(args) == 0
    for name, family in (("tiny-test", "chronos-bolt"), ("tiny-chronos2", "chronos-2")):
        folder = tmp_path / "runs" / name
        assert (folder / "model" / "model.safetensors").is_file()
        plan = json.loads((folder / "recipe.json").read_text())
        assert "of 0.05 min" in plan["note"]  # half of --minutes each
        assert json.loads((folder / "pretrain_config.json").read_text())["family"] == family
    out = capsys.readouterr().out
    assert "pretrained chronos-bolt" in out and "pretrained chronos-2" in out


@pytest.mark.slow
def test_when_a_corpus_run_with_data_workers_is_interrupted_and_resumed_then_it_ends_like_a_straight_run(rc, tmp_path):
    from safetensors.torch import load_file

    changes = dict(steps=4, checkpoint_every=2, validate_every=2, clean_warmup_steps=1, warmup_steps=1,
                   corpus="builtin", extra_data_share=0.5, real_mixup_probability=0.5, data_workers=2)
    straight = rc.trainer.pretrain(tiny(rc, tmp_path / "straight", **changes), progress=False)
    config = tiny(rc, tmp_path / "resumed", **changes)

    class Stop(Exception):
        pass

    def stop(step: int, metrics: dict) -> None:
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        rc.trainer.pretrain(config, progress=False, callback=stop)
    resumed = rc.trainer.pretrain(config, progress=False)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6


def test_when_steps_are_given_with_a_budget_then_the_explicit_steps_win(rc, tmp_path):
    parser = argparse.ArgumentParser(prog="tsfm")
    rc.cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pretrain", "--config", "tiny-test", "--output", str(tmp_path / "run"), "--steps", "2",
                              "--device", "cpu", "--minutes", "5", "--no-progress"])
    assert args.handler(args) == 0
    plan = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert plan["steps"] == 2 and "--steps 2" in plan["note"]
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["step"] == 2
