"""Where a torch model runs: device and dtype choices shared by every torch backend.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsfm.errors import InputError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; CUDA requests are checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    if device.startswith("cuda:"):
        index = device.removeprefix("cuda:")
        count = torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise InputError(f"device {device!r}: N in 'cuda:N' must be an index below {count} (GPUs seen)")
    return device


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """Torch dtype for the weights: ``None`` = float32 on CPU, bfloat16 on CUDA."""
    import torch

    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
