"""Tiny random-weight checkpoints of the real Chronos architectures, for tests and benchmarks.

Each builder constructs the upstream model class (``T5ForConditionalGeneration`` for
Chronos-T5, ``ChronosBoltModelForForecasting``, ``Chronos2Model``) from a small config,
seeds torch so the weights are the same on every run, and writes it with
``save_pretrained``. The folder then loads through the real
``chronos.BaseChronosPipeline.from_pretrained(folder)`` path and through
``tsfm.load(folder)``, exactly as a downloaded checkpoint would.

The weights are random: the forecasts mean nothing, but every shape, code path and
timing is the real one. The defaults build in well under a second on a CPU.

>>> from tsfm.testing import build_tiny_checkpoint
>>> folder = build_tiny_checkpoint("chronos-bolt", tmp_dir / "bolt")  # doctest: +SKIP
>>> model = tsfm.load(str(folder))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsfm.errors import InputError

FAMILIES = ("chronos-t5", "chronos-bolt", "chronos-2")

BOLT_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Chronos-2 predicts 21 levels; ``predict`` needs 0.1..0.9 among them for long horizons.
CHRONOS2_QUANTILES: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99,
)  # fmt: skip


def build_tiny_chronos_t5(
    path: str | Path,
    *,
    d_model: int = 64,
    num_layers: int = 2,
    n_tokens: int = 32,
    context_length: int = 512,
    prediction_length: int = 64,
    num_samples: int = 20,
    seed: int = 0,
) -> Path:
    """Save a random-weight Chronos-T5 checkpoint (``ChronosPipeline``) into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json``, ``generation_config.json`` and the weights into;
        created when absent.
    d_model
        Hidden size; ``d_ff = 4 * d_model`` and ``d_kv = d_model // 4`` with 4 heads.
    num_layers
        Encoder layers, and as many decoder layers.
    n_tokens
        Vocabulary size of the mean-scale uniform-bins tokenizer (2 special tokens).
    context_length, prediction_length
        The model's native limits (the real models use 512 and 64).
    num_samples
        Sample paths drawn per series by default.
    seed
        Seed of torch's generator, so the same arguments give the same weights.

    Returns
    -------
    Path
        ``path``, for chaining.
    """
    from transformers import T5Config, T5ForConditionalGeneration

    chronos_config = _t5_chronos_config(n_tokens, context_length, prediction_length, num_samples)
    config = T5Config(
        vocab_size=n_tokens,
        chronos_config=chronos_config,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        **_t5_dims(d_model, num_layers, num_layers),
    )
    return _build_and_save(lambda: T5ForConditionalGeneration(config), path, seed)


def build_tiny_chronos_bolt(
    path: str | Path,
    *,
    d_model: int = 64,
    num_layers: int = 2,
    num_decoder_layers: int | None = None,
    context_length: int = 2048,
    prediction_length: int = 64,
    patch_size: int = 16,
    seed: int = 0,
) -> Path:
    """Save a random-weight Chronos-Bolt checkpoint (``ChronosBoltPipeline``) into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json`` and the weights into; created when absent.
    d_model
        Hidden size; ``d_ff = 4 * d_model`` and ``d_kv = d_model // 4`` with 4 heads
        (Bolt-tiny is ``d_model=256, num_layers=4``).
    num_layers, num_decoder_layers
        Encoder and decoder depth; the decoder defaults to the encoder's.
    context_length, prediction_length, patch_size
        Native context, native horizon and input patch size (real: 2048, 64, 16).
    seed
        Seed of torch's generator, so the same arguments give the same weights.

    Returns
    -------
    Path
        ``path``, for chaining.
    """
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    chronos_config = {
        "context_length": context_length,
        "input_patch_size": patch_size,
        "input_patch_stride": patch_size,
        "prediction_length": prediction_length,
        "quantiles": list(BOLT_QUANTILES),
        "use_reg_token": True,
    }
    config = T5Config(
        vocab_size=2,
        reg_token_id=1,
        chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config=chronos_config,
        architectures=["ChronosBoltModelForForecasting"],
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        **_t5_dims(d_model, num_layers, num_decoder_layers or num_layers),
    )
    return _build_and_save(lambda: ChronosBoltModelForForecasting(config), path, seed)


def build_tiny_chronos2(
    path: str | Path,
    *,
    d_model: int = 64,
    num_layers: int = 2,
    context_length: int = 8192,
    max_output_patches: int = 64,
    patch_size: int = 16,
    seed: int = 0,
) -> Path:
    """Save a random-weight Chronos-2 checkpoint (``Chronos2Pipeline``) into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json`` and the weights into; created when absent.
    d_model
        Hidden size; ``d_ff = 4 * d_model`` and ``d_kv = d_model // 4`` with 4 heads.
    num_layers
        Encoder layers (Chronos-2 is encoder-only).
    context_length
        Native context length (real: 8192).
    max_output_patches, patch_size
        The native horizon is ``max_output_patches * patch_size`` (real: 64 * 16 = 1024).
    seed
        Seed of torch's generator, so the same arguments give the same weights.

    Returns
    -------
    Path
        ``path``, for chaining.
    """
    from chronos import Chronos2Model
    from chronos.chronos2 import Chronos2CoreConfig

    chronos_config = {
        "context_length": context_length,
        "input_patch_size": patch_size,
        "input_patch_stride": patch_size,
        "output_patch_size": patch_size,
        "max_output_patches": max_output_patches,
        "quantiles": list(CHRONOS2_QUANTILES),
        "use_reg_token": True,
        "use_arcsinh": True,
        "time_encoding_scale": context_length,
    }
    dims = _t5_dims(d_model, num_layers, num_layers)
    dims.pop("num_decoder_layers")
    config = Chronos2CoreConfig(
        chronos_pipeline_class="Chronos2Pipeline",
        chronos_config=chronos_config,
        architectures=["Chronos2Model"],
        **dims,
    )
    return _build_and_save(lambda: Chronos2Model(config), path, seed)


_BUILDERS: dict[str, Callable[..., Path]] = {
    "chronos-t5": build_tiny_chronos_t5,
    "chronos-bolt": build_tiny_chronos_bolt,
    "chronos-2": build_tiny_chronos2,
}
_AVAILABLE: dict[str, Callable[[], bool]] = {}


def register_tiny_builder(
    family: str, builder: Callable[..., Path], available: Callable[[], bool] | None = None
) -> Callable[..., Path]:
    """Register ``builder(path, **kwargs) -> path`` for ``family``, beside the family's backend.

    A family whose package is optional passes ``available`` (whether it imports here); tests build
    its checkpoint only where it does. Every family in :func:`tiny_families` joins the conformance
    suite (``tests/test_conformance.py``) without touching it.
    """
    if family in _BUILDERS:
        raise ValueError(f"a tiny-checkpoint builder for {family!r} is already registered")
    _BUILDERS[family] = builder
    if available is not None:
        _AVAILABLE[family] = available
    return builder


def tiny_families() -> tuple[str, ...]:
    """Families with a registered tiny-checkpoint builder whose package is installed here."""
    import importlib

    importlib.import_module("tsfm.backends")  # backends register their builders on import
    return tuple(family for family in _BUILDERS if _AVAILABLE.get(family, lambda: True)())


def build_tiny_checkpoint(family: str, path: str | Path, **kwargs: Any) -> Path:
    """Save a tiny random-weight checkpoint of ``family`` into ``path``.

    Parameters
    ----------
    family
        ``"chronos-t5"``, ``"chronos-bolt"``, ``"chronos-2"`` or another family's registered name
        (:func:`tiny_families`).
    path
        Folder to write into; created when absent.
    **kwargs
        Passed to the family's builder (``d_model``, ``num_layers``, ``seed``, ...).

    Returns
    -------
    Path
        ``path``.
    """
    if family not in _BUILDERS:
        raise InputError(f"family must be one of {tuple(_BUILDERS)}, got {family!r}")
    return _BUILDERS[family](path, **kwargs)


def _t5_chronos_config(
    n_tokens: int, context_length: int, prediction_length: int, num_samples: int
) -> dict[str, Any]:
    """The ``chronos_config`` entry of a Chronos-T5 ``config.json``, as the released models have it."""
    return {
        "tokenizer_class": "MeanScaleUniformBins",
        "tokenizer_kwargs": {"low_limit": -15.0, "high_limit": 15.0},
        "n_tokens": n_tokens,
        "n_special_tokens": 2,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "use_eos_token": True,
        "model_type": "seq2seq",
        "context_length": context_length,
        "prediction_length": prediction_length,
        "num_samples": num_samples,
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 1.0,
    }


def _t5_dims(d_model: int, num_layers: int, num_decoder_layers: int) -> dict[str, Any]:
    """T5-style sizes scaled from ``d_model`` (4 heads, ``d_ff = 4 * d_model``)."""
    for name, value in (("d_model", d_model), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if d_model % 4:
        raise InputError(f"d_model must be a multiple of 4 (4 attention heads), got {d_model}")
    return {
        "d_model": d_model,
        "d_kv": d_model // 4,
        "d_ff": 4 * d_model,
        "num_layers": num_layers,
        "num_decoder_layers": num_decoder_layers,
        "num_heads": 4,
        "feed_forward_proj": "relu",
    }


def _build_and_save(make_model: Callable[[], Any], path: str | Path, seed: int) -> Path:
    """Build a model under a fixed seed, repair its initialisation and save it."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no "Writing model shards" bars
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = make_model()
        _rescale_residual_blocks(model)
    model.eval()
    model.save_pretrained(folder)
    return folder


def _rescale_residual_blocks(model: Any) -> None:
    """Give the patch-embedding MLPs fan-in-scaled weights.

    With transformers 5, constructing ``ChronosBoltModelForForecasting`` directly leaves
    its ``ResidualBlock`` linear layers at standard deviation 1, so random forecasts
    come out hundreds of scales wide (and overflow through Chronos-2's ``sinh``). A
    ``1 / sqrt(fan_in)`` scale keeps the random outputs of order one.
    """
    import torch

    with torch.no_grad():
        for module in model.modules():
            if type(module).__name__ != "ResidualBlock":
                continue
            for layer in (module.hidden_layer, module.output_layer, module.residual_layer):
                layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.weight.shape[-1]))
                if layer.bias is not None:
                    layer.bias.zero_()
