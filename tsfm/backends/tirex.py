"""TiRex (NX-AI's 35M-parameter xLSTM forecaster) behind the tsfm contract.

The model comes from the optional ``tirex-ts`` package (``pip install -e ".[tirex]"``, import
``tirex``). A released TiRex checkpoint is a single Lightning file, ``model.ckpt``: its
``hyper_parameters`` describe the architecture and its ``state_dict`` holds the weights; the hub
repositories (``NX-AI/TiRex``) ship that file and no ``config.json``. :func:`load_tirex` opens a
folder holding it, or a hub id whose repository holds it, through the package's own
``TiRexZero.from_pretrained``, which reads the file with ``torch.load(weights_only=True)``
(tensors and plain containers only, never pickled code) and loads the weights strictly.

=============  ===================================================================================
context        the last ``train_ctx_len`` values (2048 for the released model); shorter series are
               left-padded with NaN by upstream, which the model masks
output         9 quantiles 0.1..0.9 per step; other levels are interpolated, levels outside
               0.1..0.9 extrapolated with a fitted Laplace tail (:mod:`tsfm.quantiles`)
mean           the median, as upstream returns it
long horizons  upstream's own rollout: one 32-step patch per pass, the future patches fed back
               as missing values (no point forecast is fed back)
embeddings     the last block's hidden states averaged over the patches that hold data
covariates     none: they are ignored with :class:`~tsfm.errors.CovariatesIgnoredWarning`
=============  ===================================================================================

The CPU path needs no compiled kernels (upstream's ``torch`` backend of the sLSTM cell); the
``cuda`` backend of upstream needs the ``xlstm`` package and is not used here. Weights stay in
float32: upstream casts every input to float32 before the first layer, so a half-precision copy of
the weights would not run; a ``dtype`` other than float32 is refused.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device
from tsfm.errors import CheckpointError, InputError, one_line
from tsfm.hub import HubRepository, hub_error, register_hub_family
from tsfm.quantiles import interpolate_quantiles
from tsfm.registry import LoadOptions, register_model, register_path_loader

CHECKPOINT_FILE = "model.ckpt"
INSTALL = 'pip install -e ".[tirex]"'
# Files that belong to other layouts: their presence beside model.ckpt makes the folder ambiguous.
_FOREIGN_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def tirex_available() -> bool:
    """Whether the ``tirex`` package (``tirex-ts``) can be imported here."""
    return importlib.util.find_spec("tirex") is not None


class TiRexForecaster(BaseForecaster):
    """A loaded TiRex model behind the tsfm contract; use :func:`load_tirex` or ``tsfm.load``.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    model
        The upstream ``tirex.models.tirex.TiRexZero`` module, in eval mode.
    options
        Load options; ``batch_size`` series go through the model per call.
    """

    kind = "tsfm"
    family = "tirex"
    has_embeddings = True

    def __init__(self, name: str, model: Any, options: LoadOptions) -> None:
        super().__init__(name)
        self.model = model
        self.batch_size = options.batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"

    @property
    def context_length(self) -> int:
        """Native context length; older observations are ignored."""
        return int(self.model.config.train_ctx_len)

    @property
    def prediction_length(self) -> int:
        """Steps produced per forward pass (one output patch); longer horizons are rolled out."""
        return int(self.model.config.output_patch_size)

    @property
    def quantiles(self) -> np.ndarray:
        """The model's native quantile levels."""
        return np.asarray(self.model.config.quantiles, dtype=np.float64)

    @property
    def device(self) -> str:
        """Device the weights live on."""
        return str(next(self.model.parameters()).device)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        native, means = [], []
        for padded in self._batches(context):
            # upstream: quantiles [b, horizon, 9], mean (the median) [b, horizon]
            batch_quantiles, batch_mean = self.model.forecast(
                padded, prediction_length=horizon, batch_size=len(padded), output_type="numpy"
            )
            native.append(batch_quantiles)
            means.append(batch_mean)
        quantiles = interpolate_quantiles(np.concatenate(native), self.quantiles, levels)  # [n, horizon, n_q]
        return quantiles, np.concatenate(means)

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        import torch

        pooled = []
        with torch.inference_mode():
            for padded in self._batches(context):
                hidden = self.model._embed_context(torch.from_numpy(padded))  # [b, tokens, blocks, d]
                last = hidden[:, :, -1, :].float().cpu().numpy()  # [b, tokens, d]
                observed = observed_tokens(padded, last.shape[1], self.model.config.input_patch_size)
                weights = observed.astype(np.float32)[..., None]  # [b, tokens, 1]
                pooled.append((last * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0))
        return np.concatenate(pooled)  # [n_series, d]

    def _batches(self, context: list[np.ndarray]) -> Iterator[np.ndarray]:
        """``[b, time]`` float32 arrays of at most ``batch_size`` series, cut to the context and NaN-left-padded."""
        for start in range(0, len(context), self.batch_size):
            chunk = [series[-self.context_length :] for series in context[start : start + self.batch_size]]
            padded = np.full((len(chunk), max(len(s) for s in chunk)), np.nan, dtype=np.float32)
            for row, series in enumerate(chunk):
                padded[row, padded.shape[1] - len(series) :] = series
            yield padded


