"""Pretraining from scratch: config validation, initialisation, the loop, checkpoints and resume.

Every run uses the shipped ``tiny-test`` config (a 30k-parameter model, batches of 8), so the
whole file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tsfm.errors import InputError

FAMILIES = ("chronos-bolt", "chronos-2")


@pytest.fixture
def pt() -> types.SimpleNamespace:
    """The pretraining modules, imported lazily so that collecting this file stays cheap."""
    from tsfm.pretraining import cli, config, trainer

    return types.SimpleNamespace(config=config, trainer=trainer, cli=cli)


def tiny(pt, tmp_path: Path, family: str = "chronos-bolt", **changes):
    """The shipped tiny-test config for ``family``, writing under ``tmp_path``."""
    base = pt.cli.load_config("tiny-test")
    if family == "chronos-2":
        changes = {"quantiles": None, **changes}
    return base.replace(family=family, output_dir=str(tmp_path / family), **changes)


# ---- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"steps": -1}, "steps"),
        ({"steps": 0}, "steps"),
        ({"context_length": 60}, "context_length"),  # patch_size is 8
        ({"family": "chronos-t5"}, "family"),
        ({"quantiles": (0.1, 0.9)}, "quantiles"),  # no median
        ({"quantiles": (0.5, 0.3)}, "quantiles"),
        ({"quantiles": (0.0, 0.5)}, "quantiles"),
        ({"prediction_length": 0}, "prediction_length"),
        ({"lr": 0.0}, "lr"),
        ({"schedule": "step"}, "schedule"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"short_context_share": 1.5}, "short_context_share"),
        ({"family": "chronos-2", "quantiles": (0.25, 0.5, 0.75)}, "quantiles"),  # needs 0.1 ... 0.9
        ({"covariate_share": 0.5}, "covariate_share"),  # Bolt has no covariates
        ({"group_share": 0.5}, "group_share"),
        ({"family": "chronos-2", "quantiles": None, "covariate_share": 0.6, "group_share": 0.6}, "share"),
    ],
)
def test_when_a_config_value_is_bad_then_input_error_names_the_field(pt, tmp_path, changes, field):
    from tsfm.errors import InputError

    with pytest.raises(InputError, match=field):
        tiny(pt, tmp_path, **changes)


def test_when_a_config_has_an_unknown_key_then_the_error_lists_the_known_ones(pt):
    from tsfm.errors import InputError

    with pytest.raises(InputError, match="unknown .*'lerning_rate'.*known fields"):
        pt.config.PretrainConfig.from_dict({"lerning_rate": 1e-3})


@pytest.mark.parametrize("family", FAMILIES)
def test_when_a_config_goes_through_json_then_it_comes_back_equal(pt, tmp_path, family):
    config = tiny(pt, tmp_path, family, grad_clip=1.0, extra_data="my.parquet")
    path = config.to_json(tmp_path / "cfg.json")
    again = pt.config.PretrainConfig.from_json(path)
    assert again == config
    assert isinstance(json.loads(path.read_text())["synthetic"], dict)


def test_shipped_configs_validate_and_the_bolt_mini_has_the_notes_size(pt):
    assert {"bolt-mini-cpu", "chronos2-mini-cpu", "tiny-test"} <= set(pt.cli.shipped_configs())
    for name in pt.cli.shipped_configs():
        pt.cli.load_config(name)
    bolt = pt.config.build_model(pt.cli.load_config("bolt-mini-cpu"))
    assert 1.8e6 < sum(p.numel() for p in bolt.parameters()) < 1.9e6


# ---- initialisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_when_a_model_is_built_then_norms_are_one_and_linear_weights_have_fan_in_scale(pt, tmp_path, family):
    config = tiny(pt, tmp_path, family, d_model=64, d_ff=128)
    model = pt.config.build_model(config)
    norms = [m for m in model.modules() if type(m).__name__.endswith("LayerNorm")]
    assert norms and all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        fan_in = module.in_features
        expected = (fan_in * config.d_kv) ** -0.5 if name.endswith(".q") else fan_in**-0.5
        std = module.weight.std().item()
        assert abs(std / expected - 1) < 0.25, f"{name}: std {std:.4f}, expected {expected:.4f}"
        if module.bias is not None:
            assert torch.count_nonzero(module.bias) == 0, name


@pytest.mark.parametrize("family", FAMILIES)
def test_when_a_run_starts_from_a_model_folder_then_its_weights_are_the_folders(pt, tmp_path, family):
    first = pt.config.build_model(tiny(pt, tmp_path, family))
    first.save_pretrained(tmp_path / "stage1")
    config = tiny(pt, tmp_path, family, seed=7, init_from=str(tmp_path / "stage1"))
    second = pt.config.build_model(config)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    with pytest.raises(InputError, match="does not match this config's architecture"):
        pt.config.build_model(tiny(pt, tmp_path, family, d_model=48, init_from=str(tmp_path / "stage1")))
    with pytest.raises(InputError, match="has no model.safetensors"):
        pt.config.build_model(tiny(pt, tmp_path, family, init_from=str(tmp_path)))


# ---- the loop -----------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_when_two_steps_are_trained_then_the_model_loads_through_the_chronos_pipeline(pt, tmp_path, family):
    from chronos import BaseChronosPipeline

    tasks = {"covariate_share": 0.25, "group_share": 0.25} if family == "chronos-2" else {}
    config = tiny(pt, tmp_path, family, steps=2, **tasks)
    model_dir = pt.trainer.pretrain(config, progress=False)

    out = Path(config.output_dir)
    assert model_dir == out / "model" and (model_dir / "model.safetensors").is_file()
    assert pt.config.PretrainConfig.from_json(out / "pretrain_config.json") == config
    assert json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"] == 2
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "val_loss" in r] == [1, 2]
    assert all(math.isfinite(r["val_loss"]) for r in logged if "val_loss" in r)

    pipeline = BaseChronosPipeline.from_pretrained(model_dir)
    history = 10 + np.sin(np.arange(50) / 3.0)
    inputs = torch.tensor(history)[None] if family == "chronos-bolt" else [history[None]]
    quantiles, _ = pipeline.predict_quantiles(inputs, prediction_length=16, quantile_levels=[0.1, 0.5, 0.9])
    quantiles = quantiles if family == "chronos-bolt" else quantiles[0]
    assert quantiles.shape == (1, 16, 3) and torch.isfinite(quantiles).all()


class _Interrupt(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_when_a_run_is_interrupted_and_resumed_then_it_ends_like_an_uninterrupted_run(pt, tmp_path, family):
    changes = dict(steps=4, checkpoint_every=2, validate_every=2, clean_warmup_steps=2, warmup_steps=1)
    if family == "chronos-2":
        changes.update(covariate_share=0.25, group_share=0.25)
    straight = pt.trainer.pretrain(tiny(pt, tmp_path / "straight", family, **changes), progress=False)

    config = tiny(pt, tmp_path / "resumed", family, **changes)

    def stop_after_two(step: int, metrics: dict) -> None:
        if step == 2:
            raise _Interrupt  # like a kill right after the step-2 checkpoint

    with pytest.raises(_Interrupt):
        pt.trainer.pretrain(config, progress=False, callback=stop_after_two)
    assert not (Path(config.output_dir) / "model").exists()
    resumed = pt.trainer.pretrain(config, progress=False)

    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6


@pytest.mark.slow
def test_when_trained_on_clean_seasonal_series_then_the_loss_falls(pt, tmp_path):
    config = tiny(pt, tmp_path, steps=30, clean_warmup_steps=30, warmup_steps=3, lr=3e-3, batch_size=8,
                  dropout=0.0, short_context_share=0.0, validate_every=30, checkpoint_every=30)
    losses: list[float] = []
    pt.trainer.pretrain(config, progress=False, callback=lambda step, m: losses.append(m["loss"]))
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5]), losses


# ---- pieces --------------------------------------------------------------------------------------
def schedule_lrs(pt, config) -> list[float]:
    """The lr of each step of ``config``'s schedule, stepped as the training loop steps it."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = pt.trainer.lr_schedule(optimizer, config.schedule, config.warmup_steps, config.steps,
                                       config.min_lr_ratio)
    lrs = []
    for _ in range(config.steps):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_the_lr_schedule_warms_up_then_decays_to_the_min_ratio_over_the_planned_steps(pt, tmp_path, schedule):
    config = tiny(pt, tmp_path, steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1, schedule=schedule)
    lrs = schedule_lrs(pt, config)
    assert lrs[:3] == pytest.approx([0.0, 1e-4, 2e-4]) and lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert 1e-4 <= lrs[99] <= 1.1e-4 + 1e-12  # one step before the end: just above min_lr_ratio * lr
    middle = 0.1 + 0.9 * (0.5 * (1 + math.cos(math.pi * 45 / 90)) if schedule == "cosine" else 1 - 45 / 90)
    assert lrs[55] == pytest.approx(1e-3 * middle)  # the formula the hand-written schedule had
    assert schedule_lrs(pt, config.replace(steps=200))[50] > lrs[50]


