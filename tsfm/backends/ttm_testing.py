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


def wrapper_overhead(
    checkpoint: str | Path, n_series: int = 256, context_length: int = 512, horizon: int = 96, repeats: int = 7
) -> dict[str, float]:
    """Seconds of tsfm's ``predict_quantiles`` against upstream's own forward on the same batch.

    Both paths get ``n_series`` synthetic float64 series of ``context_length`` values (one batch).
    Upstream: a float32 tensor of the series and ``TinyTimeMixerForPrediction(past_values=...)`` under
    ``no_grad``. tsfm: ``predict_quantiles`` with ``backtest_windows=0`` (one forward, as upstream) and,
    reported apart, with the default backtests that make its quantiles (one extra forward per window).
    The medians of ``repeats`` interleaved runs are returned, with ``overhead = tsfm / upstream - 1``.
    """
    import time

    import numpy as np
    import torch

    import tsfm

    model = tsfm.load(str(checkpoint), device="cpu", batch_size=n_series)
    rng = np.random.default_rng(0)
    t = np.arange(context_length)
    series = [100 + 10 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 1, context_length))
              for _ in range(n_series)]
    point = copy_with_windows(model, 0)

    def upstream() -> None:
        with torch.no_grad():
            batch = torch.tensor(np.stack(series), dtype=torch.float32)[..., None]  # [n, T, 1]
            model.module(past_values=batch).prediction_outputs[:, :horizon, 0].numpy()

    paths = {"upstream": upstream, "tsfm": lambda: point.predict_quantiles(series, horizon),
             "tsfm_with_backtests": lambda: model.predict_quantiles(series, horizon)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats + 1):  # the first round warms up
        for name, run in paths.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    medians = {name: float(np.median(values[1:])) for name, values in times.items()}
    medians["overhead"] = medians["tsfm"] / medians["upstream"] - 1
    return medians


def copy_with_windows(model: object, windows: int) -> object:
    """A shallow copy of a TTM forecaster (same module) with ``backtest_windows`` set."""
    import copy

    clone = copy.copy(model)
    clone.backtest_windows = windows
    return clone