def observed_tokens(padded: np.ndarray, n_tokens: int, patch_size: int) -> np.ndarray:
    """Which of the last ``n_tokens`` input patches of each row hold an observed value: ``[b, n_tokens]``.

    Patches are cut from the end of the (left-padded) context, as upstream's tokenizer does.
    """
    n_rows = len(padded)
    width = n_tokens * patch_size
    observed = np.zeros((n_rows, width), dtype=bool)
    tail = np.isfinite(padded[:, -width:])
    observed[:, width - tail.shape[1] :] = tail
    return observed.reshape(n_rows, n_tokens, patch_size).any(axis=-1)


def check_tirex_folder(folder: Path) -> Path:
    """The ``model.ckpt`` of a TiRex checkpoint folder, after checking the folder holds that layout alone.

    Raises
    ------
    CheckpointError
        ``folder`` is not a folder, has no ``model.ckpt``, or also holds files of another layout
        (``config.json``, safetensors or ``pytorch_model.bin``), which would make it ambiguous.
    """
    expected = f"a TiRex checkpoint folder holding {CHECKPOINT_FILE} (as NX-AI/TiRex on the hub)"
    if not folder.is_dir():
        raise CheckpointError(f"{str(folder)!r} is not a folder; expected {expected}")
    checkpoint = folder / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise CheckpointError(f"{str(folder)!r} has no {CHECKPOINT_FILE}; expected {expected}")
    foreign = sorted(name for name in _FOREIGN_FILES if (folder / name).exists())
    if foreign:
        raise CheckpointError(
            f"{str(folder)!r} mixes a TiRex {CHECKPOINT_FILE} with files of another layout ({', '.join(foreign)}); "
            f"expected {expected} and nothing that another family would read"
        )
    return checkpoint


def is_tirex_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding a TiRex ``model.ckpt`` (mixed folders are claimed, then refused)."""
    return path.is_dir() and (path / CHECKPOINT_FILE).is_file()


def load_tirex(name_or_path: str, options: LoadOptions) -> TiRexForecaster:
    """Load a TiRex checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder holding ``model.ckpt``, or a hub id such as ``"NX-AI/TiRex"``.
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (float32 or ``None`` only) and ``batch_size``.

    Raises
    ------
    CheckpointError
        The package is missing (naming the install line), the folder is not a TiRex checkpoint,
        its weights do not match its hyper-parameters, or the hub could not provide it.
    InputError
        A dtype other than float32, or CUDA requested where it is not available.
    """
    if not tirex_available():
        raise CheckpointError(f"{name_or_path!r} is a TiRex model, whose package is not installed: {INSTALL}")
    if options.dtype not in (None, "float32"):
        raise InputError(
            f"dtype must be None or 'float32' for TiRex (upstream casts inputs to float32), got {options.dtype!r}"
        )
    local = Path(name_or_path).expanduser()
    checkpoint = check_tirex_folder(local) if local.exists() else _download_checkpoint(name_or_path)
    model = _from_pretrained(checkpoint, resolve_device(options.device))
    model.eval()
    return TiRexForecaster(name_or_path, model, options)


def _download_checkpoint(name: str) -> Path:
    """The hub repository's ``model.ckpt``, downloaded (or from the local cache)."""
    try:
        import huggingface_hub

        return Path(huggingface_hub.hf_hub_download(name, CHECKPOINT_FILE))
    except Exception as exc:  # noqa: BLE001  the network boundary: connection, HTTP and not-found errors alike
        raise hub_error(name, exc) from exc


def _from_pretrained(checkpoint: Path, device: str) -> Any:
    """``TiRexZero.from_pretrained`` on a local checkpoint file, its failures as one CheckpointError."""
    import contextlib
    import io
    import pickle

    from tirex.models.tirex import TiRexZero

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # upstream prints "Loading weights from local directory"
            return TiRexZero.from_pretrained(str(checkpoint), backend="torch", device=device)
    except (RuntimeError, KeyError, TypeError, ValueError, AssertionError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(
            f"{str(checkpoint)!r} is not a loadable TiRex checkpoint: {type(exc).__name__}: {one_line(exc)}"
        ) from exc


def _matches_tirex(repository: HubRepository) -> bool:
    """A hub repository with a ``model.ckpt`` and no ``config.json`` (TiRex describes itself inside the file)."""
    return repository.config is None and CHECKPOINT_FILE in repository.files


# --- registration ------------------------------------------------------------------

register_model(
    "NX-AI/TiRex", kind="tsfm",
    description="TiRex, 35M params xLSTM, 9 quantiles; context 2048 (Hugging Face Hub; needs the tirex extra)",
)(load_tirex)
register_path_loader("tirex", accepts=is_tirex_folder)(load_tirex)
register_hub_family("tirex", matches=_matches_tirex, install=INSTALL, available=tirex_available)(load_tirex)
