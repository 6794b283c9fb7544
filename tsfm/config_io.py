"""Configs as JSON objects: one mixin, one reader and one unknown-field check for every config dataclass.

The pretraining, synthetic-data, fine-tuning and student configs all round-trip through plain
JSON by inheriting :class:`JsonConfig`. A typo in any of them fails the same way: an
:class:`~tsfm.errors.InputError` that names the config, the unknown keys and every known field,
and a file that is missing or not JSON says which file and why.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tsfm.errors import InputError

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """JSON round trip of a frozen config dataclass: ``to_dict``/``from_dict``, ``to_json``/``from_json``.

    A subclass sets :attr:`config_name`, how errors name it, and converts JSON's lists back to
    tuples (and nested dicts back to configs) in its ``__post_init__``, where it validates anyway.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class Sizes(JsonConfig):
    ...     config_name = "sizes config"
    ...     widths: tuple[int, ...] = (1, 2)
    >>> Sizes().to_dict()
    {'widths': [1, 2]}
    """

    config_name: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view: tuples become lists, nested configs and dataclasses become dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Inverse of :meth:`to_dict`; unknown keys raise an :class:`InputError` that lists the known fields."""
        return cls(**known_fields(cls, data, cls.config_name))

    def to_json(self, path: str | Path) -> Path:
        """Write the config as indented JSON to ``path`` (creating the folder) and return the path."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_json(cls: type[C], path: str | Path) -> C:
        """Read a config written by :meth:`to_json` (or by hand)."""
        return cls.from_dict(read_json_object(path, cls.config_name))

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed, validated again by ``__post_init__``."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _plain(value: Any) -> Any:
    """``value`` as JSON types: configs and dataclasses as dicts, tuples as lists, recursively."""
    if isinstance(value, JsonConfig):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


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
