"""Student architectures: small forecasters that a TSFM teacher is distilled into.

Every student maps a fixed-length context to quantiles over a fixed horizon::

    context [batch, context_length]  (float, NaN = missing)  ->  quantiles [batch, horizon, n_q]

Three architectures of increasing capacity share the same input and output handling:

- ``linear``: one linear map from the normalised context to all outputs (NLinear/DLinear style);
- ``mlp``: N-BEATS-like doubly residual blocks (each block explains part of the context, removes
  it from the input of the next one, and adds its share of the forecast);
- ``patch``: the context cut into patches, embedded, mixed by depthwise convolutions across
  patches and MLPs within them, then flattened into the output head.

Shared pieces:

- **Instance normalisation.** Each context is shifted by the mean and divided by the standard
  deviation of its observed values (:func:`instance_stats`), so the scale of a series does not
  matter; outputs are mapped back with the same two numbers.
- **Missing values.** After normalisation NaN is replaced by 0 (the series mean); the ``patch``
  student also reads the observed mask, so it can tell a filled value from a real one.
  Left padding with NaN is how a shorter context is fed.
- **Non-crossing quantiles.** The head predicts the median and positive increments (softplus)
  that are summed outwards from it, so quantile ``k+1`` is never below quantile ``k``.

Everything is written with ONNX-exportable operations (no ``nanmean``, no data-dependent control
flow), so :mod:`tsfm.distill.export` can export any student as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsfm.config_io import JsonConfig
from tsfm.errors import InputError
from tsfm.quantiles import DEFAULT_QUANTILE_LEVELS

ARCHITECTURES = ("linear", "mlp", "patch")
SCALE_FLOOR = 1e-5  # relative floor on the instance scale: constant series do not divide by zero


@dataclass(frozen=True)
class StudentConfig(JsonConfig):
    """What a student looks like; round-trips through JSON with :meth:`to_json` / :meth:`from_json`.

    Parameters
    ----------
    architecture
        ``"linear"``, ``"mlp"`` or ``"patch"`` (see the module docstring).
    context_length
        Steps of history the student reads; shorter contexts are left-padded with NaN.
    horizon
        Steps it forecasts.
    quantile_levels
        Increasing levels in (0, 1) it outputs; must contain at least one level.
    hidden_size
        Width of the ``mlp`` blocks and of the ``patch`` embeddings (unused by ``linear``).
    n_blocks
        Residual blocks of ``mlp`` / mixing layers of ``patch`` (unused by ``linear``).
    patch_size
        Patch length of ``patch``; must divide ``context_length``.
    dropout
        Dropout inside blocks while training.
    seed
        Seed of the weight initialisation.
    """

    architecture: str = "mlp"
    context_length: int = 512
    horizon: int = 48
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    hidden_size: int = 128
    n_blocks: int = 2
    patch_size: int = 16
    dropout: float = 0.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, e.g. the teacher's name

    config_name = "student config"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        for name in ("context_length", "horizon", "hidden_size", "n_blocks", "patch_size"):
            _check_positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        levels = _checked_levels(self.quantile_levels)
        object.__setattr__(self, "quantile_levels", levels)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if self.architecture == "patch" and self.context_length % self.patch_size:
            raise InputError(
                f"patch_size {self.patch_size} must divide context_length {self.context_length} "
                "for the 'patch' student"
            )


# Upper bounds on the sizes, far above any useful student: a config (or a student folder's
# student_config.json) asking for more is refused before a single weight is allocated.
SIZE_LIMITS = {"context_length": 65_536, "horizon": 16_384, "hidden_size": 16_384, "n_blocks": 64,
               "patch_size": 65_536}
MAX_PARAMETERS = 100_000_000


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    limit = SIZE_LIMITS.get(name)
    if limit is not None and value > limit:
        raise InputError(f"{name} must be an integer in 1..{limit}, got {value!r}")


def _checked_levels(levels: Any) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in levels)
    except (TypeError, ValueError):
        raise InputError(f"quantile_levels must be numbers in (0, 1), got {levels!r}") from None
    if not values or any(not 0 < x < 1 for x in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"quantile_levels must be strictly increasing numbers in (0, 1), got {list(values)}")
    return values


# ---- shared pieces ------------------------------------------------------------------------------
def instance_stats(context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the observed values of each row.

    Parameters
    ----------
    context
        ``[batch, time]``, NaN = missing; a row with no observed value gets loc 0 and scale 1.

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        ``loc [batch, 1]`` and ``scale [batch, 1]``; scale is floored at
        ``SCALE_FLOOR * (1 + |loc|)`` so constant series stay finite.
    """
    observed = ~torch.isnan(context)
    count = observed.sum(dim=1, keepdim=True).clamp(min=1).to(context.dtype)
    filled = torch.where(observed, context, torch.zeros_like(context))
    loc = filled.sum(dim=1, keepdim=True) / count
    centred = torch.where(observed, context - loc, torch.zeros_like(context))
    scale = torch.sqrt((centred * centred).sum(dim=1, keepdim=True) / count)
    scale = torch.maximum(scale, SCALE_FLOOR * (1.0 + loc.abs()))
    return loc, scale


