"""Model folders are data, never code: what a folder may hold, and where its references may point.

Every folder ``tsfm.load`` opens is checked here before any library reads it:

- **No custom code.** A ``config.json`` with an ``auto_map`` entry, or a ``model_type`` that is not
  a Chronos architecture (:data:`KNOWN_MODEL_TYPES`), is refused before transformers sees it:
  transformers would import Python files shipped with the folder (and, without
  ``trust_remote_code=False``, ask on stdin whether to). Every transformers load in tsfm passes
  ``trust_remote_code=False`` as well, which also covers hub downloads.
- **JSON that says what it lacks.** :func:`read_folder_json` turns a missing file, invalid JSON or
  a missing key into one :class:`~tsfm.errors.CheckpointError` naming the file and the keys.
- **References stay inside the folder unless given explicitly.** A value in a folder's JSON
  that names another model (``base_model`` of ``finetune.json`` and ``calibration.json``, the
  artefacts of a fine-tuning run, the shards of a weights index) is read by
  :func:`resolve_reference` under one rule:

  1. a registered model name (``seasonal-naive``, ``tsfm-bolt-mini``) is that model;
  2. an **absolute path** is taken as written: tsfm writes one only from a path the user gave
     on the command line or to the API when the folder was made (``tsfm calibrate --model
     /models/base``, ``finetune(tsfm.load("/models/base"), ...)``), so it was given explicitly;
  3. a **relative path** is read relative to the folder holding the JSON and must stay inside
     it once ``..`` and symbolic links are resolved: ``base`` or ``lora/adapter`` are fine,
     ``../other`` is refused, whatever the working directory is;
  4. an ``org/name`` hub id that is no path inside the folder is a hub id.

  Artefacts that tsfm itself writes into a folder (``artifacts`` of ``finetune.json``, weight
  shards) must be inside the folder even when absolute.
- **Bounded chains, no cycles.** A calibrated model may sit on a fine-tuned one, which sits on
  a Chronos folder, and so on; :func:`loading` tracks the folders being loaded, refuses a chain
  longer than :data:`MAX_CHAIN_DEPTH` and a folder that is (through its bases) its own base.

Every refusal is one line naming the folder or file, the key and the value.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from tsfm.errors import CheckpointError

# Every released Chronos family (T5, Bolt, Chronos-2) saves a T5-type config.
KNOWN_MODEL_TYPES = ("t5",)
MAX_CHAIN_DEPTH = 8

_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("tsfm_model_folders_loading", default=())


def check_no_custom_code(folder: Path, config: dict[str, Any]) -> None:
    """Refuse a ``config.json`` that would make transformers import code from the folder.

    Raises
    ------
    CheckpointError
        ``config`` has an ``auto_map``, no ``model_type``, or one outside :data:`KNOWN_MODEL_TYPES`.
    """
    known = ", ".join(repr(t) for t in KNOWN_MODEL_TYPES)
    if "auto_map" in config:
        auto_map = config["auto_map"]
        names = ", ".join(sorted(auto_map)) if isinstance(auto_map, dict) else repr(auto_map)
        reason = f"asks for code shipped with the model (auto_map: {names})"
    elif "model_type" not in config:
        reason = "has no model_type"
    elif config["model_type"] not in KNOWN_MODEL_TYPES:
        reason = f"has model_type {config['model_type']!r}, not a known Chronos architecture ({known})"
    else:
        return
    raise CheckpointError(
        f"{str(folder)!r} is refused: its config.json {reason}; custom code is not run "
        f"(tsfm loads Chronos checkpoints of model_type {known} without auto_map)"
    )


def read_config_json(folder: Path, expected: str) -> Any:
    """The parsed ``folder/config.json`` of a checkpoint folder (any JSON value; the caller checks its shape).

    Raises
    ------
    CheckpointError
        No ``config.json``, or one that is not readable JSON; each names ``expected`` (what the
        loader wanted, e.g. "a Moirai 2 folder: config.json with ... and model.safetensors").
    """
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{str(folder)!r} has no config.json; expected {expected}")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(config_path)!r} is not readable JSON ({exc}); expected {expected}") from exc


def check_single_weights_file(folder: Path, family: str, expected: str, weights_file: str,
                              other_layouts: Sequence[str]) -> None:
    """Refuse a ``family`` folder holding weights of another layout beside its config, or none.

    Raises
    ------
    CheckpointError
        A file of ``other_layouts`` (pickles, shards, peft adapters) is present, or ``weights_file``
        is missing.
    """
    others = [name for name in other_layouts if (folder / name).exists()]
    if others:
        raise CheckpointError(
            f"{str(folder)!r} holds {', '.join(others)} beside its {family} config: mixed files; expected "
            f"{expected} only (pickled weights are never read)"
        )
    if not (folder / weights_file).is_file():
        raise CheckpointError(f"{str(folder)!r} has a {family} config.json but no {weights_file}")


def has_config_keys(config: object, keys: Sequence[str]) -> bool:
    """Whether ``config`` is a dict naming every one of ``keys`` and no ``model_type``.

    How families whose ``config.json`` is their module's constructor arguments (Moirai 2, Toto) are told
    apart from transformers checkpoints and from each other.
    """
    return isinstance(config, dict) and "model_type" not in config and all(key in config for key in keys)


def folder_has_config_keys(path: Path, keys: Sequence[str]) -> bool:
    """Whether ``path`` is a folder whose ``config.json`` passes :func:`has_config_keys`."""
    try:
        return has_config_keys(json.loads((path / "config.json").read_text(encoding="utf-8")), keys)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def check_keyed_folder(folder: Path, family: str, keys: Sequence[str], weights_file: str,
                       other_layouts: Sequence[str]) -> dict[str, Any]:
    """Return the ``config.json`` of a ``family`` folder told apart by ``keys`` (:func:`has_config_keys`).

    Raises
    ------
    CheckpointError
        Naming the folder and what is wrong: no readable ``config.json``, a config that asks for custom
        code, names a ``model_type`` or lacks ``keys``, no ``weights_file``, or weight files of another
        layout beside it (:func:`check_single_weights_file`).
    """
    expected = f"a {family} folder: config.json with {', '.join(keys)} and {weights_file}"
    config = read_config_json(folder, expected)
    if isinstance(config, dict) and "auto_map" in config:
        raise CheckpointError(f"{str(folder)!r} is refused: its config.json asks for custom code (auto_map)")
    if not has_config_keys(config, keys):
        missing = [key for key in keys if key not in config] if isinstance(config, dict) else list(keys)
        raise CheckpointError(f"{str(folder / 'config.json')!r} is not a {family} config (lacks "
                              f"{', '.join(missing) or 'none'}"
                              f"{', has model_type' if isinstance(config, dict) and 'model_type' in config else ''});"
                              f" expected {expected}")
    check_single_weights_file(folder, family, expected, weights_file, other_layouts)
    return config


def read_folder_json(folder: Path, file_name: str, required: Sequence[str], what: str) -> dict[str, Any]:
    """``folder/file_name`` as a dict holding every key of ``required``.

    Raises
    ------
    CheckpointError
        The file is missing or unreadable, is not a JSON object, or lacks keys (all named).
    """
    path = Path(folder) / file_name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{str(folder)!r} is not a complete {what}: {file_name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not readable JSON ({exc}); the {what} is damaged") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} must hold a JSON object, got {type(data).__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise CheckpointError(
            f"{str(path)!r} lacks {', '.join(repr(k) for k in missing)}; a {what} needs {', '.join(required)}"
        )
    return data


def resolve_reference(folder: Path, file_name: str, key: str, value: object, artefact: bool = False) -> str:
    """What ``tsfm.load`` should open for the reference ``value`` read under ``key`` of ``folder/file_name``.

    See the module docstring for the rule. ``artefact=True``: a file tsfm wrote into the folder;
    it must be inside the folder, and names are not accepted.

    Returns
    -------
    str
        The registered name or hub id as written, or an absolute path.

    Raises
    ------
    CheckpointError
        ``value`` is not a non-empty string, points outside the folder, or names nothing.
    """
    where = f"{str(Path(folder) / file_name)!r}"
    if not isinstance(value, str) or not value.strip():
        raise CheckpointError(f"{where}: {key} must be a model name or a path, got {value!r}")
    if not artefact and _is_registered(value):
        return value
    path = Path(value)
    root = Path(folder).resolve()
    if path.is_absolute() and not artefact:
        if not path.exists():
            raise CheckpointError(f"{where}: {key} {value!r} does not exist")
        return value
    if value.startswith("~"):
        raise CheckpointError(f"{where}: {key} {value!r} must be an absolute path or a path inside the folder")
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise CheckpointError(
            f"{where}: {key} {value!r} points outside the folder {str(folder)!r}; a reference in a model "
            "folder must stay inside it (or be an absolute path or a model name given when it was made)"
        )
    if target.exists() or artefact:
        return str(target)
    if _is_hub_id(value):
        if path.exists():
            raise CheckpointError(
                f"{where}: {key} {value!r} is ambiguous: a hub id, and a path in the working directory"
            )
        return value
    raise CheckpointError(
        f"{where}: {key} {value!r} is neither a registered model, a path inside the folder nor an org/name hub id"
    )


@contextlib.contextmanager
def loading(folder: str | Path) -> Iterator[None]:
    """Mark ``folder`` as being loaded while the block runs; refuse cycles and over-long chains.

    Loaders of folders that name a base model (fine-tuned, calibrated) wrap their work in it, so
    a base that is, through any number of folders, the folder itself is caught, and so is a
    chain longer than :data:`MAX_CHAIN_DEPTH`.
    """
    here = Path(folder).resolve()
    chain = _LOADING.get()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(here) :], here))
        raise CheckpointError(
            f"{str(folder)!r} refers back to itself through its base models ({cycle}); "
            "a model folder cannot be its own base"
        )
    if len(chain) >= MAX_CHAIN_DEPTH:
        raise CheckpointError(
            f"{str(chain[0])!r} is built on more than {MAX_CHAIN_DEPTH} model folders (the next one is "
            f"{str(folder)!r}); calibrate or fine-tune a model at most {MAX_CHAIN_DEPTH} folders deep"
        )
    token = _LOADING.set((*chain, here))
    try:
        yield
    finally:
        _LOADING.reset(token)


def _is_registered(name: str) -> bool:
    from tsfm.registry import list_models

    return any(spec.name == name for spec in list_models())


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~")) and ".." not in parts
