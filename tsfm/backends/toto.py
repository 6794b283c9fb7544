"""Toto (Datadog's ``toto-ts`` 0.2.0) behind the tsfm contract.

Toto is a decoder over patches whose head is a mixture of Student-t distributions; it forecasts
autoregressively by sampling. The release pins ``torch==2.7.0``, ``transformers==4.52.1`` and
``numpy==1.26.4``; on this stack it is installed without its pins, beside the modules it imports that
this project does not otherwise need (:data:`INSTALL`). A Toto checkpoint is a folder (or hub
repository) with ``config.json`` (the constructor arguments of ``toto.model.toto.Toto``: ``patch_size``,
``embed_dim``, ``output_distribution_classes``...) and ``model.safetensors``. :func:`load_toto` reads it
with ``Toto.load_from_checkpoint(folder)``, from safetensors only. (``Toto.from_pretrained`` does not run
with the current ``huggingface_hub``: its ``_from_pretrained`` lacks arguments the mixin no longer passes.)

=============  ===================================================================================
context        the last ``context_length`` values (4096), or the whole series when shorter (never
               padded: see batching); missing values are set to 0 and masked out
output         quantiles of ``num_samples`` sampled paths (256 by default, upstream's advice is at
               least 128); each series draws from its own stream, seeded the same for every series,
               so its forecast is the same in any batch and the same in every call
               (:mod:`tsfm.backends.toto_sampling`)
batching       series of the same context length share a forward pass, up to ``batch_size`` of
               them and at most ``max_paths`` sampled paths in all (1,024: 4 series at 256
               samples; memory grows with both)
mean           the median of the samples
long horizons  native: every step is decoded from the steps before it (with a key-value cache)
covariates     none: they are ignored with :class:`~tsfm.errors.CovariatesIgnoredWarning`
=============  ===================================================================================
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device
from tsfm.errors import CheckpointError, InputError, one_line
from tsfm.hub import HubRepository, download_files, register_hub_family
from tsfm.model_folders import check_keyed_folder, folder_has_config_keys, has_config_keys
from tsfm.registry import LoadOptions, register_model, register_path_loader

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Toto's constructor arguments that every released config.json carries (and no other family's does).
CONFIG_KEYS = ("patch_size", "stride", "embed_dim", "num_layers", "num_heads", "mlp_hidden_dim",
               "spacewise_every_n_layers", "scaler_cls", "output_distribution_classes")
INSTALL = ("pip install --no-deps toto-ts==0.2.0 gluonts==0.16.2 lightning==2.6.6 lightning-utilities==0.15.3 "
           "torchmetrics==1.9.0 toolz==1.2.0 rotary-embedding-torch==0.9.1")
# what ``toto.model.toto`` and ``toto.inference.forecaster`` import beyond this project's dependencies
_MODULES = ("toto", "gluonts", "lightning", "lightning_utilities", "torchmetrics", "toolz", "rotary_embedding_torch")
_OTHER_WEIGHTS = ("pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
                  "model.ckpt", "adapter_config.json", "adapter_model.safetensors")
DEFAULT_SAMPLES = 256
MAX_PATHS = 1024
SEED = 0


def toto_available() -> bool:
    """Whether ``toto-ts`` and what it imports load here (the classes are imported once to find out)."""
    if not all(importlib.util.find_spec(name) is not None for name in _MODULES):
        return False
    try:
        toto_classes()
    except ImportError:  # a module that toto, gluonts or lightning import is missing
        return False
    return True


def toto_classes() -> tuple[type, type, type]:
    """``(Toto, TotoForecaster, MaskedTimeseries)`` from ``toto-ts``."""
    from toto.data.util.dataset import MaskedTimeseries
    from toto.inference.forecaster import TotoForecaster
    from toto.model.toto import Toto

    return Toto, TotoForecaster, MaskedTimeseries


class TotoTsfmForecaster(BaseForecaster):
    """A loaded Toto behind the tsfm contract; use :func:`load_toto` or ``tsfm.load``.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    model
        The ``Toto`` module, in eval mode.
    options
        Load options; up to ``batch_size`` series of one length are decoded together, within ``max_paths``.
    num_samples
        Sampled paths per series; the quantiles are taken over them.
    max_paths
        Most sampled paths (series x ``num_samples``) decoded in one forward pass; at least one
        series is always decoded.
    """

    kind = "tsfm"
    family = "toto"
    context_length: int = 4096

    def __init__(self, name: str, model: Any, options: LoadOptions, num_samples: int = DEFAULT_SAMPLES,
                 max_paths: int = MAX_PATHS) -> None:
        super().__init__(name)
        for label, value, least in (("num_samples", num_samples, 2), ("max_paths", max_paths, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise InputError(f"{label} must be an integer >= {least}, got {value!r}")
        self.model = model
        self.batch_size = options.batch_size
        self.num_samples = num_samples
        self.max_paths = max_paths

    @property
    def series_per_call(self) -> int:
        """Series decoded in one forward pass: ``batch_size``, within ``max_paths`` paths, at least 1."""
        return max(1, min(self.batch_size, self.max_paths // self.num_samples))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"

    @property
    def device(self) -> str:
        """Device the weights live on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(next(self.model.parameters()).device)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        samples = np.empty((len(context), horizon, self.num_samples))
        for rows in self.batches(context):
            samples[rows] = self.sample([context[i] for i in rows], horizon)
        quantiles = np.moveaxis(np.quantile(samples, levels, axis=-1), 0, -1)  # [n, horizon, n_q]
        return quantiles, np.median(samples, axis=-1)

    def batches(self, context: list[np.ndarray]) -> list[list[int]]:
        """Indices of the series decoded together: series of one context length, ``series_per_call`` at most.

        Only series of the same length share a forward pass: Toto's forecast of a series changes
        when it is left-padded to a longer neighbour's length (its padding mask does not hide
        the padding from every layer), which would make it depend on its batch.
        """
        by_length: dict[int, list[int]] = {}
        for index, series in enumerate(context):
            by_length.setdefault(min(len(series), self.context_length), []).append(index)
        step = self.series_per_call
        return [group[start:start + step] for group in by_length.values() for start in range(0, len(group), step)]

    def sample(self, contexts: list[np.ndarray], horizon: int) -> np.ndarray:
        """``[b, horizon, num_samples]`` sampled paths of one batch in one forward pass.

        Each series draws from its own stream seeded with :data:`SEED`: a series gets the paths
        upstream's ``TotoForecaster.forecast`` draws for it alone under that seed, whatever else
        is in the batch; the caller's random state is left as it was.
        """
        import torch

        from tsfm.backends.toto_sampling import SeriesStreams, seeded_forecaster

        _, forecaster_cls, masked_cls = toto_classes()
        inputs = masked_cls(**{key: torch.from_numpy(value).to(self.device)
                               for key, value in batch_inputs(contexts, self.context_length).items()})
        streams = SeriesStreams(len(contexts), SEED, self.device)
        forecaster = seeded_forecaster(forecaster_cls, self.model.model, streams)
        with torch.inference_mode():
            out = forecaster.forecast(inputs, prediction_length=horizon, num_samples=self.num_samples,
                                      samples_per_batch=self.num_samples)
        return out.samples[:, 0].double().cpu().numpy()  # [b, horizon, S]


