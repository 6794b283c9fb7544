"""Chronos-T5, Chronos-Bolt and Chronos-2 behind the tsfm contract.

One loader, :func:`load_chronos`, opens any Chronos checkpoint (a hub id or a local
folder) through ``chronos.BaseChronosPipeline.from_pretrained`` and wraps the
pipeline in the class of its family:

=====================  ======================  ====================================
family                 upstream pipeline       native output per series
=====================  ======================  ====================================
``chronos-t5``         ``ChronosPipeline``     sample paths ``[n_samples, h]``
``chronos-bolt``       ``ChronosBoltPipeline`` 9 quantiles ``[9, h]``
``chronos-2``          ``Chronos2Pipeline``    21 quantiles ``[1, 21, h]`` in a list
=====================  ======================  ====================================

Every family answers the same way: ``Forecast.quantiles [n_series, horizon, n_q]``
at the requested levels (interpolated from the native ones with
:func:`tsfm.quantiles.interpolate_quantiles`, or taken empirically from T5's
samples; levels outside the native range, e.g. 0.01 for Bolt's 0.1..0.9, are
extrapolated with a fitted Laplace tail, never clamped to the nearest native level)
and pooled embeddings ``[n_series, d_model]``.

Series are batched ``batch_size`` at a time, left-padded with NaN and cut to the
model's native context length. Forecasts and embeddings of a series do not depend on
the batch it was sent in: padding is masked out by the models, pooling only reads
positions that hold data, and Chronos-T5 draws its samples with noise that depends on
the sample index and step only (see :class:`ChronosT5Forecaster`).

Importing this module registers the hub names and two path loaders; torch, chronos
and transformers are imported only when a model is loaded. A local folder is checked
before transformers reads it (:func:`check_checkpoint_folder`: no custom code, no peft
adapter that names its own base, weight shards inside the folder), and every load passes
``trust_remote_code=False``, so no code shipped with a model ever runs and nothing prompts.
"""

from __future__ import annotations

import json
import math
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.covariates import Covariates
from tsfm.devices import resolve_device, resolve_dtype
from tsfm.errors import CheckpointError
from tsfm.hub import hub_error, register_hub_family
from tsfm.model_folders import check_no_custom_code, read_config_json, read_folder_json, resolve_reference
from tsfm.quantiles import empirical_quantiles, interpolate_quantiles
from tsfm.registry import LoadOptions, register_model, register_path_loader

if TYPE_CHECKING:
    import torch

CHRONOS_CONFIG_KEYS = ("chronos_config", "chronos_pipeline_class")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# Start of the warning Bolt and Chronos-2 emit for horizons past the native length.
_LONG_HORIZON_WARNING = "We recommend keeping prediction length"


