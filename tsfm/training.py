"""The per-family training interface: what fine-tuning, merging, adapter banks and teacher export need.

A backend that loads a trainable model family registers one :class:`TrainingFamily` for it,
beside its loader, with :func:`register_training_family`. The forecasters of that family carry
its name as ``.family``; :func:`training_family` finds the interface from a loaded forecaster.
``tsfm.adapters`` and ``tsfm.distill`` use only this interface and never import a backend, so a
new family adds its backend module, its registration and its tests, and nothing else.

What a family provides (forecasters in, forecasters out; ``model`` is never modified):

==================  ==============================================================================
``module``          the torch module holding every weight (trained, LoRA-wrapped, fingerprinted)
``rebuild``         a new forecaster like ``model`` that forecasts with a given (trained) module
``objective``       the loss on a batch of windows: ``forward(context [B, T], target [B, H])``
``max_horizon``     the longest horizon one forward pass produces: the longest trainable one
``save``            a checkpoint folder of a module that ``tsfm.load`` reads back as the family
``lora_targets``    default LoRA target modules (names of ``nn.Linear`` layers)
``quantile_graph``  optional: a fixed-shape ``context -> quantiles`` module for ONNX teacher export
==================  ==============================================================================
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsfm.errors import InputError

if TYPE_CHECKING:
    from torch import nn

_FAMILIES: dict[str, TrainingFamily] = {}


@dataclass(frozen=True)
class QuantileGraph:
    """A module fit for ONNX export: ``forward(context [B, context_length]) -> quantiles [B, horizon, n_q]``.

    Attributes
    ----------
    module
        The module, in eval mode, a copy independent of the forecaster it came from.
    quantile_levels
        The levels of the output's last axis, ascending.
    metadata
        Strings stored in the exported file (e.g. ``normalisation``, ``padding``).
    """

    module: Any
    quantile_levels: tuple[float, ...]
    metadata: dict[str, str] = field(default_factory=dict)


class TrainingFamily(ABC):
    """How one model family is trained and rebuilt; subclass it and register an instance.

    Attributes
    ----------
    name
        The family, as the forecasters of this family carry it in ``.family``.
    lora_targets
        Default LoRA target modules: last name-parts of ``nn.Linear`` layers of :meth:`module`.
    """

    name: str = ""
    lora_targets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @abstractmethod
    def module(self, model: Any) -> nn.Module:
        """The torch module holding every weight of ``model``: the one it forecasts with, not a copy."""

    @abstractmethod
    def rebuild(self, model: Any, module: nn.Module, name: str) -> Any:
        """A new forecaster like ``model``, named ``name``, that forecasts with ``module``.

        ``module`` has the architecture of :meth:`module` of ``model`` (a trained copy of it, possibly
        with LoRA layers injected) and is used as it is, not copied: training it afterwards, or
        switching its adapters, changes the new forecaster's forecasts. ``model`` is not modified,
        and ``self.module(new) is module``.
        """

    @abstractmethod
    def objective(self, model: Any, horizon: int, target_clamp: float) -> nn.Module:
        """The training loss of ``model`` on windows, as a module over the parameters of :meth:`module`.

        ``forward(context [B, T], target [B, horizon]) -> scalar loss``; ``context`` is left-padded
        with NaN where a window is short. A module, not a function: under ``accelerate`` it is
        wrapped in DistributedDataParallel, which synchronises gradients only through ``forward``.
        ``target_clamp`` bounds scaled targets for families that scale them (others ignore it).
        """

    @abstractmethod
    def max_horizon(self, model: Any) -> int:
        """The longest horizon one forward pass of ``model`` produces: the longest it can be trained for."""

    @abstractmethod
    def save(self, module: nn.Module, folder: Path) -> Path:
        """Write ``module`` to ``folder`` as a checkpoint ``tsfm.load`` reads as this family; the weights file."""

    def context_length(self, model: Any) -> int:
        """The longest context ``model`` reads; training windows are cut to it."""
        return int(model.context_length)

    def quantile_graph(self, model: Any, horizon: int, context_length: int) -> QuantileGraph:
        """A fixed-shape quantile module for ONNX export; families without one refuse."""
        able = sorted(n for n, f in _FAMILIES.items() if type(f).quantile_graph is not TrainingFamily.quantile_graph)
        raise InputError(
            f"a {self.name} model cannot be exported as a fixed-shape teacher graph; families that can: {able}"
        )


def register_training_family(family: TrainingFamily) -> TrainingFamily:
    """Register ``family`` under ``family.name``; a name registered twice is refused."""
    if not isinstance(family, TrainingFamily) or not family.name:
        raise ValueError(f"expected a TrainingFamily instance with a name, got {family!r}")
    if family.name in _FAMILIES:
        raise ValueError(f"training family {family.name!r} is already registered ({_FAMILIES[family.name]!r})")
    _FAMILIES[family.name] = family
    return family


def unregister_training_family(name: str) -> None:
    """Remove a registered family (for tests that register a family of their own)."""
    _FAMILIES.pop(name, None)


def training_families() -> list[str]:
    """Names of every registered training family, sorted."""
    importlib.import_module("tsfm.backends")  # the built-in families register on import
    return sorted(_FAMILIES)


def training_family(model: Any, purpose: str = "fine-tuning") -> TrainingFamily:
    """The :class:`TrainingFamily` of a loaded forecaster, looked up by its ``.family``.

    Raises
    ------
    InputError
        ``model`` belongs to no registered family (a classical baseline, a student, an ensemble);
        the message names ``purpose`` and the families that can be trained.
    """
    known = training_families()
    family = getattr(model, "family", None)
    if not isinstance(family, str) or family not in _FAMILIES:
        raise InputError(
            f"{purpose} needs a neural model of a family with a training interface ({', '.join(known)}) "
            f"loaded with tsfm.load; got {model!r}. Classical baselines have nothing to fine-tune."
        )
    return _FAMILIES[family]