def batch_inputs(contexts: list[np.ndarray], context_length: int) -> dict[str, np.ndarray]:
    """The fields of ``MaskedTimeseries`` for univariate series: each ``[b, 1, T]`` (``time_interval_seconds [b, 1]``).

    Series are cut to their last ``context_length`` values and left-padded to the batch's longest;
    padding and missing values are 0 with ``padding_mask`` False. Timestamps are step counts (Toto 1.0
    does not read them).
    """
    length = min(context_length, max(len(series) for series in contexts))
    series = np.zeros((len(contexts), 1, length), dtype=np.float32)
    valid = np.zeros((len(contexts), 1, length), dtype=bool)
    for row, values in enumerate(contexts):
        tail = np.asarray(values, dtype=np.float64)[-length:]
        seen = np.isfinite(tail)
        series[row, 0, length - len(tail):] = np.where(seen, tail, 0.0)
        valid[row, 0, length - len(tail):] = seen
    steps = np.broadcast_to(np.arange(length, dtype=np.int64), series.shape).copy()
    return {"series": series, "padding_mask": valid, "id_mask": np.zeros(series.shape, dtype=np.float32),
            "timestamp_seconds": steps, "time_interval_seconds": np.ones((len(contexts), 1), dtype=np.int64)}


def check_toto_folder(folder: Path) -> dict[str, Any]:
    """Return the folder's ``config.json`` after checking it is a Toto checkpoint.

    Raises
    ------
    CheckpointError
        Naming the folder and what is wrong: no readable ``config.json``, a config that asks for custom
        code, names a ``model_type`` or lacks Toto's sizes, no ``model.safetensors``, or weight files of
        another layout beside it (pickles, shards, peft adapters).
    """
    return check_keyed_folder(folder, "Toto", CONFIG_KEYS, WEIGHTS_FILE, _OTHER_WEIGHTS)


