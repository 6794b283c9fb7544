"""What a pretraining run is: one validated, JSON-round-tripping config, and the model it builds.

:class:`PretrainConfig` holds every choice of a from-scratch pretraining run (architecture, data
mix, optimiser, schedule, checkpointing). It validates itself on construction, so a bad value
fails before a model is built, with an :class:`~tsfm.errors.InputError` that names the field.

:func:`build_model` turns a config into a freshly initialised upstream model
(``ChronosBoltModelForForecasting`` or ``Chronos2Model``) whose ``save_pretrained`` folder loads
through ``chronos.BaseChronosPipeline.from_pretrained``. It re-applies the T5-style initialisation
by hand, because with transformers 5 the upstream ``_init_weights`` leaves part of the model at
a generic N(0, 1)-style init (see :func:`reinitialise_`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsfm.config_io import JsonConfig
from tsfm.errors import InputError
from tsfm.pretraining.synthetic import SyntheticConfig

FAMILIES = ("chronos-bolt", "chronos-2")
SCHEDULES = ("cosine", "linear")
BOLT_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Chronos-2's 21 levels; ``Chronos2Pipeline.predict`` needs 0.1 ... 0.9 among them.
CHRONOS2_QUANTILES = (0.01, 0.05, *(round(0.05 * k, 2) for k in range(2, 19)), 0.95, 0.99)
_REQUIRED_CHRONOS2 = BOLT_QUANTILES


@dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    """Everything that defines a pretraining run; saved next to the model as ``pretrain_config.json``.

    Parameters
    ----------
    family
        Architecture to pretrain: ``"chronos-bolt"`` (T5 encoder-decoder, direct multi-step quantile
        head) or ``"chronos-2"`` (encoder-only with group attention over related series).
    d_model, d_ff, d_kv
        Width of the hidden states, of the feed-forward layers and of each attention head.
    num_layers
        Encoder layers (both families).
    num_decoder_layers
        Decoder layers (Chronos-Bolt only; ignored for Chronos-2, which has no decoder).
    num_heads
        Attention heads per layer.
    dropout
        Dropout rate inside the transformer (T5's ``dropout_rate``). 0 by default: fresh synthetic
        series every step leave nothing to memorise, and on CPU dropout costs about a third of a step.
    context_length
        Longest history the model sees; a multiple of ``patch_size``.
    patch_size
        Time steps per input patch (and per output patch for Chronos-2).
    prediction_length
        Horizon the model is trained to forecast in one pass.
    quantiles
        Increasing quantile levels in (0, 1) that the model predicts; must include 0.5, and for
        Chronos-2 also 0.1 ... 0.9. ``None``: 0.1 ... 0.9 (Bolt) or Chronos-2's 21 levels.
    steps
        Optimiser steps of the whole run. The learning-rate schedule is a function of this number,
        so a run that is interrupted and resumed follows the same curve.
    batch_size
        Series per optimiser step and per process (the global batch is ``batch_size x processes``).
    lr
        Peak learning rate of AdamW. 3e-4 without clipping learned fastest in the CPU trial.
    warmup_steps
        Steps of linear learning-rate warm-up from 0 to ``lr``.
    schedule
        Decay after warm-up: ``"cosine"`` or ``"linear"``, down to ``min_lr_ratio * lr`` at ``steps``.
    min_lr_ratio
        Final learning rate as a fraction of ``lr``, in [0, 1].
    weight_decay
        AdamW weight decay, applied to weight matrices only (not to biases, norms or embeddings).
    grad_clip
        Clip the global gradient norm to this value; ``None`` disables clipping (clipping at 1.0
        halved the learning speed in the CPU trial).
    clean_warmup_steps
        First steps drawn only from the ``"clean_seasonal"`` generator. From scratch the model
        otherwise sits on a flat-forecast plateau for thousands of steps. Measured with the 1.8M
        Bolt at batch 128 and lr 3e-4: it left the plateau after about 1,200-1,300 clean steps
        (a single fixed-period sine: about 450), hence the default of 2,000.
    short_context_share
        Share of training series left-truncated to a random shorter context (NaN-padded), so the
        model learns to forecast from short histories too.
    min_context_length
        Shortest context that truncation produces.
    short_context_scale
        How truncated context lengths are drawn between ``min_context_length`` and
        ``context_length``: ``"uniform"``, or ``"log"`` (log-uniform: as many 8-32 as 128-512 value
        histories, for short yearly and quarterly series).
    target_clamp
        The target, scaled by the context's mean and standard deviation, is clipped to
        ``+-target_clamp`` in the loss, so rare extreme samples cannot blow the loss up.
    covariate_share
        Chronos-2 only: share of each batch's ``batch_size`` tasks that are covariate tasks (a target
        with past-only and known-future covariates in one group). Each adds one row per variate.
    group_share
        Chronos-2 only: share of the tasks that are groups of 2-8 related series forecast jointly.
        The remaining tasks are univariate windows (and ``extra_data`` windows).
    extra_data
        Optional real series to mix in: a long-format ``.csv``/``.parquet`` (``item_id, timestamp,
        target``), ``aeon:<name>`` or ``hf:<dataset>``. Keep every series you will evaluate on out of
        this file, or the evaluation measures memory rather than forecasting.
    extra_data_share
        Share of each batch drawn from real series (``corpus`` and ``extra_data``) after the clean
        warm-up, in [0, 1).
    corpus
        Real public series to mix in: ``"builtin"`` (the shipped manifest of series bundled in
        installed packages, see :mod:`tsfm.pretraining.corpus`) or a manifest JSON path; ``None``:
        synthetic series (and ``extra_data``) only. Sources named like an evaluation set, and
        series that share a window with one, are left out (:mod:`tsfm.pretraining.contamination`).
    real_mixup_probability
        Share of the real windows replaced by a TSMixup of the real window and a synthetic one.
    evaluation_data
        Folder holding the M4 and ETT files (``m4/``, ``ett/``) whose series the content check keeps
        out of ``corpus`` and ``extra_data``, besides aeon's evaluation sets; ``None``: aeon's only.
    seed
        Seed of the training data stream and of the initial weights. The validation set uses a
        seed derived from it that the training stream never draws.
    init_from
        A model folder (``config.json`` + ``model.safetensors``, e.g. an earlier run's ``model/``)
        or a bundled model's name (``"tsfm-bolt-mini"``) whose weights start this run instead of a
        fresh initialisation: a second stage with another data mix, or a bundled model continued
        on a fleet's own data. Its architecture must equal this config's (checked when the model is built).
    checkpoint_every
        Steps between checkpoints in ``output_dir/checkpoint`` (written atomically).
    checkpoint_minutes
        Also checkpoint when this many minutes have passed since the last checkpoint (or the
        start), so a run on a lent accelerator loses at most that much; ``None``: by steps only.
    data_workers
        Processes that generate batches ahead of the training step (a torch ``DataLoader``); 0
        generates them in the training process. On a GPU the numpy generators are the bottleneck.
    validate_every
        Steps between validation-loss evaluations, logged to ``output_dir/log.jsonl``.
    validation_series
        Series in the fixed held-out synthetic validation set.
    bf16
        Run forward passes under bf16 autocast (CPU or GPU). Faster on CPUs with AMX or AVX512-BF16
        and on recent GPUs; much slower on CPUs without them: measure first.
    synthetic
        Configuration of the synthetic generators (length, generator weights). ``None``: defaults with
        ``length = context_length + prediction_length``. Stored as a nested object in JSON.
    output_dir
        Folder for ``checkpoint/``, ``log.jsonl``, ``model/`` and ``pretrain_config.json``.
    """

    family: str = "chronos-bolt"
    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 4
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_kv: int = 32
    dropout: float = 0.0
    context_length: int = 512
    patch_size: int = 16
    prediction_length: int = 64
    quantiles: tuple[float, ...] | None = None
    steps: int = 10_000
    batch_size: int = 128
    lr: float = 3e-4
    warmup_steps: int = 500
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float | None = None
    clean_warmup_steps: int = 2000
    short_context_share: float = 0.3
    min_context_length: int = 16
    short_context_scale: str = "uniform"
    target_clamp: float = 15.0
    covariate_share: float = 0.0
    group_share: float = 0.0
    extra_data: str | None = None
    extra_data_share: float = 0.2
    corpus: str | None = None
    real_mixup_probability: float = 0.0
    evaluation_data: str | None = None
    seed: int = 0
    init_from: str | None = None
    checkpoint_every: int = 500
    checkpoint_minutes: float | None = None
    data_workers: int = 0
    validate_every: int = 500
    validation_series: int = 256
    bf16: bool = False
    synthetic: SyntheticConfig | None = field(default=None)
    output_dir: str = "runs/pretrain"

    config_name = "pretraining config"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"family must be one of {', '.join(FAMILIES)}; got {self.family!r}")
        if self.quantiles is None:
            default = CHRONOS2_QUANTILES if self.family == "chronos-2" else BOLT_QUANTILES
            object.__setattr__(self, "quantiles", default)
        else:
            object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        if self.synthetic is None:
            length = self.context_length + self.prediction_length if _is_int(self.context_length) else 0
            object.__setattr__(self, "synthetic", SyntheticConfig(length=max(length, 2)))
        elif isinstance(self.synthetic, dict):
            object.__setattr__(self, "synthetic", SyntheticConfig.from_dict(self.synthetic))
        _validate_sizes(self)
        _validate_optimisation(self)
        _validate_data(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need_int(config: PretrainConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if not _is_int(value) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _need_share(config: PretrainConfig, name: str, high_open: bool = False) -> None:
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and 0.0 <= value and (value < 1.0 if high_open else value <= 1.0)
    if not ok:
        raise InputError(f"{name} must be a number in [0, 1{')' if high_open else ']'}; got {value!r}")


def _validate_sizes(c: PretrainConfig) -> None:
    for name in ("d_model", "d_ff", "num_layers", "num_heads", "d_kv", "patch_size", "context_length"):
        _need_int(c, name, 1)
    _need_int(c, "num_decoder_layers", 1 if c.family == "chronos-bolt" else 0)
    if not _is_int(c.prediction_length) or c.prediction_length <= 0:
        raise InputError(f"prediction_length must be a positive integer; got {c.prediction_length!r}")
    if c.context_length % c.patch_size:
        raise InputError(
            f"context_length must be a multiple of patch_size={c.patch_size}; got {c.context_length} "
            f"(try {max(c.patch_size, c.context_length // c.patch_size * c.patch_size)})"
        )
    _need_share(c, "dropout", high_open=True)
    q = c.quantiles or ()
    if not q or any(not 0.0 < x < 1.0 for x in q) or any(a >= b for a, b in zip(q, q[1:])):
        raise InputError(f"quantiles must be strictly increasing levels in (0, 1); got {list(q)}")
    required = _REQUIRED_CHRONOS2 if c.family == "chronos-2" else (0.5,)
    missing = [r for r in required if not any(math.isclose(r, x, abs_tol=1e-9) for x in q)]
    if missing:
        raise InputError(
            f"quantiles for {c.family} must include {list(required)}; missing {missing} in {list(q)}"
        )


def _validate_optimisation(c: PretrainConfig) -> None:
    _need_int(c, "steps", 1)
    _need_int(c, "batch_size", 1)
    for name in ("warmup_steps", "clean_warmup_steps", "seed"):
        _need_int(c, name, 0)
    for name in ("checkpoint_every", "validate_every", "validation_series"):
        _need_int(c, name, 1)
    if not isinstance(c.lr, (int, float)) or not c.lr > 0 or not math.isfinite(c.lr):
        raise InputError(f"lr must be a positive number; got {c.lr!r}")
    if c.schedule not in SCHEDULES:
        raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}; got {c.schedule!r}")
    _need_share(c, "min_lr_ratio")
    if not isinstance(c.weight_decay, (int, float)) or c.weight_decay < 0:
        raise InputError(f"weight_decay must be a number >= 0; got {c.weight_decay!r}")
    if c.grad_clip is not None and (not isinstance(c.grad_clip, (int, float)) or not c.grad_clip > 0):
        raise InputError(f"grad_clip must be a positive number or null; got {c.grad_clip!r}")
    if c.checkpoint_minutes is not None and (
        isinstance(c.checkpoint_minutes, bool) or not isinstance(c.checkpoint_minutes, (int, float))
        or not c.checkpoint_minutes > 0
    ):
        raise InputError(f"checkpoint_minutes must be a positive number or null; got {c.checkpoint_minutes!r}")
    _need_int(c, "data_workers", 0)
    if not isinstance(c.bf16, bool):
        raise InputError(f"bf16 must be true or false; got {c.bf16!r}")


def _validate_data(c: PretrainConfig) -> None:
    _need_share(c, "short_context_share")
    _need_int(c, "min_context_length", 1)
    if c.min_context_length > c.context_length:
        raise InputError(
            f"min_context_length must be <= context_length={c.context_length}; got {c.min_context_length}"
        )
    if c.short_context_scale not in ("uniform", "log"):
        raise InputError(f"short_context_scale must be 'uniform' or 'log'; got {c.short_context_scale!r}")
    if not isinstance(c.target_clamp, (int, float)) or not c.target_clamp > 0:
        raise InputError(f"target_clamp must be a positive number; got {c.target_clamp!r}")
    for name in ("covariate_share", "group_share"):
        _need_share(c, name)
        if c.family != "chronos-2" and getattr(c, name):
            raise InputError(f"{name} applies to chronos-2 only; got {getattr(c, name)} for {c.family}")
    _need_share(c, "extra_data_share", high_open=True)
    real = c.extra_data_share if (c.extra_data or c.corpus) else 0.0
    total = c.covariate_share + c.group_share + real
    if total > 1.0:
        raise InputError(
            f"covariate_share + group_share + extra_data_share must be <= 1; got {total:g} "
            f"({c.covariate_share} + {c.group_share} + {real})"
        )
    _need_share(c, "real_mixup_probability")
    for name in ("corpus", "evaluation_data"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            what = "'builtin' or a manifest JSON path" if name == "corpus" else "a folder path"
            raise InputError(f"{name} must be {what}, or null; got {value!r}")
    if c.extra_data is not None and (not isinstance(c.extra_data, str) or not c.extra_data.strip()):
        raise InputError(
            f"extra_data must be a file path, aeon:<name> or hf:<dataset>, or null; got {c.extra_data!r}"
        )
    if not isinstance(c.synthetic, SyntheticConfig):
        raise InputError(f"synthetic must be a SyntheticConfig, an object or null; got {c.synthetic!r}")
    needed = c.context_length + c.prediction_length
    if c.synthetic.length < needed:
        raise InputError(
            f"synthetic.length must be >= context_length + prediction_length = {needed}; "
            f"got {c.synthetic.length}"
        )
    if not isinstance(c.output_dir, str) or not c.output_dir:
        raise InputError(f"output_dir must be a non-empty path; got {c.output_dir!r}")


# ---- model building ------------------------------------------------------------------------
def build_model(config: PretrainConfig) -> nn.Module:
    """A freshly initialised upstream model for ``config``, ready to train.

    Returns ``chronos.chronos_bolt.ChronosBoltModelForForecasting`` or ``chronos.Chronos2Model``
    in float32 on the CPU, with the T5-style initialisation applied (see :func:`reinitialise_`).
    Its ``save_pretrained`` folder loads through ``chronos.BaseChronosPipeline.from_pretrained``.
    Seeds torch's global generator with ``config.seed`` first, so every process of a distributed
    run starts from the same weights.
    """
    torch.manual_seed(config.seed)
    common = dict(
        d_model=config.d_model, d_kv=config.d_kv, d_ff=config.d_ff, num_layers=config.num_layers,
        num_heads=config.num_heads, dropout_rate=config.dropout, feed_forward_proj="relu",
        # Upstream Chronos-2 defaults to 0.05, which shrinks every weight 20x; T5's 1.0 for both.
        initializer_factor=1.0,
    )
    quantiles = list(config.quantiles or ())
    if config.family == "chronos-bolt":
        from chronos.chronos_bolt import ChronosBoltModelForForecasting
        from transformers import T5Config

        chronos_config = dict(
            context_length=config.context_length, prediction_length=config.prediction_length,
            input_patch_size=config.patch_size, input_patch_stride=config.patch_size,
            quantiles=quantiles, use_reg_token=True,
        )
        t5 = T5Config(
            vocab_size=2, reg_token_id=1, num_decoder_layers=config.num_decoder_layers,
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, is_encoder_decoder=True,
            chronos_pipeline_class="ChronosBoltPipeline", chronos_config=chronos_config, **common,
        )
        model: nn.Module = ChronosBoltModelForForecasting(t5)
    else:
        from chronos import Chronos2Model
        from chronos.chronos2 import Chronos2CoreConfig

        chronos_config = dict(
            context_length=config.context_length, input_patch_size=config.patch_size,
            input_patch_stride=config.patch_size, output_patch_size=config.patch_size,
            max_output_patches=math.ceil(config.prediction_length / config.patch_size),
            quantiles=quantiles, use_reg_token=True, use_arcsinh=True,
            time_encoding_scale=config.context_length,
        )
        core = Chronos2CoreConfig(
            chronos_pipeline_class="Chronos2Pipeline", chronos_config=chronos_config, **common
        )
        model = Chronos2Model(core)
    reinitialise_(model)
    if config.init_from is not None:
        load_initial_weights(model, initial_weights_folder(config.init_from))
    return model


def initial_weights_folder(init_from: str) -> Path:
    """The folder ``init_from`` names: a bundled model's name (``"tsfm-bolt-mini"``) or a path."""
    from tsfm.bundled import BUNDLED_MODELS, bundled_model_path

    return bundled_model_path(init_from) if init_from in BUNDLED_MODELS else Path(init_from)


def load_initial_weights(model: nn.Module, folder: Path) -> None:
    """Copy the weights of the model folder ``folder`` into ``model`` (safetensors only, strict)."""
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise InputError(f"init_from {str(folder)!r} has no model.safetensors; pass a Chronos model folder")
    state = load_file(str(weights))
    own = model.state_dict()
    tied_names = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")  # stored once, as shared
    tied = {k for k in own if k not in state and k.endswith(tied_names)}
    missing = sorted(set(own) - set(state) - tied)
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise InputError(
            f"init_from {str(folder)!r} does not match this config's architecture: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, different shapes {shapes[:3]}"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)


def reinitialise_(model: nn.Module) -> nn.Module:
    """Apply the T5 / Mesh-TensorFlow initialisation to every layer of a Chronos model, in place.

    Why by hand: with transformers 5 the upstream ``_init_weights`` runs through guarded init
    functions that skip a tensor once a generic rule has touched it, so the Chronos-specific rules
    never fire: the patch-embedding blocks (Bolt) or all layers (Chronos-2) stay at std 1 or
    ``initializer_factor`` instead of ``fan_in ** -0.5`` (and in some set-ups the layer norms
    come out 0), and training learns nothing for a long time. Plain ``torch.nn.init`` calls are
    not guarded. :func:`weight_report` shows the statistics.

    Rules (T5): norms 1; embeddings N(0, 1); attention q N(0, (d_model d_kv)^-1/2), k and v
    N(0, d_model^-1/2), o N(0, (heads d_kv)^-1/2), relative-position bias N(0, d_model^-1/2);
    every other linear layer N(0, fan_in^-1/2) with zero bias.
    """
    from chronos.chronos2.layers import MHA
    from transformers.models.t5.modeling_t5 import T5Attention

    attention = [m for m in model.modules() if isinstance(m, (T5Attention, MHA))]
    # Layers that the attention rule sets; the generic rules below must leave them alone.
    handled = {id(layer) for m in attention for layer in (m.q, m.k, m.v, m.o)}
    handled |= {id(m.relative_attention_bias) for m in attention if hasattr(m, "relative_attention_bias")}
    for m in attention:
        d_model, heads, d_kv = m.q.in_features, m.n_heads, m.q.out_features // m.n_heads
        # T5 attention has no 1/sqrt(d_kv) factor: the small q init keeps the logits at unit scale.
        nn.init.normal_(m.q.weight, std=(d_model * d_kv) ** -0.5)
        nn.init.normal_(m.k.weight, std=d_model**-0.5)
        nn.init.normal_(m.v.weight, std=d_model**-0.5)
        nn.init.normal_(m.o.weight, std=(heads * d_kv) ** -0.5)
        if getattr(m, "relative_attention_bias", None) is not None:
            nn.init.normal_(m.relative_attention_bias.weight, std=d_model**-0.5)
    for module in model.modules():
        if id(module) in handled:
            continue
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=module.in_features**-0.5)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)
        elif type(module).__name__.endswith("LayerNorm"):  # T5LayerNorm, Chronos2LayerNorm
            nn.init.ones_(module.weight)
    return model


def weight_report(model: nn.Module) -> dict[str, tuple[float, float]]:
    """Parameter name -> (mean, std) of a model's weights: a quick check that initialisation took."""
    return {
        name: (p.detach().float().mean().item(), p.detach().float().std().item() if p.numel() > 1 else 0.0)
        for name, p in model.named_parameters()
    }
