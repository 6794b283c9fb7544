"""Ensemble folders: the checked ``ensemble.json`` and the path loader that ``tsfm.load`` uses.

:meth:`tsfm.ensemble.EnsembleForecaster.save` writes the folder; this module reads it back. Every
key is checked before any member is loaded, and a file that is corrupt or was edited by hand
into something the ensemble never was (weights that do not sum to 1, a member path leading out
of the folder, levels out of order) raises a :class:`~tsfm.errors.CheckpointError` naming the
key. Member references follow the one rule of :mod:`tsfm.model_folders` (a registered name, an
absolute path, a path inside the folder, or a hub id), and loading is guarded against cycles
and over-long chains of folders there too. It is declared under the ``tsfm.loaders``
entry-point group, so ``tsfm.load(folder)``, ``tsfm forecast --model folder`` and
``tsfm evaluate --models folder`` find it.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from tsfm.ensemble import FILE_NAME, FORMAT, VERSION, EnsembleForecaster
from tsfm.errors import CheckpointError, InputError
from tsfm.model_folders import loading, read_folder_json, resolve_reference
from tsfm.registry import LoadOptions, load, register_path_loader
from tsfm.rolling import RollingWindows

REQUIRED_KEYS = ("format", "version", "name", "members", "quantile_levels", "season_length")


def is_ensemble_folder(path: Path) -> bool:
    """Whether ``path`` is a folder written by :meth:`EnsembleForecaster.save`."""
    return path.is_dir() and (path / FILE_NAME).is_file()


@register_path_loader("tsfm-ensemble", accepts=is_ensemble_folder)
def load_ensemble(path: str, options: LoadOptions) -> EnsembleForecaster:
    """Path loader: read and check ``ensemble.json``, then load each member through ``tsfm.load``.

    Members are loaded with the season length recorded in the file (the weights hold for the
    members as they were validated) and with ``options``' device, dtype and batch size.
    """
    folder = Path(path)
    spec = _read_spec(folder)
    refs = [
        resolve_reference(folder, FILE_NAME, f"members[{i}].ref", m["ref"]) for i, m in enumerate(spec["members"])
    ]
    with loading(folder):  # an ensemble that is (through its members) its own member is refused
        members = [
            load(ref, device=options.device, dtype=options.dtype, batch_size=options.batch_size,
                 season_length=spec["season_length"])
            for ref in refs
        ]
    config = RollingWindows(**spec["config"]) if spec["config"] is not None else None
    return EnsembleForecaster(
        members, [m["weight"] for m in spec["members"]], spec["quantile_levels"], name=spec["name"], refs=refs,
        season_length=spec["season_length"], config=config, report=pd.DataFrame(spec["validation"]),
        selection=spec["selection"], point_weights=_point_weights(spec["members"]),
        series_weights={item: (v["weights"], v["point_weights"]) for item, v in spec["series_weights"].items()},
        max_history=spec["baseline_max_history"],
    )


def _point_weights(members: list[dict[str, Any]]) -> list[float] | None:
    """The members' point weights; None (the weights serve both) in files written before they existed."""
    if not any("point_weight" in m for m in members):
        return None
    return [m.get("point_weight", 0.0) for m in members]


def _read_spec(folder: Path) -> dict[str, Any]:
    """The decoded file, each key checked; a bad one raises a CheckpointError naming it."""
    spec = read_folder_json(folder, FILE_NAME, REQUIRED_KEYS, "ensemble folder")
    file = folder / FILE_NAME

    def bad(key: str, allowed: str) -> CheckpointError:
        return CheckpointError(f"{file}: key {key!r} must be {allowed}, got {spec.get(key, '<missing>')!r}")

    if spec.get("format") != FORMAT:
        raise bad("format", repr(FORMAT))
    if spec.get("version") != VERSION:
        raise bad("version", str(VERSION))
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise bad("name", "a non-empty string")
    members = spec.get("members")
    if not isinstance(members, list) or not members:
        raise bad("members", "a non-empty list of {ref, weight} objects")
    for i, m in enumerate(members):
        if not isinstance(m, dict) or not isinstance(m.get("ref"), str) or not m["ref"]:
            raise CheckpointError(f"{file}: key 'members[{i}].ref' must be a non-empty string, got {m!r}")
        for key in ("weight", "point_weight"):
            w = m.get(key, 0.0 if key == "point_weight" else None)  # point_weight: absent in older files
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
                raise CheckpointError(f"{file}: key 'members[{i}].{key}' must be a number >= 0, got {w!r}")
    for key in ("weight", "point_weight"):
        if key == "point_weight" and not any(key in m for m in members):
            continue  # written before point weights existed: the weights serve both
        total = sum(m.get(key, 0.0) for m in members)
        if abs(total - 1.0) > 1e-6:
            raise CheckpointError(
                f"{file}: key 'members[].{key}' sums to {total:g}, not 1; the file was edited by hand or is "
                "corrupt (fit and save the ensemble again)"
            )
    levels = spec.get("quantile_levels")
    if not isinstance(levels, list) or not levels or not all(
        isinstance(x, numbers.Real) and not isinstance(x, bool) and 0 < x < 1 for x in levels
    ) or sorted(set(levels)) != levels:
        raise bad("quantile_levels", "an increasing list of numbers in (0, 1)")
    season = spec.get("season_length")
    if isinstance(season, bool) or not isinstance(season, int) or season < 1:
        raise bad("season_length", "a positive integer")
    _check_config(file, spec.get("config", "<missing>"))
    if not isinstance(spec.get("validation", []), list):
        raise bad("validation", "a list of rows")
    if not isinstance(spec.get("selection", {}), dict):
        raise bad("selection", "an object")
    _check_series_weights(file, spec.setdefault("series_weights", {}), len(members))
    cap = spec.setdefault("baseline_max_history", None)  # absent in files written before: the whole history
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise bad("baseline_max_history", "a positive integer or null")
    spec.setdefault("validation", [])
    spec.setdefault("selection", {})
    return spec


def _check_series_weights(file: Path, series: Any, n_members: int) -> None:
    """``series_weights``: item id -> {weights, point_weights}, each n_members numbers >= 0 summing to 1."""
    if not isinstance(series, dict):
        raise CheckpointError(f"{file}: key 'series_weights' must be an object of item id -> weights, got {series!r}")
    for item, entry in series.items():
        for key in ("weights", "point_weights"):
            values = entry.get(key) if isinstance(entry, dict) else None
            ok = isinstance(values, list) and len(values) == n_members and all(
                isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in values)
            if not ok or abs(sum(values) - 1.0) > 1e-6:
                raise CheckpointError(
                    f"{file}: key 'series_weights[{item!r}].{key}' must be {n_members} numbers >= 0 summing to 1 "
                    f"(one per member), got {values!r}; the file was edited by hand or is corrupt"
                )


def _check_config(file: Path, config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise CheckpointError(f"{file}: key 'config' must be RollingWindows fields or null, got {config!r}")
    try:
        RollingWindows(**config)
    except (TypeError, InputError) as exc:
        raise CheckpointError(f"{file}: key 'config' is not a RollingWindows config ({exc})") from None