class ChronosForecaster(BaseForecaster):
    """A loaded Chronos pipeline behind the tsfm contract; one subclass per family.

    Use :func:`load_chronos` (or ``tsfm.load``) rather than the constructor.

    Horizons longer than :attr:`prediction_length` are forecast the way upstream
    does it: the model is run again on the context extended by its own forecast
    (Bolt and Chronos-2 feed back every native quantile, which multiplies the batch
    by 9 for the later blocks; T5 feeds back the median path). Quality degrades
    with the distance past the native horizon; upstream's warning about it is
    silenced because this docstring is where the behaviour is stated.

    Embeddings are the encoder states averaged over the positions that hold data:
    the input patches with at least one observed value (Bolt, Chronos-2) or the
    tokens of observed values (T5), plus the summary token the model appends
    ([REG] for Bolt and Chronos-2, EOS for T5). Left padding, missing stretches and
    Chronos-2's masked output-patch token are left out, so a series' embedding does
    not depend on the other series in its batch.

    Parameters
    ----------
    name
        Hub id or folder the model was loaded from.
    pipeline
        The upstream ``ChronosPipeline``, ``ChronosBoltPipeline`` or ``Chronos2Pipeline``.
    options
        Load options; ``batch_size`` series go through the model per call.
    """

    kind = "tsfm"
    family = "chronos"
    has_embeddings = True

    def __init__(self, name: str, pipeline: Any, options: LoadOptions) -> None:
        super().__init__(name)
        self.pipeline = pipeline
        self.batch_size = options.batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, family={self.family!r}, device={self.device!r})"

    @property
    def context_length(self) -> int:
        """Native context length; older observations are ignored."""
        return int(self.pipeline.model_context_length)

    @property
    def prediction_length(self) -> int:
        """Native horizon; longer horizons are forecast autoregressively."""
        return int(self.pipeline.model_prediction_length)

    @property
    def device(self) -> str:
        """Device the weights live on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(self.pipeline.inner_model.device)

    def _predict_quantiles(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        quantiles, means = [], []
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LONG_HORIZON_WARNING)
            for padded in self._batches(context):
                batch_quantiles, batch_mean = self._forecast_batch(padded, horizon, levels)
                quantiles.append(batch_quantiles)  # [b, horizon, n_q]
                means.append(batch_mean)  # [b, horizon]
        return np.concatenate(quantiles), np.concatenate(means)

    def _embed(self, context: list[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            pooled = [self._embed_batch(padded) for padded in self._batches(context)]
        return np.concatenate(pooled)  # [n_series, d_model]

    def _batches(self, context: list[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield ``[b, time]`` float32 arrays of at most ``batch_size`` series.

        Each series is cut to the native context length (upstream would ignore the
        older values anyway) and left-padded with NaN to the longest in its batch.
        """
        for start in range(0, len(context), self.batch_size):
            chunk = [series[-self.context_length :] for series in context[start : start + self.batch_size]]
            padded = np.full((len(chunk), max(len(s) for s in chunk)), np.nan, dtype=np.float32)
            for row, series in enumerate(chunk):
                padded[row, padded.shape[1] - len(series) :] = series
            yield padded

    @abstractmethod
    def _forecast_batch(
        self, padded: np.ndarray, horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forecast one padded batch: ``(quantiles [b, horizon, n_q], mean [b, horizon])``."""

    @abstractmethod
    def _embed_batch(self, padded: np.ndarray) -> np.ndarray:
        """Pooled embeddings ``[b, d_model]`` of one padded batch."""

    def _from_native_quantiles(self, values: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map ``[b, horizon, n_native]`` quantiles to the requested levels; mean = median."""
        native = np.asarray(self.pipeline.quantiles, dtype=np.float64)
        quantiles = interpolate_quantiles(values, native, levels)  # [b, horizon, n_q]
        median = interpolate_quantiles(values, native, np.array([0.5]))[..., 0]  # [b, horizon]
        return quantiles, median


class ChronosBoltForecaster(ChronosForecaster):
    """Chronos-Bolt: direct multi-quantile forecasts from patched inputs."""

    family = "chronos-bolt"

    def _forecast_batch(
        self, padded: np.ndarray, horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        native = self.pipeline.predict(torch.from_numpy(padded), prediction_length=horizon)  # [b, Q, h]
        return self._from_native_quantiles(native.numpy().transpose(0, 2, 1), levels)

    def _embed_batch(self, padded: np.ndarray) -> np.ndarray:
        import torch

        hidden, _ = self.pipeline.embed(torch.from_numpy(padded))  # [b, patches (+1 reg), d]
        config = self.pipeline.model.chronos_config
        mask = observed_patch_mask(padded, config.input_patch_size)  # [b, patches]
        if config.use_reg_token:
            mask = np.concatenate([mask, np.ones((len(mask), 1), dtype=bool)], axis=1)
        return masked_mean(hidden.float().numpy(), mask)


class Chronos2Forecaster(ChronosForecaster):
    """Chronos-2: 21 quantiles per step; covariates, groups and multivariate targets in context.

    Without covariates each series is forecast on its own. With
    :class:`~tsfm.covariates.Covariates` every series (or every multivariate target,
    its variates stacked ``[n_variates, time]``) becomes one upstream input dict with
    its past and known-future covariates; categorical covariates are encoded by
    upstream (target encoding per series). Series of one group id are sent in one
    ``predict`` call with ``cross_learning=True``, so the model attends across them;
    a group holding more than ``batch_size`` rows (targets plus covariates) is split
    into chunks of ``batch_size`` rows, each learned across on its own (upstream
    suggests groups of about 100 rows). Series without a group are forecast
    independently, as without covariates. Static attributes are not given to the
    model: it standardises every input row, so a constant carries nothing.
    """

    family = "chronos-2"
    supports_covariates = True

    def _predict_with_covariates(
        self, context: list[np.ndarray], horizon: int, levels: np.ndarray, covariates: Covariates
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        native = np.full((len(context), horizon, len(self.pipeline.quantiles)), np.nan)  # [n_series, h, Q]
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LONG_HORIZON_WARNING)
            for group, units in chronos2_calls(context, covariates, self.context_length):
                dicts = [inputs for _, inputs in units]
                per_unit = self.pipeline.predict(
                    dicts, prediction_length=horizon, batch_size=self.batch_size, cross_learning=group is not None
                )  # one [n_variates, Q, h] tensor per unit
                for (positions, _), values in zip(units, per_unit, strict=True):
                    native[positions] = values.float().numpy().transpose(0, 2, 1)
        return self._from_native_quantiles(native, levels)

    def _forecast_batch(
        self, padded: np.ndarray, horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        inputs = torch.from_numpy(padded)[:, None, :]  # [b, 1 variate, time]
        per_series = self.pipeline.predict(inputs, prediction_length=horizon, batch_size=len(padded))
        native = torch.cat(per_series).numpy()  # [b, Q, h]
        return self._from_native_quantiles(native.transpose(0, 2, 1), levels)

    def _embed_batch(self, padded: np.ndarray) -> np.ndarray:
        import torch

        inputs = torch.from_numpy(padded)[:, None, :]  # [b, 1 variate, time]
        per_series, _ = self.pipeline.embed(inputs, batch_size=len(padded))  # b x [1, patches + 2, d]
        hidden = torch.cat(per_series).float().numpy()  # [b, patches (+1 reg) + 1 future, d]
        patches = observed_patch_mask(padded, self.pipeline.model.chronos_config.input_patch_size)
        n_rows = len(patches)
        extra = [np.ones((n_rows, 1), dtype=bool)] if self.pipeline.model.chronos_config.use_reg_token else []
        future = np.zeros((n_rows, 1), dtype=bool)  # the masked output-patch token carries no data
        return masked_mean(hidden, np.concatenate([patches, *extra, future], axis=1))


class ChronosT5Forecaster(ChronosForecaster):
    """Chronos-T5: tokenised values, forecasts sampled by the T5 decoder.

    Quantiles are empirical quantiles of ``num_samples`` sample paths (20 for the
    released models) and the mean is the sample mean, so they carry Monte-Carlo
    noise. Levels outside ``[1/S, 1 - 1/S]`` for ``S`` samples (0.05..0.95 for 20)
    would be pinned to the extreme samples, so they are extrapolated instead (see
    :func:`tsfm.quantiles.empirical_quantiles`). Sampling is made reproducible and batch-independent: the token at step
    ``t`` of sample path ``j`` is drawn with the Gumbel-max trick, using noise seeded
    by ``(sampling_seed, t)`` and indexed by ``j``. Every series therefore sees the
    same random numbers wherever it sits in a batch, and a call repeated gives the
    same answer. Temperature, top-k and top-p come from the checkpoint's config, as
    upstream. Change :attr:`sampling_seed` to draw other paths.
    """

    family = "chronos-t5"
    sampling_seed: int = 0

    def _forecast_batch(
        self, padded: np.ndarray, horizon: int, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        samples = self._sample_paths(torch.from_numpy(padded), horizon)  # [b, n_samples, h]
        return empirical_quantiles(samples, levels), samples.mean(axis=1)

    def _embed_batch(self, padded: np.ndarray) -> np.ndarray:
        import torch

        hidden, _ = self.pipeline.embed(torch.from_numpy(padded))  # [b, time (+1 eos), d]
        mask = np.isfinite(padded)  # one token per observed value
        if hidden.shape[1] == padded.shape[1] + 1:  # the EOS token summarises the series
            mask = np.concatenate([mask, np.ones((len(mask), 1), dtype=bool)], axis=1)
        return masked_mean(hidden.float().numpy(), mask)

    def _sample_paths(self, context: torch.Tensor, horizon: int) -> np.ndarray:
        """Sample paths ``[b, n_samples, horizon]``, native-length blocks at a time.

        Past the native horizon the context is extended by the median path and the
        model is run again, as upstream ``ChronosPipeline.predict`` does.
        """
        import torch

        config = self.pipeline.model.config  # chronos.ChronosConfig
        tokenizer = self.pipeline.tokenizer
        blocks: list[torch.Tensor] = []
        done = 0
        while done < horizon:
            steps = min(horizon - done, config.prediction_length)
            token_ids, attention_mask, scale = tokenizer.context_input_transform(context)
            tokens = self._generate(token_ids, attention_mask, steps, first_step=done)  # [b, S, steps]
            block = tokenizer.output_transform(tokens.cpu(), scale)  # [b, S, steps]
            blocks.append(block)
            done += steps
            context = torch.cat([context, block.median(dim=1).values], dim=-1)
        return torch.cat(blocks, dim=-1).float().numpy()

    def _generate(
        self, token_ids: torch.Tensor, attention_mask: torch.Tensor, steps: int, first_step: int
    ) -> torch.Tensor:
        """Decode ``steps`` tokens for every sample path: ``[b, n_samples, steps]``."""
        from transformers import GenerationConfig, LogitsProcessorList
        from transformers.modeling_outputs import BaseModelOutput

        config = self.pipeline.model.config
        model = self.pipeline.inner_model
        n_samples = config.num_samples
        mask = attention_mask.to(model.device)
        # Encode once per series, then give every sample path its own decoder row.
        encoded = model.get_encoder()(input_ids=token_ids.to(model.device), attention_mask=mask)
        hidden = encoded.last_hidden_state.repeat_interleave(n_samples, dim=0)  # [b * S, time, d]
        sampler = SharedNoiseSampler(
            n_samples, config.temperature, config.top_k, config.top_p, self.sampling_seed, first_step
        )
        generation = GenerationConfig(
            min_new_tokens=steps,  # no EOS before the horizon, as upstream
            max_new_tokens=steps,
            do_sample=False,  # argmax of the Gumbel-perturbed scores is the sample
            num_beams=1,
            eos_token_id=config.eos_token_id,
            pad_token_id=config.pad_token_id,
            decoder_start_token_id=model.config.decoder_start_token_id,
        )
        tokens = model.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
            attention_mask=mask.repeat_interleave(n_samples, dim=0),
            generation_config=generation,
            logits_processor=LogitsProcessorList([sampler]),
        )
        return tokens[:, 1:].reshape(len(token_ids), n_samples, -1)  # drop the start token


class SharedNoiseSampler:
    """Logits processor that turns greedy decoding into seeded, row-independent sampling.

    Applies temperature, top-k and top-p like transformers' sampling does, then adds
    Gumbel noise; the argmax of the result is a draw from the filtered softmax. The
    noise for decoder row ``r`` at step ``t`` is row ``r % n_samples`` of a
    ``[n_samples, vocab]`` table seeded by ``seed`` and ``t``, so a series' sample
    paths do not depend on the other series in the batch.
    """

    def __init__(
        self, n_samples: int, temperature: float, top_k: int, top_p: float, seed: int, first_step: int
    ) -> None:
        from transformers.generation import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        self.n_samples = n_samples
        self.seed = seed
        self.first_step = first_step
        self.warpers: list[Any] = []
        if temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(float(temperature)))
        if top_k and top_k > 0:
            self.warpers.append(TopKLogitsWarper(int(top_k)))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(float(top_p)))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        step = self.first_step + input_ids.shape[-1] - 1  # decoder ids begin with the start token
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        uniform = torch.rand((self.n_samples, scores.shape[-1]), generator=generator, dtype=torch.float64)
        gumbel = -torch.log(-torch.log(uniform.clamp_(1e-12, 1.0 - 1e-12)))  # [S, vocab]
        rows = scores.shape[0] // self.n_samples
        return scores.float() + gumbel.float().to(scores.device).repeat(rows, 1)  # row b*S + j gets noise j


def chronos2_calls(
    context: list[np.ndarray], covariates: Covariates, context_length: int
) -> list[tuple[str | None, list[tuple[list[int], dict[str, Any]]]]]:
    """Group series into Chronos-2 ``predict`` calls of upstream input dicts.

    Returns
    -------
    list
        ``(group id or None, units)`` per call, where each unit is ``(positions, dict)``:
        the context positions of its variates and the dict with ``target``
        (``[T]`` or ``[n_variates, T]``), ``past_covariates`` and ``future_covariates``.
        Every dict of a call has the same number of variates, as upstream requires.
    """
    keys = covariates.variate_of or [str(i) for i in range(len(context))]
    units: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        units.setdefault(key, []).append(position)
    calls: dict[tuple[str | None, int], list[tuple[list[int], dict[str, Any]]]] = {}
    for positions in units.values():
        first = positions[0]
        target = np.vstack([context[p][-context_length:] for p in positions]).astype(np.float32)
        inputs: dict[str, Any] = {"target": target[0] if len(positions) == 1 else target}
        if covariates.names:
            inputs["past_covariates"] = {
                name: _covariate_input(values[-context_length:]) for name, values in covariates.past[first].items()
            }
        if covariates.known_future:
            inputs["future_covariates"] = {
                name: _covariate_input(values) for name, values in covariates.future[first].items()
            }
        group = None if covariates.group_ids is None else covariates.group_ids[first]
        calls.setdefault((group, len(positions)), []).append((positions, inputs))
    return [(group, chunk) for (group, _), chunk in calls.items()]


def _covariate_input(values: np.ndarray) -> np.ndarray:
    """Numbers as float32; categories stay an object array (upstream encodes them)."""
    return values if values.dtype == object else values.astype(np.float32)


def observed_patch_mask(padded: np.ndarray, patch_size: int) -> np.ndarray:
    """Which input patches hold at least one observed value: ``[b, n_patches]``.

    Mirrors the patching of Bolt and Chronos-2: the series is left-padded with NaN
    to a multiple of ``patch_size`` and cut into consecutive patches.
    """
    n_rows, length = padded.shape
    n_patches = math.ceil(length / patch_size)
    observed = np.zeros((n_rows, n_patches * patch_size), dtype=bool)
    observed[:, n_patches * patch_size - length :] = np.isfinite(padded)
    return observed.reshape(n_rows, n_patches, patch_size).any(axis=-1)


def masked_mean(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``hidden [b, positions, d]`` over positions where ``mask [b, positions]``."""
    if hidden.shape[:2] != mask.shape:
        raise RuntimeError(f"embedding positions {hidden.shape[:2]} do not match the mask {mask.shape}")
    weights = mask.astype(np.float32)[..., None]  # [b, positions, 1]
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)  # [b, d]


def load_chronos(name_or_path: str, options: LoadOptions) -> ChronosForecaster:
    """Load a Chronos checkpoint from a local folder or the Hugging Face Hub.

    Parameters
    ----------
    name_or_path
        A folder holding ``config.json`` (with ``chronos_config``) and the weights,
        or a hub id such as ``"amazon/chronos-bolt-small"``.
    options
        ``device`` (``auto`` = CUDA when available), ``dtype`` (``None`` = float32 on
        CPU, bfloat16 on CUDA) and ``batch_size``.

    Returns
    -------
    ChronosForecaster
        A :class:`ChronosT5Forecaster`, :class:`ChronosBoltForecaster` or
        :class:`Chronos2Forecaster`, by the checkpoint's pipeline class.

    Raises
    ------
    CheckpointError
        The folder is not a Chronos checkpoint, or the hub could not provide it.
    InputError
        CUDA was requested but is not available.
    """
    import chronos
    import transformers

    transformers.utils.logging.disable_progress_bar()
    local = Path(name_or_path).expanduser()
    if local.exists():
        check_checkpoint_folder(local)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    source = str(local) if local.exists() else name_or_path
    try:
        pipeline = chronos.BaseChronosPipeline.from_pretrained(
            source, device_map=device, dtype=dtype, trust_remote_code=False
        )
    except OSError as exc:
        if local.exists():
            raise CheckpointError(f"could not read the checkpoint in {source!r}: {exc}") from exc
        raise hub_error(name_or_path, exc) from exc
    except _malformed_checkpoint_errors() as exc:
        raise CheckpointError(
            f"{source!r} is not a loadable Chronos checkpoint: {type(exc).__name__}: {exc}"
        ) from exc
    pipeline.inner_model.eval()
    return wrap_pipeline(name_or_path, pipeline, options)


def _malformed_checkpoint_errors() -> tuple[type[Exception], ...]:
    """What upstream raises for a config or weights file it cannot use."""
    import pickle

    from safetensors import SafetensorError

    # chronos checks configs with assert; transformers raises the others.
    return (
        ValueError,
        AssertionError,
        KeyError,
        TypeError,
        RuntimeError,
        SafetensorError,
        pickle.UnpicklingError,
    )


def wrap_pipeline(name: str, pipeline: Any, options: LoadOptions) -> ChronosForecaster:
    """Pick the forecaster class of the pipeline's family."""
    import chronos

    if isinstance(pipeline, chronos.ChronosBoltPipeline):
        # Say where Bolt's input embedding (its [REG] token) is, which peft asks for and the class does not.
        pipeline.inner_model._input_embed_layer = "shared"
        return ChronosBoltForecaster(name, pipeline, options)
    if isinstance(pipeline, chronos.Chronos2Pipeline):
        return Chronos2Forecaster(name, pipeline, options)
    if isinstance(pipeline, chronos.ChronosPipeline):
        if pipeline.model.config.model_type != "seq2seq":
            raise CheckpointError(
                f"{name!r} is a causal (decoder-only) Chronos model; only the encoder-decoder "
                "Chronos-T5 models (model_type 'seq2seq') are supported"
            )
        return ChronosT5Forecaster(name, pipeline, options)
    raise CheckpointError(
        f"{name!r} loads as {type(pipeline).__name__}; expected ChronosPipeline, "
        "ChronosBoltPipeline or Chronos2Pipeline"
    )


def check_checkpoint_folder(folder: Path) -> dict[str, Any]:
    """Return the folder's ``config.json`` after checking it is a Chronos checkpoint.

    Raises
    ------
    CheckpointError
        Naming the folder and what is wrong: ``config.json`` is missing or asks for custom
        code (:func:`tsfm.model_folders.check_no_custom_code`), it has no ``chronos_config`` /
        ``chronos_pipeline_class`` entry, there is no weights file, a peft
        ``adapter_config.json`` sits beside it (peft would load the base model it names), or
        a weights index names a shard outside the folder.
    """
    expected = "a Chronos checkpoint folder: config.json with chronos_config, and model.safetensors"
    if not folder.is_dir():
        raise CheckpointError(f"{str(folder)!r} is a file; expected {expected}")
    config_path = folder / "config.json"
    config = read_config_json(folder, expected)
    if not isinstance(config, dict) or not any(key in config for key in (*CHRONOS_CONFIG_KEYS, "auto_map")):
        raise CheckpointError(
            f"{str(config_path)!r} has neither 'chronos_config' nor 'chronos_pipeline_class': "
            f"{str(folder)!r} is not a Chronos checkpoint; expected {expected}"
        )
    check_no_custom_code(folder, config)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(
            f"{str(folder)!r} has a Chronos config.json but no weights: "
            f"expected one of {', '.join(WEIGHT_FILES)}"
        )
    if (folder / "adapter_config.json").is_file():
        raise CheckpointError(
            f"{str(folder)!r} holds a peft adapter_config.json beside its config.json; peft would load the base "
            "model that file names. Load the adapter with the fine-tuning tools (tsfm finetune, tsfm merge)"
        )
    _check_shards(folder)
    return config


def _check_shards(folder: Path) -> None:
    """Refuse a weights index whose ``weight_map`` names a shard outside ``folder``."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if not (folder / index_name).is_file():
            continue
        index = read_folder_json(folder, index_name, ("weight_map",), "weights index")
        shards = index["weight_map"]
        if not isinstance(shards, dict):
            raise CheckpointError(f"{str(folder / index_name)!r}: weight_map must map weight names to shard files")
        for shard in sorted(set(shards.values()), key=str):
            resolve_reference(folder, index_name, "weight_map", shard, artefact=True)


def is_chronos_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` names a Chronos model (or asks for custom code)."""
    config_path = path / "config.json"
    if not (path.is_dir() and config_path.is_file()):
        return False
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    # A folder asking for custom code is claimed too, so that it is refused with the reason.
    return isinstance(config, dict) and any(key in config for key in (*CHRONOS_CONFIG_KEYS, "auto_map"))


# --- registration ------------------------------------------------------------------

_HUB_MODELS = {
    "amazon/chronos-t5-tiny": "Chronos-T5 tiny, 8M params, sampled forecasts; context 512, horizon 64",
    "amazon/chronos-t5-mini": "Chronos-T5 mini, 20M params, sampled forecasts; context 512, horizon 64",
    "amazon/chronos-t5-small": "Chronos-T5 small, 46M params, sampled forecasts; context 512, horizon 64",
    "amazon/chronos-t5-base": "Chronos-T5 base, 201M params, sampled forecasts; context 512, horizon 64",
    "amazon/chronos-t5-large": "Chronos-T5 large, 709M params, sampled forecasts; context 512, horizon 64",
    "amazon/chronos-bolt-tiny": "Chronos-Bolt tiny, 8.7M params, 9 quantiles; context 2048, horizon 64",
    "amazon/chronos-bolt-mini": "Chronos-Bolt mini, 21M params, 9 quantiles; context 2048, horizon 64",
    "amazon/chronos-bolt-small": "Chronos-Bolt small, 48M params, 9 quantiles; context 2048, horizon 64",
    "amazon/chronos-bolt-base": "Chronos-Bolt base, 205M params, 9 quantiles; context 2048, horizon 64",
    "amazon/chronos-2": "Chronos-2, 120M params, 21 quantiles; context 8192, horizon 1024",
    "autogluon/chronos-2-small": "Chronos-2 small, 28M params, 21 quantiles; context 8192, horizon 1024",
}
for _name, _description in _HUB_MODELS.items():
    register_model(_name, kind="tsfm", description=f"{_description} (Hugging Face Hub)")(load_chronos)

# Local folders whose config.json names a Chronos model.
register_path_loader("chronos", accepts=is_chronos_folder)(load_chronos)
# Unregistered ``org/name`` hub ids whose config.json names a Chronos pipeline.
register_hub_family("chronos", matches=lambda repo: any(key in (repo.config or {}) for key in CHRONOS_CONFIG_KEYS))(
    load_chronos
)
