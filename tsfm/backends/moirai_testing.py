"""A random-weight Moirai 2 checkpoint of the real architecture, for tests and benchmarks.

:func:`build_tiny_moirai` constructs ``uni2ts``'s ``Moirai2Module`` (the class the released
``Salesforce/moirai-2.0-R-small`` loads into) with small sizes, seeds torch so the weights are the same on
every run, and writes it with the module's own ``save_pretrained``: ``config.json`` (its constructor
arguments) and ``model.safetensors``. It loads back through the real ``Moirai2Module.from_pretrained``
path and ``tsfm.load(folder)`` as a downloaded checkpoint would. :data:`MOIRAI2_SMALL` holds the
released sizes.

Importing this module registers the builder as family ``moirai`` (:func:`tsfm.testing.register_tiny_builder`),
used by the conformance suite where ``uni2ts`` is installed.
"""

from __future__ import annotations

from pathlib import Path

from tsfm.backends.moirai import moirai_available, moirai_class
from tsfm.testing import register_tiny_builder

# The released Salesforce/moirai-2.0-R-small config.json (11.4M parameters).
MOIRAI2_SMALL = {"d_model": 384, "d_ff": 1024, "num_layers": 6, "patch_size": 16, "max_seq_len": 512,
                 "num_predict_token": 4}


def build_tiny_moirai(
    path: str | Path,
    *,
    d_model: int = 64,
    d_ff: int = 128,
    num_layers: int = 2,
    patch_size: int = 4,
    max_seq_len: int = 64,
    num_predict_token: int = 2,
    seed: int = 0,
) -> Path:
    """Save a random-weight ``Moirai2Module`` into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json`` and ``model.safetensors`` into; created when absent.
    d_model
        Width; upstream gives the attention ``d_model // 64`` heads, so at least 64 (real: 384).
    d_ff
        Width of the gated feed-forward layers (real: 1024).
    num_layers
        Decoder layers (real: 6).
    patch_size, max_seq_len, num_predict_token
        Values per token, rotary table length, patches predicted per pass (real: 16, 512, 4).
    seed
        Seed of torch's generator, so the same arguments give the same weights.
    """
    import contextlib
    import io

    import torch

    cls = moirai_class()
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        module = cls(d_model=d_model, d_ff=d_ff, num_layers=num_layers, patch_size=patch_size,
                     max_seq_len=max_seq_len, attn_dropout_p=0.0, dropout_p=0.0, num_predict_token=num_predict_token)
    with contextlib.redirect_stdout(io.StringIO()):
        module.eval().save_pretrained(folder)
    return folder


register_tiny_builder("moirai", build_tiny_moirai, available=moirai_available)