class QuantileHead(nn.Module):
    """Turns ``[batch, features]`` into non-crossing quantiles ``[batch, horizon, n_q]``.

    A linear layer predicts, per step, the median (the level nearest 0.5) and one raw value per
    other level; softplus makes these positive and a cumulative sum walks them outwards from the
    median, so the levels above it increase and those below it decrease.
    """

    def __init__(self, in_features: int, horizon: int, levels: Sequence[float]) -> None:
        super().__init__()
        self.horizon, self.n_q = horizon, len(levels)
        self.mid = min(range(len(levels)), key=lambda k: abs(levels[k] - 0.5))
        self.proj = nn.Linear(in_features, horizon * self.n_q)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        raw = self.proj(features).reshape(-1, self.horizon, self.n_q)  # [batch, horizon, n_q]
        median = raw[:, :, self.mid : self.mid + 1]  # [batch, horizon, 1]
        steps = nn.functional.softplus(raw)
        above = median + torch.cumsum(steps[:, :, self.mid + 1 :], dim=2)  # levels above the median
        # Levels below: cumulative sum from the median downwards, i.e. over the reversed slice.
        below_reversed = median - torch.cumsum(torch.flip(steps[:, :, : self.mid], dims=[2]), dim=2)
        return torch.cat([torch.flip(below_reversed, dims=[2]), median, above], dim=2)


