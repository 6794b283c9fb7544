"""TimesFM 2.5 through the per-family training interface: full and LoRA fine-tuning, save and reload, offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tsfm
from tests.conftest import TINY_FAMILIES
from tsfm.adapters.config import FinetuneConfig
from tsfm.adapters.finetune import finetune
from tsfm.training import training_family

pytestmark = pytest.mark.skipif("timesfm" not in TINY_FAMILIES, reason="the timesfm package is not installed")
HORIZON = 16


def saw_teeth(n: int = 4, length: int = 200) -> list[np.ndarray]:
    """Period-8 saw-tooth series at several levels: easy to learn, hard for random weights."""
    t = np.arange(length)
    rng = np.random.default_rng(0)
    return [(20 + 5 * i + 3 * (t % 8) + rng.normal(0, 0.1, length)).astype(np.float32) for i in range(n)]


def _config(steps: int) -> FinetuneConfig:
    return FinetuneConfig(steps=steps, batch_size=8, eval_every=steps // 2, checkpoint_every=0, warmup_steps=1,
                          lr=3e-3, min_context=32)


@pytest.mark.slow  # tens of seconds on 2 busy cores; the LoRA test below is the fast variant
def test_when_timesfm_is_fully_fine_tuned_then_its_loss_falls_and_the_saved_checkpoint_loads_back(
    tiny_checkpoints, tmp_path
):
    torch.manual_seed(0)
    model = tsfm.load(str(tiny_checkpoints["timesfm"]), device="cpu")
    before = {k: v.clone() for k, v in training_family(model).module(model).state_dict().items()}
    result = finetune(model, saw_teeth(), HORIZON, method="full", config=_config(8), output_dir=tmp_path / "out",
                      baselines=(), season_length=8, progress=False, resume=False, force=True)

    history = result.report["runs"]["full"]["history"]
    assert result.report["family"] == "timesfm"
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    module = training_family(model).module(model)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())  # the model given is kept
    reloaded = tsfm.load(str(tmp_path / "out" / "full" / "model"), device="cpu")  # the trained weights, saved
    assert reloaded.family == "timesfm"
    trained = training_family(reloaded).module(reloaded).state_dict()
    assert any(not torch.equal(before[k], v) for k, v in trained.items())
    assert np.isfinite(reloaded.predict_quantiles(saw_teeth(2), HORIZON).quantiles).all()


def test_when_timesfm_is_tuned_with_lora_then_only_its_attention_adapters_train(tiny_checkpoints, tmp_path):
    torch.manual_seed(0)
    model = tsfm.load(str(tiny_checkpoints["timesfm"]), device="cpu")
    result = finetune(model, saw_teeth(), HORIZON, method="lora", config=_config(4), output_dir=tmp_path / "out",
                      baselines=(), season_length=8, progress=False, resume=False, force=True)

    assert 0 < result.report["runs"]["lora"]["trainable_share"] < 1
    assert sorted(result.report["lora_config"]["target_modules"]) == ["out", "qkv_proj"]
    assert (tmp_path / "out" / "lora" / "adapter" / "adapter_model.safetensors").is_file()
