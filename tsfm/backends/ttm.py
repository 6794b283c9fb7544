"""TinyTimeMixer (IBM's TTM, ``granite-tsfm``) behind the tsfm contract.

The model classes come from IBM's ``granite-tsfm`` package (import ``tsfm_public``). Its release
declares ``torch<2.12``; on this stack it is installed without its pins, ``pip install --no-deps
granite-tsfm`` (every package it imports is already a dependency of tsfm-adapt). A TTM checkpoint is
a folder (or hub repository) with a ``config.json`` of ``model_type`` ``tinytimemixer`` and a
``model.safetensors``; :func:`load_ttm` reads it with ``TinyTimeMixerForPrediction.from_pretrained``
(a concrete class: no code from the folder is imported) from safetensors only, never a pickle.

=============  ===================================================================================
context        the last ``context_length`` values (512 for TTM-R2 512-96). Each series is
               standardised by the mean and standard deviation of its observed values, interior
               gaps are filled by linear interpolation, and the left padding of a short series is
               set to its mean; the model's own scaler reads only the observed positions
               (``past_observed_mask``)
output         one value per step (the released models were trained with MSE): the ``mean``
quantiles      empirical residual quantiles from backtests on the series' own past
               (:mod:`tsfm.backends.ttm_quantiles`): ``backtest_windows`` extra forecasts per
               series, run in the same batches as the forecast itself
long horizons  past ``prediction_length`` (96) the context is extended by the forecast and the
               model run again; quality degrades with the distance past the native horizon
embeddings     the backbone's patch states averaged over the patches, ``[n_series, d_model]``
covariates     none: they are ignored with :class:`~tsfm.errors.CovariatesIgnoredWarning`
=============  ===================================================================================

Importing ``tsfm_public`` calls ``logging.basicConfig(level=INFO)``; :func:`ttm_class` undoes that
on the root logger so a program's logging is left as it was.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsfm.backends.ttm_quantiles import backtest_origins, fallback_scales, random_walk_quantiles, residual_quantiles
from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device, resolve_dtype
from tsfm.errors import CheckpointError
from tsfm.hub import HubRepository, hub_error, register_hub_family
from tsfm.model_folders import check_single_weights_file, read_config_json
from tsfm.registry import LoadOptions, register_model, register_path_loader

if TYPE_CHECKING:
    import torch

MODEL_TYPE = "tinytimemixer"
WEIGHTS_FILE = "model.safetensors"
INSTALL = "pip install --no-deps granite-tsfm"
# Weight layouts other than a single model.safetensors: pickles are never read, shards are not TTM's.
_OTHER_WEIGHTS = ("pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
                  "model.ckpt", "adapter_config.json", "adapter_model.safetensors")


def ttm_available() -> bool:
    """Whether IBM's ``tsfm_public`` package (``granite-tsfm``) can be imported here."""
    return importlib.util.find_spec("tsfm_public") is not None


