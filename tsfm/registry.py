"""Explicit registry of model names, and ``load`` that turns a name into a model.

Two kinds of entries:

- **named models** (``seasonal-naive``, ``fracast-0``, ``amazon/chronos-bolt-small``):
  a name, a kind, a one-line description and a factory;
- **path loaders**: a predicate that recognises a local folder or file (a Chronos
  checkpoint, later a fine-tuned or exported model) and the factory that loads it.

Backends register themselves in :mod:`tsfm.backends`, which is imported the first
time the registry is read, so ``import tsfm`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsfm.contract import Forecaster
from tsfm.errors import CheckpointError, InputError, UnknownModelError
from tsfm.validation import validate_season_length

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class LoadOptions:
    """Options every factory receives; each backend uses the ones that apply to it.

    Attributes
    ----------
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype
        Torch dtype name for neural models; ``None`` = float32 on CPU, bfloat16 on CUDA.
    batch_size
        Series per forward pass for neural models.
    season_length
        Seasonal period for classical baselines (24 for hourly data with a daily cycle).
    """

    device: str = "auto"
    dtype: str | None = None
    batch_size: int = 256
    season_length: int = 1

    def __post_init__(self) -> None:
        if not (self.device in DEVICES or self.device.startswith("cuda:")):
            raise InputError(f"device must be one of {DEVICES} or 'cuda:N', got {self.device!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES} or None, got {self.dtype!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        validate_season_length(self.season_length)


Factory = Callable[[str, LoadOptions], Forecaster]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model name."""

    name: str
    kind: str
    description: str
    factory: Factory = field(repr=False)


@dataclass(frozen=True)
class PathLoader:
    """Loads local folders or files that ``accepts`` recognises."""

    name: str
    accepts: Callable[[Path], bool]
    factory: Factory = field(repr=False)


_MODELS: dict[str, ModelSpec] = {}
_PATH_LOADERS: dict[str, PathLoader] = {}
# Modules that add path loaders for their own artefacts (fine-tuned folders, exported
# students) are declared under this entry-point group in pyproject.toml, by this
# distribution or any other; they are imported only when a path is being resolved.
LOADER_GROUP = "tsfm.loaders"
_state = {"backends_imported": False, "plugins_imported": False}


def register_model(name: str, kind: str, description: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory`` under ``name``; duplicates are rejected."""

    def decorate(factory: Factory) -> Factory:
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        _MODELS[name] = ModelSpec(name, kind, description, factory)
        return factory

    return decorate


def register_path_loader(name: str, accepts: Callable[[Path], bool]) -> Callable[[Factory], Factory]:
    """Decorator registering a loader for local folders/files that ``accepts`` recognises."""

    def decorate(factory: Factory) -> Factory:
        if name in _PATH_LOADERS:
            raise ValueError(f"path loader {name!r} is already registered")
        _PATH_LOADERS[name] = PathLoader(name, accepts, factory)
        return factory

    return decorate


def _ensure_backends() -> None:
    if not _state["backends_imported"]:
        _state["backends_imported"] = True
        importlib.import_module("tsfm.backends")


def _ensure_plugins() -> None:
    if not _state["plugins_imported"]:
        _state["plugins_imported"] = True
        from importlib.metadata import entry_points

        for plugin in sorted(entry_points(group=LOADER_GROUP), key=lambda ep: ep.name):
            plugin.load()


def list_models() -> list[ModelSpec]:
    """Every registered model, in registration order."""
    _ensure_backends()
    return list(_MODELS.values())


def load(
    name: str,
    *,
    device: str = "auto",
    dtype: str | None = None,
    batch_size: int = 256,
    season_length: int = 1,
) -> Forecaster:
    """Load a model by registered name, hub id or local path.

    Parameters
    ----------
    name
        A registered name (see ``tsfm models``), a local checkpoint folder, or
        a hub id (``org/name``) when the network allows, loaded by the family whose
        ``config.json`` it is (:mod:`tsfm.hub`).
    device, dtype, batch_size, season_length
        See :class:`LoadOptions`.

    Raises
    ------
    UnknownModelError
        ``name`` is not registered, not a path, and not a hub id.
    CheckpointError
        ``name`` is a local path that no loader recognises.
    """
    options = LoadOptions(device=device, dtype=dtype, batch_size=batch_size, season_length=season_length)
    _ensure_backends()
    if name in _MODELS:
        return _MODELS[name].factory(name, options)
    path = Path(name).expanduser()
    if path.exists():
        return _load_path(path, options)
    if _looks_like_hub_id(name):
        from tsfm.hub import load_hub_model  # routes by the repository's config.json (tsfm.hub)

        return load_hub_model(name, options)
    known = ", ".join(_MODELS)
    raise UnknownModelError(
        f"unknown model {name!r}: not a registered name, a local folder or an org/name hub id. "
        f"Registered: {known}"
    )


def resolve_model(model: Forecaster | str | Path, *, needs: tuple[str, ...] = (), **options: Any) -> Forecaster:
    """``model`` itself, or ``load(model, **options)`` when it is a name, folder or hub id.

    What every task does with its ``model`` argument, which may be a loaded forecaster or
    anything :func:`load` accepts.

    Parameters
    ----------
    model
        A forecaster, or a name, folder or hub id for :func:`load`.
    needs
        Methods the caller will call, e.g. ``("embed",)``; a model without one is refused here
        rather than failing later with an ``AttributeError``.
    **options
        Passed to :func:`load` (``device``, ``dtype``, ``batch_size``, ``season_length``);
        ignored when ``model`` is already a forecaster.

    Raises
    ------
    InputError
        ``model`` lacks a method of ``needs``.
    """
    if isinstance(model, str | Path):
        model = load(str(model), **options)
    missing = [method for method in needs if not callable(getattr(model, method, None))]
    if missing:
        wanted = ", ".join(f"{method}()" for method in missing)
        raise InputError(f"model must be a name or a forecaster with {wanted}, got {type(model).__name__}")
    return model


def _load_path(path: Path, options: LoadOptions) -> Forecaster:
    _ensure_plugins()
    for loader in _PATH_LOADERS.values():
        if loader.accepts(path):
            return loader.factory(str(path), options)
    raise CheckpointError(
        f"{str(path)!r} is not a model checkpoint: no loader recognises it "
        f"(expected e.g. a Chronos folder with config.json and model.safetensors)"
    )


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