def test_windows_are_a_pure_function_of_the_step_and_short_contexts_are_nan_padded(pt, tmp_path):
    from tsfm.pretraining.synthetic import SyntheticConfig

    no_gaps = SyntheticConfig(length=100, missing_probability=0.0)
    config = tiny(pt, tmp_path, short_context_share=1.0, min_context_length=8, synthetic=no_gaps)
    a = pt.trainer.make_batch(config, seed=0, index=3, clean=False)
    b = pt.trainer.make_batch(config, seed=0, index=3, clean=False)
    assert all(torch.equal(a[k].nan_to_num(-1), b[k].nan_to_num(-1)) for k in a)
    assert a["context"].shape == (8, 64) and a["target"].shape == (8, 16)
    observed = (~a["context"].isnan()).sum(dim=1)
    assert (observed >= 8).all() and (observed < 64).any()
    # NaNs only on the left: once a value is observed, the rest of the row is observed
    first = a["context"].isnan().int().argmin(dim=1)
    assert all((~a["context"][i, first[i]:].isnan()).all() for i in range(8))


def test_rows_of_one_group_get_the_same_window(pt, tmp_path):
    config = tiny(pt, tmp_path, short_context_share=0.5)
    series = np.arange(100, dtype=np.float32)[None, :] + 1000 * np.arange(6, dtype=np.float32)[:, None]
    groups = np.array([0, 0, 0, 1, 1, 2])
    context, target = pt.trainer.make_windows(series, config, np.random.default_rng(0), groups)
    start = target[:, 0] - 1000 * np.arange(6)  # time index where each row's target starts
    observed = (~np.isnan(context)).sum(axis=1)
    for g in range(3):
        assert len(set(start[groups == g])) == 1 and len(set(observed[groups == g])) == 1


