"""Registers the models shipped inside the package (see :mod:`tsfm.bundled`) under their names."""

from __future__ import annotations

from tsfm.bundled import BUNDLED_MODELS, bundled_model_path
from tsfm.registry import LoadOptions, register_model


def load_bundled(name: str, options: LoadOptions):
    """Load a bundled model through the Chronos backend, named ``name`` in forecasts and reports."""
    from tsfm.backends.chronos import load_chronos

    model = load_chronos(str(bundled_model_path(name)), options)
    model.name = name
    return model


for _name, _description in BUNDLED_MODELS.items():
    register_model(_name, kind="tsfm", description=_description)(load_bundled)
