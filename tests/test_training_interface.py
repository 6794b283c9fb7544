"""The per-family training interface (tsfm.training): enough for fine-tuning a family adapters/ has never seen.

A toy family is registered here, in the test, with a tiny torch module and its objective; fine-tuning
trains it through the interface alone. The Chronos families are checked against the interface's promises.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tsfm
from tests.conftest import CHRONOS_FAMILIES
from tsfm.adapters.config import FinetuneConfig
from tsfm.adapters.finetune import finetune
from tsfm.contract import BaseForecaster
from tsfm.errors import InputError
from tsfm.training import (
    TrainingFamily,
    register_training_family,
    training_families,
    training_family,
    unregister_training_family,
)

LEVELS = (0.1, 0.5, 0.9)
CONTEXT, HORIZON = 24, 4


class ToyNet(nn.Module):
    """Mean-scaled last ``CONTEXT`` values -> ``LEVELS`` quantiles of the next ``HORIZON``: ``[B, H, 3]``."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(CONTEXT, HORIZON * len(LEVELS))

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        context = context[:, -CONTEXT:]
        context = torch.cat([context.new_full((len(context), CONTEXT - context.shape[1]), torch.nan), context], 1)
        scale = context.abs().nanmean(dim=1, keepdim=True).nan_to_num(1.0).clamp_min(1e-3)  # [B, 1]
        scaled = (context / scale).nan_to_num(0.0)  # [B, CONTEXT]
        return self.proj(scaled).reshape(len(context), HORIZON, len(LEVELS)), scale


class ToyForecaster(BaseForecaster):
    family = "toy-linear"
    max_horizon = HORIZON

    def __init__(self, name: str, net: ToyNet) -> None:
        super().__init__(name)
        self.net = net

    @property
    def context_length(self) -> int:
        return CONTEXT

    def _predict_quantiles(self, context, horizon, levels):
        from tsfm.quantiles import interpolate_quantiles

        padded = np.full((len(context), CONTEXT), np.nan, dtype=np.float32)
        for row, series in enumerate(context):
            tail = np.asarray(series[-CONTEXT:], dtype=np.float32)
            padded[row, CONTEXT - len(tail):] = tail
        with torch.no_grad():
            scaled, scale = self.net(torch.from_numpy(padded))
        native = np.sort((scaled * scale[:, :, None]).numpy()[:, :horizon].astype(np.float64), axis=-1)
        quantiles = interpolate_quantiles(native, np.array(LEVELS), np.asarray(levels))  # [b, horizon, n_q]
        return quantiles, native[..., 1]


class PinballObjective(nn.Module):
    def __init__(self, net: ToyNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        scaled, scale = self.net(context)  # [B, H, 3]
        error = (target / scale)[..., None] - scaled[:, : target.shape[1]]
        q = torch.tensor(LEVELS, dtype=error.dtype)
        return torch.maximum(q * error, (q - 1) * error).nanmean()


class ToyTraining(TrainingFamily):
    name = "toy-linear"
    lora_targets = ("proj",)

    def module(self, model):
        return model.net

    def rebuild(self, model, module, name):
        return ToyForecaster(name, module)

    def objective(self, model, horizon, target_clamp):
        return PinballObjective(model.net)

    def max_horizon(self, model):
        return HORIZON

    def save(self, module, folder):
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / "toy.safetensors"))
        (folder / "toy.json").write_text(json.dumps({"context": CONTEXT, "horizon": HORIZON}))
        return folder / "toy.safetensors"


@pytest.fixture
def toy_family():
    family = register_training_family(ToyTraining())
    yield family
    unregister_training_family(family.name)


def ramps(n: int = 4, length: int = 120) -> list[np.ndarray]:
    """Series a linear map of the context forecasts well: period-6 saw-tooth patterns at various levels."""
    t = np.arange(length)
    rng = np.random.default_rng(0)
    return [(20 + 5 * i + 4 * (t % 6) + rng.normal(0, 0.1, length)).astype(np.float32) for i in range(n)]


