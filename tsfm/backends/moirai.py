"""Moirai 2 (Salesforce's ``uni2ts`` 2.0.0) behind the tsfm contract.

The network is ``uni2ts``'s ``Moirai2Module``, a causal decoder over patches with a quantile head. The
release declares ``torch<2.5`` and ``numpy~=1.26``; on this stack it is installed without its pins,
``pip install --no-deps uni2ts==2.0.0``, beside the ``moirai`` extra (``jaxtyping``, the one module it
imports at run time that is not already a dependency). A Moirai 2 checkpoint is a folder (or hub
repository) with the module's ``config.json`` (``d_model``, ``patch_size``, ``num_predict_token``,
``quantile_levels``...; no ``model_type``) and a ``model.safetensors``; :func:`load_moirai` reads it with
``Moirai2Module.from_pretrained`` (``huggingface_hub``'s mixin, strict, from safetensors only; a hub id
is fetched as those two files, so no pickle is ever read).

=============  ===================================================================================
context        the last ``context_length`` values (1680, as Salesforce's example); as upstream's
               ``Moirai2Forecast.predict``: gaps filled by the causal mean, a short series
               left-padded with its first value, patches aligned on the last observation
output         9 quantiles 0.1..0.9 per step; other levels are interpolated, levels outside
               0.1..0.9 extrapolated with a fitted Laplace tail (:mod:`tsfm.quantiles`)
mean           the median
long horizons  upstream's rollout: past ``num_predict_token`` patches each of the 9 quantile paths
               is fed back and the next patches' quantiles are taken over the 81 values
embeddings     the encoder's states averaged over the context patches, ``[n_series, d_model]``
covariates     none: they are ignored with :class:`~tsfm.errors.CovariatesIgnoredWarning`
=============  ===================================================================================

What differs from upstream's ``Moirai2Forecast`` (a Lightning module over gluonts, neither of which fits
this stack, see :func:`moirai_class`): missing values are set to the causal mean of the values before
them (before the first observation, to that observation), as upstream's ``CausalMeanImputation``
documents and its ``predict`` intends ("the same imputation strategy as pretraining"); upstream passes
it ``[time, 1]`` arrays, on which it sets every missing value to 0 instead. Time ids count from the
first patch of the series rather than of its padding (a constant shift, to which the rotary attention
is blind). A batch is cut to its longest series (in whole patches) rather than always ``context_length``:
padding patches are masked out of the attention and the scaler either way. On gap-free series tsfm's
quantiles are upstream's ``predict`` to float rounding (tests/test_moirai.py). Weights stay in float32:
the module concatenates a float32 mask to its input, so half-precision weights would not run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device
from tsfm.errors import CheckpointError, InputError, one_line
from tsfm.hub import HubRepository, download_files, register_hub_family
from tsfm.model_folders import check_keyed_folder, folder_has_config_keys, has_config_keys
from tsfm.quantiles import interpolate_quantiles
from tsfm.registry import LoadOptions, register_model, register_path_loader

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Moirai2Module's constructor arguments that every released config.json carries (and no other family's does).
CONFIG_KEYS = ("d_model", "d_ff", "num_layers", "patch_size", "max_seq_len", "num_predict_token", "quantile_levels")
INSTALL = 'pip install -e ".[moirai]" && pip install --no-deps uni2ts==2.0.0'
MODULE_NAME = "uni2ts.model.moirai2.module"
# Weight layouts other than a single model.safetensors: pickles are never read, shards are not Moirai 2's.
_OTHER_WEIGHTS = ("pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
                  "model.ckpt", "adapter_config.json", "adapter_model.safetensors")


def moirai_available() -> bool:
    """Whether ``uni2ts`` and the modules its network imports (``jaxtyping``, ``einops``) can be imported here."""
    return all(importlib.util.find_spec(name) is not None for name in ("uni2ts", "jaxtyping", "einops"))


def moirai_class() -> type:
    """``uni2ts``'s ``Moirai2Module``, imported from its own file.

    ``uni2ts.model.moirai2/__init__.py`` also imports ``Moirai2Forecast``, a Lightning module over gluonts
    (``lightning`` and ``gluonts~=0.14.3``, which pins numpy < 2 and pandas < 2.2): neither fits this stack
    and neither is needed to run the network. ``module.py`` itself imports torch, einops, jaxtyping,
    huggingface_hub and uni2ts's own layers (``uni2ts.module``, ``uni2ts.common``), so it is executed under
    its own name without the package's ``__init__`` (which, imported later where lightning and gluonts are
    installed, finds and reuses it). Where the package was imported first, the module it registered is used.
    """
    module = sys.modules.get(MODULE_NAME)
    if module is None:
        package = importlib.util.find_spec("uni2ts.model")
        if package is None or not package.submodule_search_locations:
            raise CheckpointError(f"uni2ts is installed without uni2ts.model: reinstall it ({INSTALL})")
        path = Path(next(iter(package.submodule_search_locations))) / "moirai2" / "module.py"
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise CheckpointError(f"uni2ts has no {path}: Moirai 2 needs uni2ts 2.0.0 ({INSTALL})")
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[MODULE_NAME]
            raise
    return module.Moirai2Module


class MoiraiForecaster(BaseForecaster):
    """A loaded Moirai 2 behind the tsfm contract; use :func:`load_moirai` or ``tsfm.load``.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    module
        The ``Moirai2Module``, in eval mode.
    options
        Load options; ``batch_size`` series go through the model per pass (times 9 past the native horizon).

    Attributes
    ----------
    context_length
        Most recent values read per series (upstream's ``Moirai2Forecast(context_length=...)``).
    """

    kind = "tsfm"
    family = "moirai"
    has_embeddings = True
    context_length: int = 1680

    def __init__(self, name: str, module: Any, options: LoadOptions) -> None:
        super().__init__(name)
        self.module = module
        self.batch_size = options.batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"

    @property
    def patch_size(self) -> int:
        """Values per token."""
        return int(self.module.patch_size)

    @property
    def prediction_length(self) -> int:
        """Steps one forward pass produces (``num_predict_token`` patches); longer horizons roll out."""
        return int(self.module.num_predict_token) * self.patch_size

    @property
    def quantiles(self) -> np.ndarray:
        """The model's native quantile levels."""
        return np.asarray(self.module.quantile_levels, dtype=np.float64)

    @property
    def device(self) -> str:
        """Device the weights live on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(next(self.module.parameters()).device)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        native = np.concatenate([self.native_quantiles(context[start : start + self.batch_size], horizon)
                                 for start in range(0, len(context), self.batch_size)])  # [n, horizon, 9]
        median = interpolate_quantiles(native, self.quantiles, np.array([0.5]))[..., 0]  # [n, horizon]
        return interpolate_quantiles(native, self.quantiles, levels), median

    def native_quantiles(self, contexts: list[np.ndarray], horizon: int) -> np.ndarray:
        """Quantiles ``[n, horizon, n_native]`` at :attr:`quantiles` of one batch of series, in one rollout."""
        import torch

        tokens = self._tokens(contexts, horizon)
        n_context = tokens[0].shape[1] - -(-horizon // self.patch_size)
        with torch.inference_mode():
            out = rollout(self.module, tokens, n_context)  # [b, n_future, Q, patch]
        out = out.permute(0, 1, 3, 2).reshape(len(contexts), -1, out.shape[2])  # [b, n_future * patch, Q]
        return out[:, :horizon].double().cpu().numpy()

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        import torch

        causal_mask = _torch_util().packed_causal_attention_mask
        pooled = []
        with torch.inference_mode():
            for start in range(0, len(context), self.batch_size):
                target, observed, sample_id, time_id, variate_id, prediction_mask = self._tokens(
                    context[start : start + self.batch_size], 0)
                loc, scale = self.module.scaler(target, observed * ~prediction_mask.unsqueeze(-1), sample_id,
                                                variate_id)
                inputs = torch.cat([(target - loc) / scale, observed.to(torch.float32)], dim=-1)
                states = self.module.encoder(self.module.in_proj(inputs), causal_mask(sample_id, time_id),
                                             time_id=time_id, var_id=variate_id)  # [b, n_context, d_model]
                real = (sample_id == 1).unsqueeze(-1).to(states.dtype)
                pooled.append(((states * real).sum(dim=1) / real.sum(dim=1)).float().cpu().numpy())
        return np.concatenate(pooled)  # [n_series, d_model]

    def _tokens(self, contexts: list[np.ndarray], horizon: int) -> tuple[torch.Tensor, ...]:
        """The packed inputs of ``Moirai2Module.forward`` for a batch: context patches, then ``horizon``'s.

        ``(target [b, seq, patch], observed_mask [b, seq, patch], sample_id [b, seq], time_id [b, seq],
        variate_id [b, seq], prediction_mask [b, seq])`` with ``seq = n_context + n_future`` tokens, as
        upstream's ``Moirai2Forecast._convert`` builds them for one variate.
        """
        import torch

        patch = self.patch_size
        values, observed, real = prepare(contexts, self.context_length, patch)  # [b, n_context * patch]
        b, n_context, n_future = len(contexts), values.shape[1] // patch, -(-horizon // patch)
        parameter = next(self.module.parameters())
        future_observed = np.zeros((b, n_future * patch), dtype=bool)
        future_observed[:, :horizon] = True  # upstream: the horizon observed, its last patch's tail not
        past_real = real.reshape(b, n_context, patch).any(axis=-1)
        seen = (observed & real).reshape(b, n_context, patch).any(axis=-1)
        past_time = np.maximum(np.cumsum(np.maximum.accumulate(seen, axis=-1), axis=-1) - 1, 0)  # [b, n_context]
        future_time = past_time.max(axis=-1, keepdims=True) + 1 + np.arange(n_future)  # [b, n_future]
        arrays = (
            np.concatenate([values.reshape(b, n_context, patch), np.zeros((b, n_future, patch), np.float32)], 1),
            np.concatenate([observed.reshape(b, n_context, patch), future_observed.reshape(b, n_future, patch)], 1),
            np.concatenate([past_real, np.ones((b, n_future), dtype=bool)], 1).astype(np.int64),
            np.concatenate([past_time, future_time], 1).astype(np.int64),
            np.zeros((b, n_context + n_future), dtype=np.int64),
            np.concatenate([np.zeros((b, n_context), bool), np.ones((b, n_future), bool)], 1),
        )
        return tuple(torch.from_numpy(array).to(parameter.device) for array in arrays)


def rollout(module: Any, tokens: tuple[torch.Tensor, ...], n_context: int) -> torch.Tensor:
    """Quantiles ``[b, n_future, Q, patch]`` of the prediction tokens, as ``Moirai2Forecast.forward`` rolls out.

    The last context token predicts ``num_predict_token`` patches. Past those, each of the ``Q`` quantile
    paths is fed back as context (one batch row per path), every path predicts the next patches, and
    their quantiles are taken over the ``Q * Q`` values.
    """
    import torch

    target, observed, sample_id, time_id, variate_id, prediction_mask = tokens
    steps, n_q, patch = int(module.num_predict_token), int(module.num_quantiles), int(module.patch_size)
    b, n_future = target.shape[0], target.shape[1] - n_context
    levels = torch.tensor(list(module.quantile_levels), dtype=torch.float32, device=target.device)

    def heads(preds: torch.Tensor, token: int, count: int) -> torch.Tensor:
        """``[..., count, Q, patch]`` predicted by ``token`` from ``preds [..., seq, steps * Q * patch]``."""
        return preds[..., token, :].unflatten(-1, (steps, n_q, patch))[..., :count, :, :]

    out = torch.empty((b, n_future, n_q, patch), dtype=torch.float32, device=target.device)
    done = min(steps, n_future)
    preds = module(target, observed, sample_id, time_id, variate_id, prediction_mask, training_mode=False)
    out[:, :done] = heads(preds, n_context - 1, done)
    if done == n_future:
        return out
    # One row per quantile path: [b, Q, seq, ...]
    target, observed, sample_id, time_id, variate_id, prediction_mask = (
        tensor.unsqueeze(1).expand(b, n_q, *tensor.shape[1:]).clone() for tensor in tokens)
    target[:, :, n_context : n_context + done] = out[:, :done].permute(0, 2, 1, 3)  # path q continues quantile q
    prediction_mask[:, :, n_context : n_context + done] = False
    while done < n_future:
        count = min(steps, n_future - done)
        preds = module(target, observed, sample_id, time_id, variate_id, prediction_mask, training_mode=False)
        pooled = heads(preds, n_context + done - 1, count)  # [b, Q paths, count, Q, patch]
        pooled = pooled.permute(0, 2, 1, 3, 4).reshape(b, count, n_q * n_q, patch)  # [b, count, Q * Q, patch]
        quantiles = torch.quantile(pooled, levels, dim=2)  # [Q, b, count, patch]
        out[:, done : done + count] = quantiles.permute(1, 2, 0, 3)
        target[:, :, n_context + done : n_context + done + count] = quantiles.permute(1, 0, 2, 3)
        prediction_mask[:, :, n_context + done : n_context + done + count] = False
        done += count
    return out


def prepare(contexts: list[np.ndarray], context_length: int, patch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's context as upstream's ``predict`` lays it out: ``(values, observed, real)``, each ``[b, n * patch]``.

    Each series is imputed (:func:`causal_mean_impute`) and cut to its last ``length`` values, where
    ``length`` is ``context_length`` or the batch's longest series rounded up to whole patches, whichever
    is shorter; a shorter series is left-padded with its first value (observed as that value was), and
    the context is left-padded with zeros (unobserved) to whole patches. ``real`` is False on both paddings.
    """
    longest = max(len(series) for series in contexts)
    length = min(context_length, -(-longest // patch) * patch)
    width = -(-length // patch) * patch
    values = np.zeros((len(contexts), width), dtype=np.float32)
    observed = np.zeros((len(contexts), width), dtype=bool)
    real = np.zeros((len(contexts), width), dtype=bool)
    for row, series in enumerate(contexts):
        tail = causal_mean_impute(series)[-length:]
        seen = np.isfinite(np.asarray(series, dtype=np.float64))[-length:]
        start, first = width - length, width - len(tail)
        values[row, start:first], observed[row, start:first] = tail[0], seen[0]
        values[row, first:], observed[row, first:], real[row, first:] = tail, seen, True
    return values, observed, real


def causal_mean_impute(series: np.ndarray) -> np.ndarray:
    """A copy of ``series`` with each missing value set to the mean of the (filled) values before it.

    Upstream's ``CausalMeanImputation``: values are carried forward, then each missing one is replaced by
    the causal mean. Missing values before the first observation take that observation's value.
    """
    values = np.array(series, dtype=np.float64)
    missing = ~np.isfinite(values)
    if not missing.any():
        return values
    first = int(np.flatnonzero(~missing)[0])
    values[:first] = values[first]
    carried = values[np.maximum.accumulate(np.where(missing, 0, np.arange(len(values))))]
    means = np.concatenate([carried[:1], np.cumsum(carried)[:-1] / np.arange(1, len(values))])
    values[missing] = means[missing]
    return values


def _torch_util() -> Any:
    moirai_class()  # uni2ts.common imports torch, jaxtyping: light, and already loaded by the module
    import uni2ts.common.torch_util

    return uni2ts.common.torch_util


def check_moirai_folder(folder: Path) -> dict[str, Any]:
    """Return the folder's ``config.json`` after checking it is a Moirai 2 checkpoint.

    Raises
    ------
    CheckpointError
        Naming the folder and what is wrong: no readable ``config.json``, a config that asks for custom
        code, names a ``model_type`` or lacks Moirai 2's sizes, no ``model.safetensors``, or weight files
        of another layout beside it (pickles, shards, peft adapters).
    """
    return check_keyed_folder(folder, "Moirai 2", CONFIG_KEYS, WEIGHTS_FILE, _OTHER_WEIGHTS)


def _is_moirai_config(config: object) -> bool:
    return has_config_keys(config, CONFIG_KEYS)


def is_moirai_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` holds Moirai 2's sizes (and no ``model_type``)."""
    return folder_has_config_keys(path, CONFIG_KEYS)


def load_moirai(name_or_path: str, options: LoadOptions) -> MoiraiForecaster:
    """Load a Moirai 2 checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder with ``config.json`` and ``model.safetensors``, or a hub id such as
        ``"Salesforce/moirai-2.0-R-small"`` (its main branch; those two files are fetched).
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (``None`` or ``"float32"``) and ``batch_size``.

    Raises
    ------
    CheckpointError
        ``uni2ts`` is not installed (naming the install line), the folder is not a Moirai 2 checkpoint
        (:func:`check_moirai_folder`), its weights do not fit its config, or the hub could not provide it.
    InputError
        A half-precision ``dtype`` was asked.
    """
    if not moirai_available():
        raise CheckpointError(f"{name_or_path!r} is a Moirai 2 model, whose package is not installed: {INSTALL}")
    if options.dtype not in (None, "float32"):
        raise InputError(f"dtype must be None or 'float32' for Moirai 2 (its module mixes in a float32 mask), "
                         f"got {options.dtype!r}")
    local = Path(name_or_path).expanduser()
    folder = local if local.exists() else download_files(name_or_path, (CONFIG_FILE, WEIGHTS_FILE))
    check_moirai_folder(folder)
    module = _from_pretrained(folder)
    return MoiraiForecaster(name_or_path, module.to(resolve_device(options.device)).eval(), options)


def _from_pretrained(folder: Path) -> Any:
    """``Moirai2Module.from_pretrained`` on a checked folder (safetensors, strict), failures as one CheckpointError."""
    from safetensors import SafetensorError

    cls = moirai_class()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints "Loading weights from local directory"
            return cls.from_pretrained(str(folder), strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError, AssertionError, SafetensorError) as exc:
        raise CheckpointError(
            f"{str(folder)!r} is not a loadable Moirai 2 checkpoint: {type(exc).__name__}: {one_line(exc)}"
        ) from exc


def _matches_moirai(repository: HubRepository) -> bool:
    """A repository with ``model.safetensors`` and a config of Moirai 2's sizes and no ``model_type``."""
    return WEIGHTS_FILE in repository.files and _is_moirai_config(repository.config)


# --- registration ------------------------------------------------------------------

register_model(
    "Salesforce/moirai-2.0-R-small", kind="tsfm",
    description=f"Moirai 2.0-R small, 11M params decoder, 9 quantiles; context 1680 ({INSTALL}; hub)",
)(load_moirai)
register_path_loader("moirai", accepts=is_moirai_folder)(load_moirai)
register_hub_family("moirai", matches=_matches_moirai, install=INSTALL, available=moirai_available)(load_moirai)
