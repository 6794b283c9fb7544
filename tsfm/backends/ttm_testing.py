"""A random-weight TinyTimeMixer checkpoint of the real (R2) architecture, for tests and benchmarks.

:func:`build_tiny_ttm` constructs ``tsfm_public``'s ``TinyTimeMixerForPrediction`` from a small
``TinyTimeMixerConfig`` with the released R2 layout (adaptive patching, a decoder, standard scaling,
one channel), seeds torch so the weights are the same on every run, and writes it with
``save_pretrained``: ``config.json`` (``model_type`` ``tinytimemixer``) and ``model.safetensors``. It
loads back through the real ``from_pretrained`` path and ``tsfm.load(folder)`` as a downloaded
checkpoint would. The released size is the checkpoint itself (805k parameters); no builder is needed for it.

Importing this module registers the builder as family ``ttm`` (:func:`tsfm.testing.register_tiny_builder`),
used by the conformance suite where ``granite-tsfm`` is installed.
"""

from __future__ import annotations

from pathlib import Path

from tsfm.backends.ttm import ttm_available, ttm_class
from tsfm.testing import register_tiny_builder


def build_tiny_ttm(
    path: str | Path,
    *,
    d_model: int = 16,
    num_layers: int = 2,
    context_length: int = 64,
    prediction_length: int = 24,
    patch_length: int = 8,
    seed: int = 0,
) -> Path:
    """Save a random-weight ``TinyTimeMixerForPrediction`` (the R2 layout: adaptive patching, decoder) into ``path``.

    Parameters
    ----------
    path
        Folder to write ``config.json`` and ``model.safetensors`` into; created when absent.
    d_model
        Backbone width (the decoder's is the same); the released R2 512-96 has 192 (decoder 128).
    num_layers
        Backbone mixer layers (the decoder has one).
    context_length, prediction_length, patch_length
        Native context, native horizon and patch size (real: 512, 96, 64).
    seed
        Seed of torch's generator, so the same arguments give the same weights.
    """
    import torch
    import transformers

    ttm_class()  # registers TinyTimeMixerConfig with transformers, quietly
    from tsfm_public.models.tinytimemixer import TinyTimeMixerConfig, TinyTimeMixerForPrediction

    config = TinyTimeMixerConfig(
        context_length=context_length, prediction_length=prediction_length, patch_length=patch_length,
        patch_stride=patch_length, num_input_channels=1, d_model=d_model, decoder_d_model=d_model,
        num_layers=num_layers, decoder_num_layers=1, adaptive_patching_levels=2, expansion_factor=2,
        mode="common_channel", decoder_mode="common_channel", scaling="std", use_decoder=True, loss="mse",
        dropout=0.0, head_dropout=0.0,
    )
    transformers.utils.logging.disable_progress_bar()
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = TinyTimeMixerForPrediction(config)
    model.eval().save_pretrained(folder)
    return folder


register_tiny_builder("ttm", build_tiny_ttm, available=ttm_available)