def ttm_class() -> type:
    """``tsfm_public``'s ``TinyTimeMixerForPrediction``, imported without its root-logger side effect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    for handler in root.handlers[:]:
        if handler not in handlers:  # the INFO handler tsfm_public's __init__ installs
            root.removeHandler(handler)
    root.setLevel(level)
    return TinyTimeMixerForPrediction


class TTMForecaster(BaseForecaster):
    """A loaded TinyTimeMixer behind the tsfm contract; use :func:`load_ttm` or ``tsfm.load``.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    module
        The ``TinyTimeMixerForPrediction`` module, in eval mode.
    options
        Load options; ``batch_size`` windows (forecasts and backtests alike) go through the model per pass.

    Attributes
    ----------
    backtest_windows
        Backtests per series behind its quantiles (see :mod:`tsfm.backends.ttm_quantiles`); more
        windows give steadier quantiles at one more forward pass each. 0 gives the random-walk
        fallback spread around the point forecast.
    bias_correction
        False (default): the 0.5 quantile is the model's forecast (``mean``). True: every quantile is
        shifted by the median of the series' backtest errors (scaled per step), a per-series level
        correction measured on M4 Hourly in the README.
    """

    kind = "tsfm"
    family = "ttm"
    has_embeddings = True
    backtest_windows: int = 5
    min_backtest_context: int = 16
    bias_correction: bool = False

    def __init__(self, name: str, module: Any, options: LoadOptions) -> None:
        super().__init__(name)
        self.module = module
        self.batch_size = options.batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"

    @property
    def context_length(self) -> int:
        """Native context length; older observations are ignored."""
        return int(self.module.config.context_length)

    @property
    def prediction_length(self) -> int:
        """Steps one forward pass produces; longer horizons feed the forecast back."""
        return int(self.module.config.prediction_filter_length or self.module.config.prediction_length)

    @property
    def device(self) -> str:
        """Device the weights live on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(next(self.module.parameters()).device)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        jobs: list[np.ndarray] = []  # the forecast of each series, then its backtest contexts
        origins = []
        for series in context:
            cuts = backtest_origins(series, horizon, self.backtest_windows, self.min_backtest_context)
            origins.append(cuts)
            jobs.append(series)
            jobs.extend(series[:cut] for cut in cuts)
        points = self.forecast_points(jobs, horizon)  # [n_jobs, horizon]
        first = np.cumsum([0] + [1 + len(cuts) for cuts in origins[:-1]])  # row of each series' forecast
        means = points[first]  # [n_series, horizon]
        scales = fallback_scales(context)
        quantiles = random_walk_quantiles(means, scales, levels)  # [n_series, horizon, n_q]; kept without backtests
        for index, (series, cuts) in enumerate(zip(context, origins, strict=True)):
            if not cuts:
                continue
            residuals = np.full((len(cuts), horizon), np.nan)
            for j, cut in enumerate(cuts):
                target = series[cut : cut + horizon]
                residuals[j, : len(target)] = target - points[first[index] + 1 + j, : len(target)]
            quantiles[index] = residual_quantiles(means[index], residuals, scales[index], levels, self.bias_correction)
        return quantiles, means

    def forecast_points(self, contexts: list[np.ndarray], horizon: int) -> np.ndarray:
        """Point forecasts ``[n, horizon]`` of float64 series, ``prediction_length`` steps per pass."""
        done = np.empty((len(contexts), 0))
        contexts = [np.asarray(series, dtype=np.float64) for series in contexts]
        while done.shape[1] < horizon:
            block = self._native_points(contexts)[:, : horizon - done.shape[1]]  # [n, <= prediction_length]
            done = np.concatenate([done, block], axis=1)
            if done.shape[1] < horizon:
                contexts = [np.concatenate([c[-self.context_length :], b])
                            for c, b in zip(contexts, block, strict=True)]
        return done

    def _native_points(self, contexts: list[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for values, observed, loc, scale in self._batches(contexts):
                output = self.module(past_values=values, past_observed_mask=observed, return_loss=False)
                points = output.prediction_outputs[..., 0].double().cpu().numpy()  # [b, prediction_length]
                out.append(points * scale + loc)
        return np.concatenate(out)

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        import torch

        pooled = []
        with torch.inference_mode():
            for values, observed, _, _ in self._batches(context):
                output = self.module(past_values=values, past_observed_mask=observed, return_loss=False)
                hidden = output.backbone_hidden_state[:, 0].float()  # [b, n_patches, d_model]
                pooled.append(hidden.mean(dim=1).cpu().numpy())
        return np.concatenate(pooled)  # [n_series, d_model]

    def _batches(
        self, contexts: list[np.ndarray]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]]:
        """``(values [b, L, 1], observed [b, L, 1], loc [b, 1], scale [b, 1])`` per ``batch_size`` series."""
        import torch

        parameter = next(self.module.parameters())
        for start in range(0, len(contexts), self.batch_size):
            values, observed, loc, scale = standardise(contexts[start : start + self.batch_size], self.context_length)
            yield (
                torch.from_numpy(values[..., None]).to(device=parameter.device, dtype=parameter.dtype),
                torch.from_numpy(observed[..., None]).to(parameter.device),
                loc,
                scale,
            )


def standardise(contexts: list[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TTM's inputs for a batch: ``(values [b, length], observed [b, length], loc [b, 1], scale [b, 1])``.

    Each series is cut to its last ``length`` values and standardised by the mean and standard
    deviation of its observed values (a constant series by its absolute level, or 1). Interior gaps
    are filled by linear interpolation and left padding and leading gaps set to 0 (the mean);
    ``observed`` is False at every position that was not observed. A series whose last ``length``
    values are all missing is read from its last ``length`` observed values instead.
    """
    raw = np.full((len(contexts), length), np.nan)  # [b, length], left-padded with NaN
    for row, series in enumerate(contexts):
        tail = np.asarray(series[-length:], dtype=np.float64)
        if not np.isfinite(tail).any():
            tail = np.asarray(series, dtype=np.float64)[np.isfinite(series)][-length:]
        raw[row, length - len(tail) :] = tail
    observed = np.isfinite(raw)
    count = observed.sum(axis=1, keepdims=True)
    loc = np.where(observed, raw, 0.0).sum(axis=1, keepdims=True) / count  # [b, 1]
    spread = np.sqrt((np.where(observed, raw - loc, 0.0) ** 2).sum(axis=1, keepdims=True) / count)
    scale = np.where(spread > 0, spread, np.where(loc != 0, np.abs(loc), 1.0))
    values = np.where(observed, (raw - loc) / scale, 0.0)
    for row in np.flatnonzero(~observed.all(axis=1)):  # interior gaps: linear interpolation
        positions = np.flatnonzero(observed[row])
        inside = np.arange(positions[0], positions[-1] + 1)
        values[row, inside] = np.interp(inside, positions, values[row, positions])
    return values.astype(np.float32), observed, loc, scale


def check_ttm_folder(folder: Path) -> dict[str, Any]:
    """Return the folder's ``config.json`` after checking it is a TinyTimeMixer checkpoint.

    Raises
    ------
    CheckpointError
        Naming the folder and what is wrong: not a folder, no readable ``config.json``, a config
        that asks for custom code or is of another ``model_type``, no ``model.safetensors``, or weight
        files of another layout beside it (pickles, shards, peft adapters).
    """
    expected = f"a TinyTimeMixer folder: config.json with model_type {MODEL_TYPE!r} and {WEIGHTS_FILE}"
    config = read_config_json(folder, expected)
    if not isinstance(config, dict) or config.get("model_type") != MODEL_TYPE:
        found = config.get("model_type") if isinstance(config, dict) else type(config).__name__
        raise CheckpointError(f"{str(folder / 'config.json')!r} has model_type {found!r}; expected {expected}")
    if "auto_map" in config:
        raise CheckpointError(f"{str(folder)!r} is refused: its config.json asks for custom code (auto_map)")
    check_single_weights_file(folder, "TinyTimeMixer", expected, WEIGHTS_FILE, _OTHER_WEIGHTS)
    return config


def is_ttm_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` has ``model_type`` ``tinytimemixer``."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("model_type") == MODEL_TYPE


def load_ttm(name_or_path: str, options: LoadOptions) -> TTMForecaster:
    """Load a TinyTimeMixer checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder with ``config.json`` (``model_type`` ``tinytimemixer``) and ``model.safetensors``,
        or a hub id such as ``"ibm-granite/granite-timeseries-ttm-r2"`` (its main branch).
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (``None`` = float32 on CPU, bfloat16
        on CUDA) and ``batch_size``.

    Raises
    ------
    CheckpointError
        ``granite-tsfm`` is not installed (naming the install line), the folder is not a TTM
        checkpoint (:func:`check_ttm_folder`), its weights do not fit its config, or the hub
        could not provide it.
    """
    if not ttm_available():
        raise CheckpointError(f"{name_or_path!r} is a TinyTimeMixer model, whose package is not installed: {INSTALL}")
    local = Path(name_or_path).expanduser()
    if local.exists():
        check_ttm_folder(local)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    source = str(local) if local.exists() else name_or_path
    module = _from_pretrained(source, name_or_path, local.exists())
    return TTMForecaster(name_or_path, module.to(device=device, dtype=dtype).eval(), options)


def _from_pretrained(source: str, name: str, is_local: bool) -> Any:
    """``TinyTimeMixerForPrediction.from_pretrained`` from safetensors, refusing weights that do not fit the config."""
    import transformers
    from safetensors import SafetensorError

    transformers.utils.logging.disable_progress_bar()
    cls = ttm_class()
    try:
        with _quiet_transformers():
            module, info = cls.from_pretrained(source, use_safetensors=True, output_loading_info=True)
    except OSError as exc:
        if is_local:
            raise CheckpointError(f"could not read the checkpoint in {source!r}: {exc}") from exc
        raise hub_error(name, exc) from exc
    except (ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source!r} is not a loadable TinyTimeMixer checkpoint: {reason}") from exc
    problems = {key: sorted(map(str, info.get(key) or ())) for key in ("missing_keys", "unexpected_keys",
                                                                      "mismatched_keys")}
    problems = {key: names for key, names in problems.items() if names}
    if problems:
        described = "; ".join(f"{key.replace('_', ' ')}: {', '.join(names[:3])}"
                              + (f" (+{len(names) - 3})" if len(names) > 3 else "") for key, names in problems.items())
        raise CheckpointError(f"{source!r}: its weights do not match its config.json ({described})")
    return module


class _quiet_transformers:  # noqa: N801  (a context manager used like a function)
    """Silence transformers' load report while loading (mismatches are raised here instead)."""

    def __enter__(self) -> None:
        import transformers

        self.level = transformers.utils.logging.get_verbosity()
        transformers.utils.logging.set_verbosity_error()

    def __exit__(self, *exc: object) -> None:
        import transformers

        transformers.utils.logging.set_verbosity(self.level)


def _matches_ttm(repository: HubRepository) -> bool:
    return (repository.config or {}).get("model_type") == MODEL_TYPE


# --- registration ------------------------------------------------------------------

register_model(
    "ibm-granite/granite-timeseries-ttm-r2",
    kind="tsfm",
    description=f"TinyTimeMixer R2, 805k params, point forecasts; context 512, horizon 96 ({INSTALL}; hub)",
)(load_ttm)
register_path_loader("ttm", accepts=is_ttm_folder)(load_ttm)
register_hub_family("ttm", matches=_matches_ttm, install=INSTALL, available=ttm_available)(load_ttm)
