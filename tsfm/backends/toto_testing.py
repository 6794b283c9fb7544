"""A random-weight Toto checkpoint of the real architecture, for tests and benchmarks.

:func:`build_tiny_toto` constructs ``toto-ts``'s ``Toto`` (the class the released
``Datadog/Toto-Open-Base-1.0`` loads into) with small sizes, seeds torch so the weights are the same on
every run, and writes ``config.json`` (its constructor arguments, as the released folder holds them) and
``model.safetensors``. It loads back through the real ``Toto.load_from_checkpoint`` path and
``tsfm.load(folder)`` as a downloaded checkpoint would. :data:`TOTO_BASE` holds the released sizes.

Importing this module registers the builder as family ``toto`` (:func:`tsfm.testing.register_tiny_builder`),
used by the conformance suite where ``toto-ts`` is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsfm.backends.toto import toto_available, toto_classes
from tsfm.testing import register_tiny_builder

SCALER = "<class 'model.scaler.CausalPatchStdMeanScaler'>"
MIXTURE = "<class 'model.distribution.MixtureOfStudentTsOutput'>"
# The released Datadog/Toto-Open-Base-1.0 sizes (151M parameters).
TOTO_BASE = {"patch_size": 64, "stride": 64, "embed_dim": 768, "num_layers": 12, "num_heads": 12,
             "mlp_hidden_dim": 3072, "spacewise_every_n_layers": 12, "output_distribution_kwargs": {"k_components": 24}}


def build_tiny_toto(
    path: str | Path,
    *,
    patch_size: int = 8,
    embed_dim: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    mlp_hidden_dim: int = 64,
    k_components: int = 3,
    seed: int = 0,
) -> Path:
    """Save a random-weight ``Toto`` into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json`` and ``model.safetensors`` into; created when absent.
    patch_size
        Values per token, also the stride (real: 64).
    embed_dim, num_layers, num_heads, mlp_hidden_dim
        Transformer sizes (real: 768, 12, 12, 3072).
    k_components
        Student-t components of the output mixture (real: 24).
    seed
        Seed of torch's generator, so the same arguments give the same weights.
    """
    import torch
    from safetensors.torch import save_file

    toto_cls = toto_classes()[0]
    config = {"patch_size": patch_size, "stride": patch_size, "embed_dim": embed_dim, "num_layers": num_layers,
              "num_heads": num_heads, "mlp_hidden_dim": mlp_hidden_dim, "dropout": 0.0,
              "spacewise_every_n_layers": num_layers, "scaler_cls": SCALER, "output_distribution_classes": [MIXTURE],
              "output_distribution_kwargs": {"k_components": k_components}, "use_memory_efficient_attention": False}
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = toto_cls(**config)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


register_tiny_builder("toto", build_tiny_toto, available=toto_available)
