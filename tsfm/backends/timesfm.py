"""TimesFM 2.5 (Google's 200M-parameter decoder-only forecaster) behind the tsfm contract.

The model comes from the optional ``timesfm`` package with its ``torch`` extra
(``pip install -e ".[timesfm]"``). A released checkpoint (``google/timesfm-2.5-200m-pytorch``) is a
folder or hub repository holding ``model.safetensors`` and the ``config.json`` that
huggingface_hub's ``PyTorchModelHubMixin`` writes. :func:`load_timesfm` loads either through the
package's own ``TimesFM_2p5_200M_torch.from_pretrained``: the weights are read with safetensors and
loaded strictly (a weights file whose shapes differ from the architecture is refused), nothing is
unpickled and no code from the folder runs.

The package fixes the 200M architecture in a class attribute. A ``config.json`` may name other
sizes (``num_layers``, ``model_dims``, ``num_heads``; absent keys keep the released ones): the
random-weight checkpoints of the tests use that to build the real architecture small; the
released folder has none of these keys and loads as the 200M model.

=============  ===================================================================================
context        the whole series, up to 16384 values less the horizon (rounded up to 32-value
               patches); shorter series are zero-padded and masked, as upstream does
missing        leading NaN dropped, inner NaN linearly interpolated (upstream's own handling)
output         9 quantiles 0.1..0.9 from the continuous quantile head (up to 1024 steps; beyond,
               the per-patch head), interpolated to the requested levels, extrapolated beyond
               0.1..0.9 with a fitted Laplace tail (:mod:`tsfm.quantiles`)
mean           the model's mean head
flags          upstream's recommended ForecastConfig: normalised inputs, flip invariance,
               non-negative output for non-negative input, no quantile crossing
embeddings     none (upstream exposes no embedding call)
covariates     none: upstream's in-context regression needs jax (the ``xreg`` extra, which pulls
               jax[cuda]); they are ignored with :class:`~tsfm.errors.CovariatesIgnoredWarning`
=============  ===================================================================================

Weights stay in float32: upstream casts every input to float32, so a half-precision copy of the
weights would not run; a ``dtype`` other than float32 is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.devices import resolve_device
from tsfm.errors import CheckpointError, InputError, one_line
from tsfm.hub import HubRepository, hub_error, register_hub_family
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS, interpolate_quantiles
from tsfm.registry import LoadOptions, register_model, register_path_loader

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
INSTALL = 'pip install -e ".[timesfm]"'
# config.json keys that resize the architecture (absent = the released 200M model).
SIZE_KEYS = ("num_layers", "model_dims", "num_heads")
# A parameter every TimesFM 2.5 weights file holds, and files of other layouts.
_MARKER = "output_projection_quantiles.output_layer.weight"
_FOREIGN_FILES = ("model.ckpt", "pytorch_model.bin", "model.safetensors.index.json")
NATIVE_LEVELS = np.asarray(DEFAULT_QUANTILE_LEVELS)  # channels 1..9 of upstream's output; channel 0 is the mean


def timesfm_available() -> bool:
    """Whether TimesFM 2.5's torch implementation (``timesfm`` with its ``torch`` extra) imports here."""
    if importlib.util.find_spec("timesfm") is None or importlib.util.find_spec("torch") is None:
        return False
    import timesfm

    return hasattr(timesfm, "TimesFM_2p5_200M_torch")