class Student(nn.Module):
    """Base of the three students: normalise -> ``encode`` -> quantile head -> de-normalise.

    Subclasses implement :meth:`encode`, ``[batch, context_length]`` normalised values and the
    observed mask (1.0 / 0.0) -> ``[batch, features]``.
    """

    def __init__(self, config: StudentConfig, n_features: int) -> None:
        super().__init__()
        self.config = config
        self.head = QuantileHead(n_features, config.horizon, config.quantile_levels)

    def encode(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """``context [batch, context_length]`` (NaN = missing) -> quantiles ``[batch, horizon, n_q]``."""
        loc, scale = instance_stats(context)  # [batch, 1] each
        observed = ~torch.isnan(context)
        values = torch.where(observed, (context - loc) / scale, torch.zeros_like(context))
        normalised = self.head(self.encode(values, observed.to(context.dtype)))  # [batch, horizon, n_q]
        return normalised * scale[:, :, None] + loc[:, :, None]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class LinearStudent(Student):
    """NLinear-style: the normalised context, read by one linear layer per output."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__(config, config.context_length)

    def encode(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return values  # [batch, context_length]


class ResidualBlock(nn.Module):
    """One N-BEATS block: ``residual [batch, n_in]`` -> (backcast ``[batch, n_in]``, forecast ``[batch, d]``)."""

    def __init__(self, n_in: int, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, width), nn.ReLU()
        )
        self.backcast = nn.Linear(width, n_in)
        self.forecast = nn.Linear(width, width)

    def forward(self, residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(residual)
        return self.backcast(hidden), self.forecast(hidden)


class MLPStudent(Student):
    """N-BEATS-like: doubly residual MLP blocks over the normalised context.

    Each block reads what the blocks before it left unexplained (the context minus their
    backcasts) and adds its forecast features to a running sum that feeds the quantile head.
    Missing values reach it as 0 (the series mean); it does not read the mask, which keeps the
    block input at ``context_length`` numbers.
    """

    def __init__(self, config: StudentConfig) -> None:
        super().__init__(config, config.hidden_size)
        self.blocks = nn.ModuleList(
            ResidualBlock(config.context_length, config.hidden_size, config.dropout) for _ in range(config.n_blocks)
        )

    def encode(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        residual = values  # [batch, context_length]
        features = torch.zeros(values.shape[0], self.config.hidden_size, dtype=values.dtype, device=values.device)
        for block in self.blocks:
            backcast, forecast = block(residual)
            residual = residual - backcast
            features = features + forecast  # [batch, hidden_size]
        return features


class MixerLayer(nn.Module):
    """Depthwise convolution across patches, then an MLP within each patch; both residual.

    ``[batch, n_patches, d] -> [batch, n_patches, d]``.
    """

    def __init__(self, d: int, dropout: float, kernel: int = 3) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, kernel_size=kernel, padding=kernel // 2, groups=d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(self.norm1(x).transpose(1, 2)).transpose(1, 2)  # mix along time
        return x + self.mlp(self.norm2(x))  # mix within a patch


class PatchStudent(Student):
    """Patches of the context, embedded and mixed by :class:`MixerLayer`, flattened into the head."""

    def __init__(self, config: StudentConfig) -> None:
        self.n_patches = config.context_length // config.patch_size
        d = max(8, config.hidden_size // 4)  # per-patch width; the head reads n_patches * d features
        super().__init__(config, self.n_patches * d)
        self.embed = nn.Linear(2 * config.patch_size, d)  # values and mask of one patch
        self.position = nn.Parameter(torch.zeros(1, self.n_patches, d))
        self.layers = nn.ModuleList(MixerLayer(d, config.dropout) for _ in range(config.n_blocks))
        self.norm = nn.LayerNorm(d)

    def encode(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        p = self.config.patch_size
        patches = torch.cat(
            [values.reshape(-1, self.n_patches, p), mask.reshape(-1, self.n_patches, p)], dim=2
        )  # [batch, n_patches, 2 * patch_size]
        x = self.embed(patches) + self.position  # [batch, n_patches, d]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x).flatten(1)  # [batch, n_patches * d]


_CLASSES: dict[str, type[Student]] = {"linear": LinearStudent, "mlp": MLPStudent, "patch": PatchStudent}


def build_student(config: StudentConfig) -> Student:
    """A freshly initialised student of ``config.architecture``, seeded by ``config.seed``.

    Raises
    ------
    InputError
        The student would have more than :data:`MAX_PARAMETERS` parameters.
    """
    n_parameters = count_parameters(config)
    if n_parameters > MAX_PARAMETERS:
        raise InputError(
            f"a {config.architecture!r} student of these sizes has {n_parameters:,} parameters; the most a student "
            f"may have is {MAX_PARAMETERS:,}: lower hidden_size, n_blocks or context_length"
        )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        model = _CLASSES[config.architecture](config)
    finally:
        torch.random.set_rng_state(generator_state)
    _init_head(model.head)
    return model


def count_parameters(config: StudentConfig) -> int:
    """Parameters of a student of ``config``, counted on the meta device: no weight is allocated."""
    with torch.device("meta"):
        return _CLASSES[config.architecture](config).n_parameters()


def _init_head(head: QuantileHead) -> None:
    # Start with a 10%-of-a-standard-deviation spread between neighbouring levels: softplus(b) = 0.1.
    with torch.no_grad():
        head.proj.bias.view(head.horizon, head.n_q)[:, :] = math.log(math.expm1(0.1))
        head.proj.bias.view(head.horizon, head.n_q)[:, head.mid] = 0.0


# ---- files --------------------------------------------------------------------------------------
CONFIG_FILE = "student_config.json"
WEIGHTS_FILE = "model.safetensors"


def save_student(model: Student, folder: str | Path) -> Path:
    """Write ``student_config.json`` and ``model.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.to_json(folder / CONFIG_FILE)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    return folder


def is_student_folder(path: Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save_student`."""
    return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


# The fields that fix a student's shapes; save_student writes them all.
SHAPE_FIELDS = ("architecture", "context_length", "horizon", "quantile_levels", "hidden_size", "n_blocks", "patch_size")


def load_student(folder: str | Path) -> Student:
    """Read a student written by :func:`save_student` (safetensors only), in eval mode on CPU.

    Raises
    ------
    CheckpointError
        Naming the file: the folder is incomplete, ``student_config.json`` lacks a shape field or
        holds a value out of range (sizes are bounded before anything is allocated), or the
        weights are not a readable safetensors file or do not match the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tsfm.errors import CheckpointError
    from tsfm.model_folders import read_folder_json

    folder = Path(folder)
    if not is_student_folder(folder):
        raise CheckpointError(f"{folder} is not a distilled student: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    try:
        model = build_student(StudentConfig.from_dict(read_folder_json(folder, CONFIG_FILE, SHAPE_FIELDS, "student")))
    except InputError as exc:
        raise CheckpointError(f"{str(config_path)!r}: {exc}") from None
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(
            f"{str(weights_path)!r} is not a readable safetensors file ({exc}); save the student again"
        ) from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights_path} does not match {CONFIG_FILE}: {exc}") from None
    return model.eval()
