"""Random-weight TimesFM 2.5 checkpoints of the real architecture, for tests and overhead benchmarks.

:func:`build_tiny_timesfm` constructs upstream's ``timesfm.TimesFM_2p5_200M_torch`` with a
smaller depth and width (see :func:`tsfm.backends.timesfm.architecture`), seeds torch so the
weights are the same on every run, and writes it with upstream's own ``save_pretrained``: a folder
holding ``model.safetensors`` and ``config.json``, the released layout, the config naming the
sizes. It loads back through upstream's ``from_pretrained`` and ``tsfm.load(folder)``.
``build_tiny_timesfm(path, **TIMESFM_200M)`` builds the released size (231M parameters).

Importing this module registers the builder as family ``timesfm`` (:func:`tsfm.testing.register_tiny_builder`).
"""

from __future__ import annotations

from pathlib import Path

from tsfm.backends.timesfm import architecture, sizes_of, timesfm_available
from tsfm.errors import InputError
from tsfm.testing import register_tiny_builder

# The released google/timesfm-2.5-200m-pytorch sizes.
TIMESFM_200M: dict[str, int] = {"num_layers": 20, "model_dims": 1280, "num_heads": 16}


def build_tiny_timesfm(
    path: str | Path,
    *,
    num_layers: int = 2,
    model_dims: int = 64,
    num_heads: int = 4,
    seed: int = 0,
) -> Path:
    """Save a random-weight TimesFM 2.5 checkpoint into the folder ``path``.

    Parameters
    ----------
    path
        Folder to write ``model.safetensors`` and ``config.json`` into; created when absent.
    num_layers, model_dims, num_heads
        Transformer depth, width and heads (released: 20, 1280, 16); patch lengths (32 in, 128
        out), the 1024-step quantile head and the 9 quantiles stay as released.
    seed
        Seed of torch's generator, so the same arguments give the same weights.

    Returns
    -------
    Path
        ``path``.
    """
    import timesfm
    import torch

    sizes = {"num_layers": num_layers, "model_dims": model_dims, "num_heads": num_heads}
    try:
        sizes_of(sizes, "build_tiny_timesfm")
    except Exception as exc:  # noqa: BLE001  the same check the loader makes, as an argument error here
        raise InputError(str(exc)) from exc
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]), architecture(sizes):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = timesfm.TimesFM_2p5_200M_torch(torch_compile=False)
    model.model.eval()
    model.save_pretrained(folder, config=sizes)
    return folder


register_tiny_builder("timesfm", build_tiny_timesfm, available=timesfm_available)