class TimesFMForecaster(BaseForecaster):
    """A loaded TimesFM 2.5 model behind the tsfm contract; use :func:`load_timesfm` or ``tsfm.load``.

    Each call compiles upstream's decode for the call's longest series and horizon (cheap: no
    ``torch.compile``) and forecasts ``batch_size`` series per pass, so a series' forecast does
    not depend on how the panel is cut into batches.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    model
        The upstream ``timesfm.TimesFM_2p5_200M_torch`` wrapper, its module in eval mode.
    options
        Load options; ``batch_size`` series go through the model per pass.
    """

    kind = "tsfm"
    family = "timesfm"
    context_limit = 16384  # context + horizon, upstream's limit

    def __init__(self, name: str, model: Any, options: LoadOptions) -> None:
        super().__init__(name)
        self.model = model
        self.batch_size = options.batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"

    @property
    def device(self) -> str:
        """Device the weights live on."""
        return str(self.model.model.device)

    @property
    def patch_length(self) -> int:
        """Input patch length (32)."""
        return int(self.model.model.p)

    def forecast_config(self, longest: int, horizon: int, n_series: int) -> Any:
        """Upstream's ``ForecastConfig`` for a call: recommended flags, sizes fitted to the call."""
        import timesfm

        output_patch = int(self.model.model.o)
        max_horizon = math.ceil(horizon / output_patch) * output_patch
        limit = (self.context_limit - max_horizon) // self.patch_length * self.patch_length
        if limit < self.patch_length:
            raise InputError(f"horizon must leave room for context within {self.context_limit} steps, got {horizon}")
        max_context = min(math.ceil(longest / self.patch_length) * self.patch_length, limit)
        return timesfm.ForecastConfig(
            max_context=max_context,
            max_horizon=max_horizon,
            normalize_inputs=True,
            per_core_batch_size=min(self.batch_size, n_series),
            use_continuous_quantile_head=max_horizon <= int(self.model.model.os),
            force_flip_invariance=True,
            infer_is_positive=True,
            fix_quantile_crossing=True,
        )

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        self.model.compile(self.forecast_config(max(len(s) for s in context), horizon, len(context)))
        native, means = [], []
        for batch in self._batches(context):
            _, quantiles = self.model.forecast(horizon=horizon, inputs=batch)  # [b, horizon, 10]: mean, 0.1..0.9
            native.append(quantiles[..., 1:])
            means.append(quantiles[..., 0])
        return interpolate_quantiles(np.concatenate(native), NATIVE_LEVELS, levels), np.concatenate(means)

    def _batches(self, context: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
        """Lists of at most ``batch_size`` float32 series (upstream pads and masks them itself)."""
        for start in range(0, len(context), self.batch_size):
            yield [series.astype(np.float32) for series in context[start : start + self.batch_size]]


def check_timesfm_folder(folder: Path) -> dict[str, Any]:
    """The sizes a TimesFM 2.5 folder's ``config.json`` names, after checking its files.

    Raises
    ------
    CheckpointError
        ``folder`` is not a folder, has no ``model.safetensors``, holds files of another layout
        beside it, or its ``config.json`` is unreadable, asks for custom code or names bad sizes.
    """
    expected = f"a TimesFM 2.5 folder: {WEIGHTS_FILE} and the {CONFIG_FILE} beside it"
    if not folder.is_dir():
        raise CheckpointError(f"{str(folder)!r} is not a folder; expected {expected}")
    if not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{str(folder)!r} has no {WEIGHTS_FILE}; expected {expected}")
    foreign = sorted(name for name in _FOREIGN_FILES if (folder / name).exists())
    if foreign:
        raise CheckpointError(
            f"{str(folder)!r} mixes TimesFM's {WEIGHTS_FILE} with files of another layout ({', '.join(foreign)}); "
            f"expected {expected}"
        )
    config: dict[str, Any] = {}
    if (folder / CONFIG_FILE).is_file():
        try:
            config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{str(folder / CONFIG_FILE)!r} is not readable JSON ({exc})") from exc
        if not isinstance(config, dict) or "auto_map" in config:
            raise CheckpointError(f"{str(folder / CONFIG_FILE)!r} must be a JSON object without auto_map")
    return sizes_of(config, str(folder / CONFIG_FILE))


def sizes_of(config: dict[str, Any], where: str) -> dict[str, int]:
    """The ``num_layers`` / ``model_dims`` / ``num_heads`` that ``config`` sets, checked."""
    sizes = {key: config[key] for key in SIZE_KEYS if key in config}
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"{where}: {key} must be a positive integer, got {value!r}")
    if "model_dims" in sizes and sizes["model_dims"] % sizes.get("num_heads", 16):
        raise CheckpointError(f"{where}: model_dims {sizes['model_dims']} is not a multiple of num_heads")
    return sizes


def is_timesfm_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``model.safetensors`` holds TimesFM 2.5's quantile head."""
    weights = path / WEIGHTS_FILE
    if not (path.is_dir() and weights.is_file()):
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="np") as handle:
            return _MARKER in handle.keys()
    except Exception:  # noqa: BLE001  an unreadable file is not claimed; its own loader says why
        return False


@contextlib.contextmanager
def architecture(sizes: dict[str, int]) -> Iterator[None]:
    """Build upstream's module with ``sizes`` instead of the 200M ones for the duration of the block.

    Upstream reads its architecture from the class attribute ``TimesFM_2p5_200M_torch_module.config``;
    it is swapped for a resized copy and restored afterwards.
    """
    from timesfm.timesfm_2p5 import timesfm_2p5_torch

    module_class = timesfm_2p5_torch.TimesFM_2p5_200M_torch_module
    released = module_class.config
    if sizes:
        module_class.config = resized_definition(released, **sizes)
    try:
        yield
    finally:
        module_class.config = released