def test_when_a_family_unknown_to_adapters_registers_then_full_fine_tuning_trains_it(toy_family, tmp_path):
    torch.manual_seed(0)
    model = ToyForecaster("toy", ToyNet())
    before = copy.deepcopy(model.net.state_dict())
    config = FinetuneConfig(steps=60, batch_size=16, eval_every=20, checkpoint_every=0, warmup_steps=2, lr=3e-2,
                            min_context=8)
    result = finetune(model, ramps(), HORIZON, method="full", config=config, output_dir=tmp_path / "out",
                      baselines=(), season_length=6, progress=False, resume=False, force=True)

    run = result.report["runs"]["full"]
    assert result.report["family"] == "toy-linear" and result.chosen == "full"
    assert run["trainable_share"] == 1.0 and run["best_val_wql"] < run["zero_shot_val_wql"]
    assert run["history"][-1]["train_loss"] < run["history"][0]["train_loss"]
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())  # the model given is kept
    assert isinstance(result.model, ToyForecaster) and result.model.net is not model.net
    assert (tmp_path / "out" / "full" / "model" / "toy.safetensors").is_file()
    marker = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert marker["family"] == "toy-linear" and marker["artifacts"] == {"full": "full/model"}


def test_when_a_family_unknown_to_adapters_registers_then_lora_trains_its_default_targets(toy_family, tmp_path):
    torch.manual_seed(0)
    model = ToyForecaster("toy", ToyNet())
    config = FinetuneConfig(steps=6, batch_size=8, eval_every=3, checkpoint_every=0, warmup_steps=1, min_context=8)
    result = finetune(model, ramps(), HORIZON, method="lora", config=config, output_dir=tmp_path / "out",
                      baselines=(), season_length=6, progress=False, resume=False, force=True)

    assert 0 < result.report["runs"]["lora"]["trainable_share"] < 1
    assert result.report["lora_config"]["target_modules"] == ["proj"]
    assert (tmp_path / "out" / "lora" / "adapter" / "adapter_model.safetensors").is_file()


def test_when_a_horizon_is_beyond_the_familys_longest_then_fine_tuning_refuses_before_reading_data(
    toy_family, tmp_path
):
    with pytest.raises(InputError, match=r"horizon 5 is beyond what this toy-linear model can be fine-tuned for"):
        finetune(ToyForecaster("toy", ToyNet()), ramps(), 5, method="full", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_when_a_family_registers_twice_then_it_is_refused(toy_family):
    with pytest.raises(ValueError, match="training family 'toy-linear' is already registered"):
        register_training_family(ToyTraining())


def test_when_a_model_has_no_training_family_then_the_error_names_the_purpose_and_the_families():
    with pytest.raises(InputError, match=r"merging needs a neural model of a family .*chronos-2, chronos-bolt"):
        training_family(tsfm.load("seasonal-naive"), "merging")
    assert set(CHRONOS_FAMILIES) <= set(training_families())


@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_a_chronos_model_is_rebuilt_around_a_copy_of_its_module_then_it_forecasts_with_that_module(
    tiny_checkpoints, family
):
    model = tsfm.load(str(tiny_checkpoints[family]), device="cpu")
    training = training_family(model)
    module = copy.deepcopy(training.module(model))
    rebuilt = training.rebuild(model, module, "copy")
    series = [np.sin(np.arange(80) / 3.0).astype(np.float32) + 5]

    assert training.module(rebuilt) is module and rebuilt.family == family and rebuilt.name == "copy"
    np.testing.assert_allclose(rebuilt.predict_quantiles(series, 4).quantiles,
                               model.predict_quantiles(series, 4).quantiles, rtol=1e-5, atol=1e-5)
    original = model.predict_quantiles(series, 4).quantiles
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.5)
    assert not np.allclose(rebuilt.predict_quantiles(series, 4).quantiles, original)
    np.testing.assert_array_equal(model.predict_quantiles(series, 4).quantiles, original)  # the model given is kept
    assert training.max_horizon(model) >= 4 and training.lora_targets == ("q", "v")


def test_when_a_family_has_no_quantile_graph_then_teacher_export_names_the_ones_that_do(tiny_checkpoints, tmp_path):
    from tsfm.distill.teacher_export import export_bolt_teacher

    with pytest.raises(InputError, match=r"chronos-2 model cannot be exported .*that can: \[.*'chronos-bolt'.*\]"):
        export_bolt_teacher(str(tiny_checkpoints["chronos-2"]), tmp_path / "t.onnx", horizon=4, context_length=64)


def test_saved_checkpoints_of_a_chronos_family_load_back_as_that_family(tiny_checkpoints, tmp_path):
    model = tsfm.load(str(tiny_checkpoints["chronos-bolt"]), device="cpu")
    training = training_family(model)
    weights = training.save(training.module(model), tmp_path / "saved")
    loaded = tsfm.load(str(tmp_path / "saved"), device="cpu")
    assert weights == Path(tmp_path / "saved" / "model.safetensors") and weights.is_file()
    assert loaded.family == "chronos-bolt"
