"""The house keeps its shape: imports flow one way and functions stay short.

Layers, lowest first: the core ``tsfm.*``; then ``tsfm.adapters`` and ``tsfm.distill``, which
do not import each other; then ``tsfm.tasks``. A layer imports only layers below it, and
only their public names. Every module file of the repository is parsed with :mod:`ast`,
imports inside functions included, so a lazy import cannot hide a reach upwards. A function
(signature and docstring included) stays within 80 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder of the repository -> the package it installs as (pyproject's package-dir)
PACKAGE_DIRS = {"tsfm": "tsfm", "adapters": "tsfm.adapters", "distill": "tsfm.distill", "tasks": "tsfm.tasks"}
CORE = "tsfm"
# layer -> the layers it must not import
FORBIDDEN = {
    CORE: {"tsfm.adapters", "tsfm.distill", "tsfm.tasks"},
    "tsfm.adapters": {"tsfm.distill", "tsfm.tasks"},
    "tsfm.distill": {"tsfm.adapters", "tsfm.tasks"},
    "tsfm.tasks": set(),
}
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Module:
    name: str  # e.g. tsfm.tasks.anomaly.cli
    path: Path
    is_package: bool  # an __init__.py

    @property
    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(), filename=str(self.path))


@dataclass(frozen=True)
class Import:
    module: Module  # the importing module
    line: int
    target: str  # the imported module
    name: str | None  # the name taken from it (``from target import name``), None for ``import target``

    def __str__(self) -> str:
        what = f"from {self.target} import {self.name}" if self.name else f"import {self.target}"
        return f"{self.module.path.relative_to(ROOT)}:{self.line}: {what}"


def repository_modules() -> list[Module]:
    """Every module file under tsfm/, adapters/, distill/ and tasks/, with its installed name."""
    found = []
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found.append(Module(".".join([package, *parts]), path, is_package))
    return found


def imports_of(module: Module) -> Iterator[Import]:
    """Every ``import`` and ``from ... import`` of a module, at any depth; relative ones resolved."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.name.split(".")
                base = base if module.is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            for alias in node.names:
                yield Import(module, node.lineno, target, alias.name)


def layer_of(name: str) -> str | None:
    """``tsfm.adapters``, ``tsfm.distill``, ``tsfm.tasks`` or the core ``tsfm``; None outside tsfm."""
    for layer in ("tsfm.adapters", "tsfm.distill", "tsfm.tasks"):
        if name == layer or name.startswith(layer + "."):
            return layer
    return CORE if name == CORE or name.startswith(CORE + ".") else None


def is_private(imp: Import) -> bool:
    """The import names a module or an attribute with a leading underscore (dunders aside)."""
    parts = [*imp.target.split("."), *([imp.name] if imp.name else [])]
    return any(p.startswith("_") and not p.startswith("__") for p in parts)


def public_api(package: str) -> set[str] | None:
    """``__all__`` of a package's ``__init__.py``, or None when it does not declare one."""
    for module in MODULES:
        if module.name == package and module.is_package:
            for node in module.tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                    return set(ast.literal_eval(node.value))
    return None


MODULES = repository_modules()
CROSS_LAYER = [
    imp
    for module in MODULES
    for imp in imports_of(module)
    if layer_of(imp.target) is not None and layer_of(imp.target) != layer_of(module.name)
]


def test_when_the_repository_is_walked_then_every_layer_has_modules_and_cross_layer_imports() -> None:
    layers = {layer_of(m.name) for m in MODULES}
    assert layers == {CORE, "tsfm.adapters", "tsfm.distill", "tsfm.tasks"}
    assert any(layer_of(imp.module.name) == "tsfm.tasks" for imp in CROSS_LAYER)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_when_a_layer_imports_then_only_layers_below_it(layer: str) -> None:
    upward = [
        str(imp) for imp in CROSS_LAYER
        if layer_of(imp.module.name) == layer and layer_of(imp.target) in FORBIDDEN[layer]
    ]
    assert not upward, f"{layer} must not import {sorted(FORBIDDEN[layer])}:\n" + "\n".join(upward)


def test_when_a_layer_imports_another_then_only_public_names() -> None:
    private = [str(imp) for imp in CROSS_LAYER if is_private(imp)]
    assert not private, "private names used across layers:\n" + "\n".join(private)


def test_when_tasks_import_adapters_then_only_the_declared_public_api() -> None:
    declared = public_api("tsfm.adapters")
    outside = [
        str(imp) for imp in CROSS_LAYER
        if layer_of(imp.module.name) == "tsfm.tasks" and layer_of(imp.target) == "tsfm.adapters"
        and (is_private(imp) or (imp.target == "tsfm.adapters" and declared is not None and imp.name not in declared))
    ]
    assert not outside, "tsfm.tasks uses non-public names of tsfm.adapters:\n" + "\n".join(outside)


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name (n lines)`` of every function or method longer than ``limit`` lines."""
    found = []
    for module in MODULES:
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{module.path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_when_a_function_is_written_then_it_is_at_most_80_lines() -> None:
    too_long = long_functions()
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines; split them into named steps:\n" + "\n".join(
        too_long
    )


# What adapters/ and distill/ know of a model family comes from tsfm.training (the per-family
# training interface); a new family then adds its backend, its registration and its tests only.
FAMILY_CODE = ("tsfm.backends", "chronos")


def reaches_family_code(imp: Import) -> bool:
    """The import names a backend module (``tsfm.backends...``) or the chronos package itself."""
    full = f"{imp.target}.{imp.name}" if imp.name else imp.target
    return any(name == root or name.startswith(root + ".") for root in FAMILY_CODE for name in (imp.target, full))


def test_when_adapters_or_distill_need_a_family_then_they_import_no_backend_module() -> None:
    reached = [
        str(imp) for module in MODULES if layer_of(module.name) in ("tsfm.adapters", "tsfm.distill")
        for imp in imports_of(module) if reaches_family_code(imp)
    ]
    assert not reached, "use tsfm.training's TrainingFamily, not a backend module:\n" + "\n".join(reached)


def test_the_backend_check_recognises_every_way_of_importing_a_backend() -> None:
    module = MODULES[0]
    caught = [Import(module, 1, "tsfm.backends.chronos", "wrap_pipeline"), Import(module, 1, "tsfm", "backends"),
              Import(module, 1, "tsfm.backends", None), Import(module, 1, "chronos.chronos_bolt", "X")]
    assert all(reaches_family_code(imp) for imp in caught)
    assert not reaches_family_code(Import(module, 1, "tsfm.training", "training_family"))