def resized_definition(definition: Any, num_layers: int | None = None, model_dims: int | None = None,
                       num_heads: int | None = None) -> Any:
    """TimesFM 2.5's architecture definition with other depth, width or heads; the rest as released."""
    stacked = definition.stacked_transformers
    dims = model_dims or stacked.transformer.model_dims
    block = dataclasses.replace(stacked.transformer, model_dims=dims, hidden_dims=dims,
                                num_heads=num_heads or stacked.transformer.num_heads)
    return dataclasses.replace(
        definition,
        tokenizer=dataclasses.replace(definition.tokenizer, hidden_dims=dims, output_dims=dims),
        stacked_transformers=dataclasses.replace(stacked, num_layers=num_layers or stacked.num_layers,
                                                 transformer=block),
        output_projection_point=dataclasses.replace(definition.output_projection_point, input_dims=dims,
                                                    hidden_dims=dims),
        output_projection_quantiles=dataclasses.replace(definition.output_projection_quantiles, input_dims=dims,
                                                        hidden_dims=dims),
    )


def load_timesfm(name_or_path: str, options: LoadOptions) -> TimesFMForecaster:
    """Load a TimesFM 2.5 checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder holding ``model.safetensors`` (and ``config.json``), or a hub id such as
        ``"google/timesfm-2.5-200m-pytorch"``.
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (float32 or ``None`` only) and ``batch_size``.

    Raises
    ------
    CheckpointError
        The package is missing (naming the install line), the folder is not a TimesFM 2.5
        checkpoint, its weights do not match its architecture, or the hub could not provide it.
    InputError
        A dtype other than float32, or CUDA requested where it is not available.
    """
    if not timesfm_available():
        raise CheckpointError(f"{name_or_path!r} is a TimesFM 2.5 model, whose package is not installed: {INSTALL}")
    if options.dtype not in (None, "float32"):
        raise InputError(
            f"dtype must be None or 'float32' for TimesFM (upstream casts inputs to float32), got {options.dtype!r}"
        )
    device = resolve_device(options.device)
    local = Path(name_or_path).expanduser()
    sizes = check_timesfm_folder(local) if local.exists() else _hub_sizes(name_or_path)
    model = _from_pretrained(str(local) if local.exists() else name_or_path, sizes, local.exists())
    import torch

    model.model.device = torch.device(device)
    model.model.device_count = 1  # one device per forecaster; batches are not split across GPUs
    model.model.to(device).eval()
    return TimesFMForecaster(name_or_path, model, options)


def _hub_sizes(name: str) -> dict[str, int]:
    """The sizes the hub repository's ``config.json`` names (none: the released architecture)."""
    try:
        import huggingface_hub

        if CONFIG_FILE not in huggingface_hub.list_repo_files(name):
            return {}
        path = huggingface_hub.hf_hub_download(name, CONFIG_FILE)
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{name!r}: its {CONFIG_FILE} on the hub is not valid JSON ({exc})") from exc
    except Exception as exc:  # noqa: BLE001  the network boundary: connection, HTTP and not-found errors alike
        raise hub_error(name, exc) from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{name!r}: its {CONFIG_FILE} on the hub is not a JSON object")
    return sizes_of(config, f"{name}/{CONFIG_FILE}")


def _from_pretrained(source: str, sizes: dict[str, int], local: bool) -> Any:
    """``TimesFM_2p5_200M_torch.from_pretrained(source)``, its failures as one CheckpointError."""
    import timesfm
    from safetensors import SafetensorError

    try:
        with architecture(sizes):
            return timesfm.TimesFM_2p5_200M_torch.from_pretrained(source, torch_compile=False)
    except (RuntimeError, KeyError, ValueError, SafetensorError) as exc:
        raise CheckpointError(
            f"{source!r} is not a loadable TimesFM 2.5 checkpoint: {type(exc).__name__}: {one_line(exc)}"
        ) from exc
    except OSError as exc:
        if local:
            raise CheckpointError(f"could not read the checkpoint in {source!r}: {exc}") from exc
        raise hub_error(source, exc) from exc


def _matches_timesfm(repository: HubRepository) -> bool:
    """A TimesFM 2.5 PyTorch repository: ``model.safetensors``, no transformers ``model_type``, named 2.5."""
    name = repository.name.lower()
    return (
        WEIGHTS_FILE in repository.files
        and "model_type" not in (repository.config or {})
        and "timesfm" in name
        and ("2.5" in name or "2p5" in name)
    )


# --- registration ------------------------------------------------------------------

register_model(
    "google/timesfm-2.5-200m-pytorch", kind="tsfm",
    description="TimesFM 2.5, 200M params, 9 quantiles; context up to 16k (Hugging Face Hub; needs the timesfm extra)",
)(load_timesfm)
register_path_loader("timesfm", accepts=is_timesfm_folder)(load_timesfm)
register_hub_family("timesfm", matches=_matches_timesfm, install=INSTALL, available=timesfm_available)(load_timesfm)
