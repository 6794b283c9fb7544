"""Path loaders for the folders that adapters write, imported by :mod:`tsfm.registry` on demand.

Each module named in :data:`LOADER_MODULES` registers its own loader with
``tsfm.registry.register_path_loader`` when imported.
"""

from __future__ import annotations

import importlib

LOADER_MODULES: tuple[str, ...] = ("adapters.artifacts", "adapters.calibration")

for _module in LOADER_MODULES:
    importlib.import_module(_module)
