"""Random-weight TiRex checkpoints of the real architecture, for tests and overhead benchmarks.

:func:`build_tiny_tirex` constructs upstream's ``tirex.models.tirex.TiRexZero`` from a small
configuration, seeds torch so the weights are the same on every run, and writes the released
layout: a folder holding ``model.ckpt``, a Lightning-style checkpoint whose ``hyper_parameters``
(``model_config``, ``train_ctx_len``) describe the model and whose ``state_dict`` holds the
weights. It loads back through upstream's ``TiRexZero.from_pretrained`` and ``tsfm.load(folder)``
as a downloaded checkpoint would. ``build_tiny_tirex(path, **TIREX_35M)`` builds the released size.

Importing this module registers the builder as family ``tirex`` (:func:`tsfm.testing.register_tiny_builder`),
used by the conformance suite where the ``tirex`` package is installed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tsfm.backends.tirex import CHECKPOINT_FILE, tirex_available
from tsfm.errors import InputError
from tsfm.testing import register_tiny_builder

TIREX_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The released NX-AI/TiRex sizes (35.3M parameters).
TIREX_35M: dict[str, int] = {"embedding_dim": 512, "num_heads": 4, "num_blocks": 12, "input_ff_dim": 2048,
                             "context_length": 2048}


def build_tiny_tirex(
    path: str | Path,
    *,
    embedding_dim: int = 32,
    num_heads: int = 4,
    num_blocks: int = 2,
    input_ff_dim: int = 64,
    patch_size: int = 32,
    context_length: int = 512,
    seed: int = 0,
) -> Path:
    """Save a random-weight TiRex checkpoint (``model.ckpt``) into the folder ``path``.

    Parameters
    ----------
    path
        Folder to write ``model.ckpt`` into; created when absent.
    embedding_dim, num_heads, num_blocks
        sLSTM block sizes (released: 512, 4, 12); ``embedding_dim`` must be a multiple of ``num_heads``.
    input_ff_dim
        Hidden width of the input and output residual blocks (released: 2048).
    patch_size
        Input and output patch length (released: 32).
    context_length
        ``train_ctx_len``, the native context (released: 2048); a multiple of ``patch_size``.
    seed
        Seed of torch's generator, so the same arguments give the same weights.

    Returns
    -------
    Path
        ``path``.
    """
    import torch
    from tirex.models.tirex import TiRexZero

    _check_sizes(embedding_dim, num_heads, patch_size, context_length)
    hyper_parameters = {
        "model_config": {
            "input_patch_size": patch_size,
            "output_patch_size": patch_size,
            "quantiles": list(TIREX_QUANTILES),
            "block_kwargs": {"embedding_dim": embedding_dim, "num_heads": num_heads, "num_blocks": num_blocks,
                             "ffn_proj_factor": 2.6667},
            "input_ff_dim": input_ff_dim,
        },
        "train_ctx_len": context_length,
    }
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = TiRexZero(backend="torch", **hyper_parameters)
        _initialise(model)
    checkpoint = {"hyper_parameters": hyper_parameters, "state_dict": model.state_dict()}
    torch.save(checkpoint, folder / CHECKPOINT_FILE)
    return folder


def _check_sizes(embedding_dim: int, num_heads: int, patch_size: int, context_length: int) -> None:
    for name, value in (("embedding_dim", embedding_dim), ("num_heads", num_heads), ("patch_size", patch_size),
                        ("context_length", context_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if embedding_dim % num_heads:
        raise InputError(f"embedding_dim must be a multiple of num_heads={num_heads}, got {embedding_dim}")
    if context_length % patch_size:
        raise InputError(f"context_length must be a multiple of patch_size={patch_size}, got {context_length}")


def _initialise(model: Any) -> None:
    """Give the parameters upstream leaves uninitialised (``torch.empty``) fan-in-scaled values.

    The sLSTM gate projections and recurrent kernels are created empty (upstream only ever loads
    them); a ``1 / sqrt(fan_in)`` normal keeps the random forecasts of order one, biases start at 0.
    """
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("_bias_"):
                parameter.zero_()
            elif name.endswith("_recurrent_kernel_"):  # [heads, head_dim (in), 4 * head_dim]
                parameter.normal_(0.0, 1.0 / math.sqrt(parameter.shape[1]))
            elif name.endswith("gate.weight"):  # [heads, out per head, in per head]
                parameter.normal_(0.0, 1.0 / math.sqrt(parameter.shape[-1]))


register_tiny_builder("tirex", build_tiny_tirex, available=tirex_available)
