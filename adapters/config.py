"""Every choice of a fine-tuning run, validated before any model is touched.

:class:`FinetuneConfig` covers the loop (steps, batch, learning rate, accumulation, precision,
early stopping, checkpoints) and the data split; the LoRA settings themselves are peft's own
``LoraConfig`` (or a dict of its fields), passed to :func:`tsfm.adapters.finetune.finetune` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsfm.config_io import JsonConfig
from tsfm.errors import InputError
from tsfm.perturb import check_augment

METHODS = ("lora", "full")
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass(frozen=True)
class FinetuneConfig(JsonConfig):
    """Settings of one fine-tuning run.

    Attributes
    ----------
    steps
        Most optimiser steps; early stopping may end the run sooner.
    batch_size
        Windows per optimiser step, summed over processes and accumulation micro-batches.
    grad_accum
        Micro-batches per optimiser step (``batch_size`` must divide by ``grad_accum * processes``);
        trades memory for time on the same effective batch.
    lr
        Peak learning rate (linear warm-up, then linear decay to 10%). LoRA tolerates and needs a
        larger rate than full fine-tuning: the defaults per method are :data:`DEFAULT_LR`.
    warmup_steps
        Steps of linear warm-up.
    weight_decay
        AdamW weight decay on weight matrices.
    eval_every
        Steps between validation scores (WQL on the held-out validation windows).
    patience
        Validations without improvement before stopping; the best weights are kept.
    checkpoint_every
        Steps between checkpoints (``output_dir/checkpoint``) for resuming; 0 disables them.
    context_length
        Longest context a training window holds; ``None`` = the model's native context length.
    min_context
        Fewest past observations a training window needs.
    windows
        Rolling windows per series for early stopping, and as many again for the verdict, cut from
        the end (:mod:`tsfm.adapters.windows`). ``None`` = 3 where the series allow: a series too
        short for 3 of each gets fewer. A number asks for that many: when not one series is long
        enough for them, the run is refused with the length needed.
    mixed_precision
        ``"no"``, ``"bf16"`` or ``"fp16"``; applies on GPUs only (bf16 is slow on most CPUs).
    target_clamp
        Bound on the scaled target in the quantile loss (Bolt, Chronos-2): one series with a near-flat
        context and a jump cannot dominate a batch.
    seed
        Seeds window sampling, dropout and LoRA initialisation.
    augment
        Noise-injection training: the probability that a training window's context is perturbed
        by one of the stress perturbations (:mod:`tsfm.perturb`: noise, missing stretches, spikes,
        level shifts, stuck sensors, time warp) at a severity drawn from its grid. The target is
        never perturbed. 0 (default) trains on clean windows.
    augment_perturbations
        Perturbations drawn from when ``augment > 0``; ``None`` = all of them.
    """

    steps: int = 300
    batch_size: int = 32
    grad_accum: int = 1
    lr: float | None = None
    warmup_steps: int = 10
    weight_decay: float = 0.0
    eval_every: int = 25
    patience: int = 4
    checkpoint_every: int = 50
    context_length: int | None = None
    min_context: int = 16
    windows: int | None = None
    mixed_precision: str = "no"
    target_clamp: float = 15.0
    seed: int = 0
    augment: float = 0.0
    augment_perturbations: tuple[str, ...] | None = None

    config_name = "fine-tuning config"

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 1), ("batch_size", 1), ("grad_accum", 1), ("warmup_steps", 0),
                              ("eval_every", 1), ("patience", 1), ("checkpoint_every", 0), ("min_context", 1),
                              ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"FinetuneConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.batch_size % self.grad_accum:
            raise InputError(
                f"FinetuneConfig.batch_size ({self.batch_size}) must be a multiple of grad_accum ({self.grad_accum})"
            )
        if self.context_length is not None and (
            isinstance(self.context_length, bool) or not isinstance(self.context_length, int)
            or self.context_length < self.min_context
        ):
            raise InputError(
                f"FinetuneConfig.context_length must be None or an integer >= min_context ({self.min_context}), "
                f"got {self.context_length!r}"
            )
        if self.windows is not None and (
            isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1
        ):
            raise InputError(f"FinetuneConfig.windows must be None or an integer >= 1, got {self.windows!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"FinetuneConfig.lr must be None or a number in (0, 1), got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InputError(f"FinetuneConfig.weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise InputError(
                f"FinetuneConfig.mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}"
            )
        if not (isinstance(self.target_clamp, (int, float)) and self.target_clamp > 0):
            raise InputError(f"FinetuneConfig.target_clamp must be a number > 0, got {self.target_clamp!r}")
        check_augment("FinetuneConfig", self.augment, self.augment_perturbations)
        if self.augment_perturbations is not None:  # JSON gives a list
            object.__setattr__(self, "augment_perturbations", tuple(self.augment_perturbations))

    def learning_rate(self, method: str) -> float:
        """``lr`` when set, else the default of ``method``."""
        return float(self.lr) if self.lr is not None else DEFAULT_LR[method]


# LoRA trains a few new matrices from zero and needs a larger step than full fine-tuning, which
# moves pretrained weights and forgets quickly at the same rate.
DEFAULT_LR = {"lora": 1e-3, "full": 1e-4}


def validate_method(method: Any) -> str:
    """``method`` if it is one of :data:`METHODS`, else an :class:`InputError`."""
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    return method
