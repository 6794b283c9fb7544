"""Configs as JSON objects: one reader and one unknown-field check for every config dataclass.

The pretraining, synthetic-data, fine-tuning and student configs all round-trip through plain
JSON. They share these helpers so that a typo in any of them fails the same way: an
:class:`~tsfm.errors.InputError` that names the config, the unknown keys and every known field,
and a file that is missing or not JSON says which file and why.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tsfm.errors import InputError


def known_fields(cls: type, data: Any, what: str) -> dict[str, Any]:
    """Check that ``data`` is a mapping whose keys are all fields of dataclass ``cls``.

    Parameters
    ----------
    cls
        The config dataclass.
    data
        The decoded JSON object (or any mapping).
    what
        How errors name the config, e.g. ``"pretraining config"``.

    Returns
    -------
    dict
        A plain copy of ``data``, ready for ``cls(**values)`` (which validates the values).
    """
    if not isinstance(data, Mapping):
        raise InputError(f"a {what} must be a JSON object (a mapping of field to value); got {type(data).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"unknown {what} field(s) {unknown}; known fields: {', '.join(fields)}")
    return dict(data)


def read_json_object(path: str | Path, what: str) -> Any:
    """Decode the JSON file at ``path``; a missing file or invalid JSON raises an ``InputError``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} file {path} is not valid JSON: {exc}") from None


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON (creating the folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(data), indent=2) + "\n")
    return path