def _is_toto_config(config: object) -> bool:
    return has_config_keys(config, CONFIG_KEYS)


def is_toto_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` holds Toto's constructor arguments."""
    return folder_has_config_keys(path, CONFIG_KEYS)


def load_toto(name_or_path: str, options: LoadOptions) -> TotoTsfmForecaster:
    """Load a Toto checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder with ``config.json`` and ``model.safetensors``, or a hub id such as
        ``"Datadog/Toto-Open-Base-1.0"`` (its main branch; those two files are fetched).
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (``None`` or ``"float32"``) and ``batch_size``.

    Raises
    ------
    CheckpointError
        ``toto-ts`` is not installed (naming the install line), the folder is not a Toto checkpoint
        (:func:`check_toto_folder`), its weights do not fit its config, or the hub could not provide it.
    InputError
        A half-precision ``dtype`` was asked.
    """
    if not toto_available():
        raise CheckpointError(f"{name_or_path!r} is a Toto model, whose package is not installed: {INSTALL}")
    if options.dtype not in (None, "float32"):
        raise InputError(f"dtype must be None or 'float32' for Toto, got {options.dtype!r}")
    local = Path(name_or_path).expanduser()
    folder = local if local.exists() else download_files(name_or_path, (CONFIG_FILE, WEIGHTS_FILE))
    check_toto_folder(folder)
    model = _load_checkpoint(folder, resolve_device(options.device))
    return TotoTsfmForecaster(name_or_path, model.eval(), options)


def _load_checkpoint(folder: Path, device: str) -> Any:
    """``Toto.load_from_checkpoint`` on a checked folder (safetensors, strict), failures as one CheckpointError."""
    from safetensors import SafetensorError

    toto_cls = toto_classes()[0]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return toto_cls.load_from_checkpoint(str(folder), map_location=device, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError, AssertionError, SafetensorError) as exc:
        raise CheckpointError(
            f"{str(folder)!r} is not a loadable Toto checkpoint: {type(exc).__name__}: {one_line(exc)}"
        ) from exc


def _matches_toto(repository: HubRepository) -> bool:
    """A repository with ``model.safetensors`` and a config of Toto's constructor arguments."""
    return WEIGHTS_FILE in repository.files and _is_toto_config(repository.config)


# --- registration ------------------------------------------------------------------

register_model(
    "Datadog/Toto-Open-Base-1.0", kind="tsfm",
    description=f"Toto Open Base 1.0, 151M params decoder, sampled quantiles; context 4096 ({INSTALL}; hub)",
)(load_toto)
register_path_loader("toto", accepts=is_toto_folder)(load_toto)
register_hub_family("toto", matches=_matches_toto, install=INSTALL, available=toto_available)(load_toto)
