"""LoRA through peft on the torch module of any trainable family: build the config, check it, wrap, save
small, load back.

peft's own :class:`peft.LoraConfig` is the configuration; a dict of its fields or ``None`` (the
family's defaults, :attr:`tsfm.training.TrainingFamily.lora_targets`) are accepted too. Target modules are
checked against the model before peft sees them, so a typo lists the names that exist.

Adapters are saved in peft's folder format (``adapter_config.json`` +
``adapter_model.safetensors``), with the weights stored in float16: half the bytes, and the
rounding is far below what training moves them by. They load back into float32 layers, from
safetensors only: an adapter saved as a pickle (``adapter_model.bin``) is refused without being
opened, since unpickling runs whatever code the file holds.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsfm.errors import CheckpointError, InputError

DEFAULT_RANK = 4
DEFAULT_ALPHA = 8


def make_lora_config(lora_config: Any, default_targets: tuple[str, ...]) -> Any:
    """A ``peft.LoraConfig`` from ``None`` (defaults), a dict of its fields, or a ``LoraConfig``.

    peft accepts any rank; a rank below 1 is refused here, before a model is wrapped.
    """
    from peft import LoraConfig

    if lora_config is None:
        return LoraConfig(r=DEFAULT_RANK, lora_alpha=DEFAULT_ALPHA, lora_dropout=0.0,
                          target_modules=list(default_targets), bias="none")
    if isinstance(lora_config, LoraConfig):
        check_rank(lora_config.r)
        return lora_config
    if isinstance(lora_config, dict):
        fields = {"r": DEFAULT_RANK, "lora_alpha": DEFAULT_ALPHA, "lora_dropout": 0.0,
                  "target_modules": list(default_targets), "bias": "none", **lora_config}
        check_rank(fields["r"])
        try:
            return LoraConfig(**fields)
        except TypeError as exc:
            raise InputError(f"lora_config has a field peft.LoraConfig does not know: {exc}") from None
    raise InputError(f"lora_config must be None, a dict or a peft.LoraConfig, got {type(lora_config).__name__}")


def check_rank(rank: Any) -> None:
    """Raise an :class:`InputError` unless ``rank`` is a positive integer."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise InputError(f"lora_config r must be a positive integer (the LoRA rank; 4 to 64 is usual), got {rank!r}")


def linear_module_names(model: nn.Module) -> list[str]:
    """Distinct last name-parts of the model's ``nn.Linear`` layers: what ``target_modules`` may name."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)})


def check_targets(model: nn.Module, config: Any) -> None:
    """Raise an :class:`InputError` listing the valid names when a target module does not exist."""
    targets = config.target_modules
    if isinstance(targets, str):  # peft treats a string as a regular expression; leave it to peft
        return
    names = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise InputError(
            f"LoRA target module(s) {missing} do not exist in this model; linear layers it has: "
            f"{linear_module_names(model)}"
        )


def add_lora(model: nn.Module, config: Any) -> Any:
    """Wrap ``model`` (modified in place: pass a copy) in a ``peft.PeftModel`` with one adapter."""
    from peft import get_peft_model

    check_targets(model, config)
    return get_peft_model(model, config)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def save_adapter(peft_model: Any, folder: Path) -> Path:
    """Write the adapter in peft's format with float16 weights; returns the folder."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    peft_model.peft_config["default"].save_pretrained(str(folder))
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    save_file(state, str(folder / "adapter_model.safetensors"))
    return folder


def load_adapter(model: nn.Module, folder: Path, adapter_name: str = "default") -> Any:
    """Wrap ``model`` (modified in place: pass a copy) with the adapter saved in ``folder``.

    Raises
    ------
    CheckpointError
        ``folder`` is no adapter, holds its weights as a pickle, or they are not readable.
    """
    from peft import PeftModel

    check_adapter_folder(folder)
    with _adapter_errors(folder):
        return PeftModel.from_pretrained(model, str(folder), adapter_name=adapter_name, is_trainable=False)


def add_adapter(peft_model: Any, folder: Path, adapter_name: str) -> None:
    """Load the adapter saved in ``folder`` into ``peft_model`` under ``adapter_name``, checked like
    :func:`load_adapter`."""
    check_adapter_folder(folder)
    with _adapter_errors(folder):
        peft_model.load_adapter(str(folder), adapter_name=adapter_name, is_trainable=False)


def check_adapter_folder(folder: Path) -> None:
    """Refuse a folder without ``adapter_config.json`` or ``adapter_model.safetensors``, or a pickled adapter.

    peft would fall back to ``adapter_model.bin`` (a pickle) or to the hub; neither happens here.
    """
    if not (folder / "adapter_config.json").is_file():
        raise CheckpointError(f"{str(folder)!r} holds no LoRA adapter (adapter_config.json is missing)")
    if (folder / "adapter_model.safetensors").is_file():
        return
    if (folder / "adapter_model.bin").is_file():
        raise CheckpointError(
            f"{str(folder / 'adapter_model.bin')!r} is a pickle, which could run code when loaded: it is refused; "
            "adapters load from adapter_model.safetensors only (save them with safetensors)"
        )
    raise CheckpointError(f"{str(folder)!r} holds no adapter weights (adapter_model.safetensors is missing)")


@contextlib.contextmanager
def _adapter_errors(folder: Path) -> Iterator[None]:
    """Turn what peft raises for a damaged adapter into a :class:`CheckpointError` naming the file."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as exc:
        raise CheckpointError(
            f"{str(folder / 'adapter_model.safetensors')!r} is not a readable safetensors file ({exc})"
        ) from None
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"the LoRA adapter in {str(folder)!r} does not load: {type(exc).__name__}: {exc}"
        ) from None


def fingerprint(model: nn.Module, legacy: bool = False) -> str:
    """A short hash of the model's weights: names, shapes and two sums per tensor.

    Identifies the base model an adapter was trained on without storing or re-reading its file;
    two checkpoints that differ anywhere differ in it with near certainty. The sums are taken in
    float64, so the hash does not depend on torch's thread count (a float32 sum's reduction order
    does, and its sixth digit with it). ``legacy=True`` gives the float32 hash that folders written
    before this change hold (which only matches under the thread count they were written with).
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().float() if legacy else tensor.detach().double()
        sums = np.array([values.sum().item(), values.abs().sum().item()], dtype=np.float64)
        digest.update(name.encode())
        digest.update(str(tuple(values.shape)).encode())
        digest.update(np.format_float_scientific(sums[0], 6).encode())
        digest.update(np.format_float_scientific(sums[1], 6).encode())
    return digest.hexdigest()[:16]
