"""Routing of unregistered ``org/name`` hub ids to the model family that loads them.

A hub id that is not a registered name (``tsfm models``) says nothing by itself about which
package can load it. Each family registers a :class:`HubFamily` beside its loader: a predicate
over what the repository holds (its ``config.json``, parsed, and its file names) and the factory
that loads the id. :func:`load_hub_model` reads that description from the hub once, picks the
single family that claims it, and refuses with the list of families (and the extra that installs
each) when none does. Nothing here touches the network until a hub id is actually loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tsfm.errors import CheckpointError

if TYPE_CHECKING:
    from tsfm.contract import Forecaster
    from tsfm.registry import Factory, LoadOptions


@dataclass(frozen=True)
class HubRepository:
    """What a hub repository holds, as far as routing needs: its parsed config and its file names.

    ``config`` is ``None`` when the repository has no ``config.json`` (some families ship only a
    checkpoint file and describe the model inside it).
    """

    name: str
    config: dict | None
    files: tuple[str, ...]


@dataclass(frozen=True)
class HubFamily:
    """A model family that can load hub ids.

    Attributes
    ----------
    name
        The family's name, shown in errors (``chronos``, ``tirex``...).
    matches
        Whether a repository belongs to the family, from its :class:`HubRepository` alone.
    factory
        Loads the hub id (the family's own loader; it downloads what it needs).
    install
        How to install the family's package where it is optional, e.g. ``pip install -e ".[tirex]"``;
        empty for families that come with the base install.
    available
        Whether the family's package can be imported here; a matching family that is not
        available is named with its ``install`` line instead of being loaded.
    """

    name: str
    matches: Callable[[HubRepository], bool]
    factory: Factory = field(repr=False)
    install: str = ""
    available: Callable[[], bool] = field(default=lambda: True, repr=False)


_FAMILIES: dict[str, HubFamily] = {}


def register_hub_family(
    name: str,
    matches: Callable[[HubRepository], bool],
    *,
    install: str = "",
    available: Callable[[], bool] | None = None,
) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory`` as the loader of hub repositories that ``matches`` claims."""

    def decorate(factory: Factory) -> Factory:
        if name in _FAMILIES:
            raise ValueError(f"hub family {name!r} is already registered")
        _FAMILIES[name] = HubFamily(name, matches, factory, install, available or (lambda: True))
        return factory

    return decorate


def hub_families() -> list[HubFamily]:
    """Every registered hub family, in registration order."""
    return list(_FAMILIES.values())


def fetch_repository(name: str) -> HubRepository:
    """Read ``name``'s file list and ``config.json`` from the Hugging Face Hub.

    Raises
    ------
    CheckpointError
        The hub cannot be reached, has no such repository, or its ``config.json`` is not a JSON object.
    """
    try:
        import huggingface_hub
        from huggingface_hub.utils import EntryNotFoundError

        files = tuple(huggingface_hub.list_repo_files(name))
        config = None
        if "config.json" in files:
            try:
                path = huggingface_hub.hf_hub_download(name, "config.json")
            except EntryNotFoundError:
                path = None
            if path is not None:
                with open(path, encoding="utf-8") as handle:
                    config = json.load(handle)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{name!r}: its config.json on the hub is not valid JSON ({exc})") from exc
    except Exception as exc:  # noqa: BLE001  the network boundary: connection, HTTP and not-found errors alike
        raise hub_error(name, exc) from exc
    if config is not None and not isinstance(config, dict):
        raise CheckpointError(f"{name!r}: its config.json on the hub is {type(config).__name__}, not a JSON object")
    return HubRepository(name, config, files)


def route(repository: HubRepository) -> HubFamily:
    """The one family that claims ``repository``.

    Raises
    ------
    CheckpointError
        The config asks for remote code (never run), no family claims it, or the family that
        does is not installed (naming the install line).
    """
    if repository.config is not None and "auto_map" in repository.config:
        raise CheckpointError(
            f"{repository.name!r} asks for custom Python code from the hub (auto_map in its config.json); "
            "tsfm never runs remote code"
        )
    claiming = [family for family in _FAMILIES.values() if family.matches(repository)]
    if not claiming:
        known = "; ".join(
            f"{family.name}" + (f" ({family.install})" if family.install else "") for family in _FAMILIES.values()
        )
        model_type = (repository.config or {}).get("model_type")
        described = f"model_type {model_type!r}" if model_type else f"files {', '.join(repository.files[:6]) or 'none'}"
        raise CheckpointError(
            f"{repository.name!r} ({described}) matches no model family this install knows: {known}"
        )
    family = claiming[0]
    if not family.available():
        raise CheckpointError(
            f"{repository.name!r} is a {family.name} model, whose package is not installed: {family.install}"
        )
    return family


def load_hub_model(name: str, options: LoadOptions) -> Forecaster:
    """Load the unregistered hub id ``name`` with the family its repository belongs to."""
    return route(fetch_repository(name)).factory(name, options)


def download_files(name: str, filenames: Sequence[str]) -> Path:
    """Fetch only ``filenames`` of the hub repository ``name`` (or take them from the cache): their folder.

    Raises
    ------
    CheckpointError
        The hub could not provide one of them (:func:`hub_error`).
    """
    try:
        import huggingface_hub

        for filename in filenames:
            path = Path(huggingface_hub.hf_hub_download(name, filename))
        return path.parent
    except Exception as exc:  # noqa: BLE001  the network boundary: connection, HTTP and not-found errors alike
        raise hub_error(name, exc) from exc


def hub_error(name: str, exc: Exception) -> CheckpointError:
    """The error for a hub id that could not be read: why, and how to use a local copy instead."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    folder = name.split("/")[-1]
    return CheckpointError(
        f"could not load {name!r} from the Hugging Face Hub ({reason}), and no local folder of that "
        "name exists. The hub could not be reached or has no such model. To use a copy downloaded "
        f"elsewhere (e.g. `hf download {name} --local-dir {folder}`), pass its local folder "
        f"instead: tsfm.load('/path/to/{folder}'). "
        "Set HF_HUB_OFFLINE=1 to skip the network retries on machines without access."
    )