def test_chronos2_batches_hold_covariate_tasks_and_groups(pt, tmp_path):
    config = tiny(pt, tmp_path, "chronos-2", covariate_share=0.25, group_share=0.25)
    batch = pt.trainer.make_batch(config, seed=0, index=0, clean=False)
    n = len(batch["context"])
    assert n > config.batch_size and batch["group_ids"].shape == (n,)
    assert batch["future_covariates"].shape == batch["target"].shape
    known = ~batch["future_covariates"].isnan().all(dim=1)
    assert known.any() and (~known).sum() > config.batch_size // 2
    # a known-future covariate row carries exactly its own future
    future, target = batch["future_covariates"][known], batch["target"][known]
    assert torch.equal(future.nan_to_num(-1), target.nan_to_num(-1))
    clean = pt.trainer.make_batch(config, seed=0, index=0, clean=True)
    assert len(clean["context"]) == config.batch_size and "future_covariates" not in clean


def test_when_the_newest_checkpoint_was_killed_mid_swap_then_the_previous_one_is_used(pt, tmp_path):
    (tmp_path / "checkpoint.tmp").mkdir()  # incomplete: no trainer_state.json
    assert pt.trainer.find_checkpoint(tmp_path) is None
    (tmp_path / "checkpoint.old").mkdir()
    (tmp_path / "checkpoint.old" / "trainer_state.json").write_text('{"step": 5}')
    assert pt.trainer.find_checkpoint(tmp_path) == tmp_path / "checkpoint.old"


def test_the_pretrain_subcommand_trains_from_a_shipped_config(pt, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="tsfm")
    pt.cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pretrain", "--config", "tiny-test", "--output", str(tmp_path / "run"),
                              "--steps", "1", "--no-resume", "--no-progress"])
    assert args.handler(args) == 0
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    assert "pretrained chronos-bolt for 1 steps" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["chronos-bolt", pytest.param("chronos-2", marks=pytest.mark.slow)])
def test_when_the_latest_checkpoint_is_exported_then_it_forecasts_like_the_final_model(pt, tmp_path, family):
    from chronos import BaseChronosPipeline

    config = tiny(pt, tmp_path, family, steps=2, checkpoint_every=2)
    final = pt.trainer.pretrain(config, progress=False)
    exported = pt.trainer.export_checkpoint(config.output_dir, tmp_path / "exported")

    a, b = load_file(final / "model.safetensors"), load_file(exported / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    saved = pt.config.PretrainConfig.from_json(tmp_path / "exported" / "pretrain_config.json")
    assert saved.steps == 2
    BaseChronosPipeline.from_pretrained(exported)  # the folder format upstream loads


def test_when_a_run_has_no_checkpoint_then_export_says_so(pt, tmp_path):
    with pytest.raises(pt.trainer.CheckpointError, match="no complete checkpoint"):
        pt.trainer.export_checkpoint(tmp_path / "empty-run", tmp_path / "out")
