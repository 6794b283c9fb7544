"""Models trained by this project and shipped inside the package, so that they work with no download.

Each lives in ``tsfm/models/<name>/`` in the exact folder format that
``chronos.BaseChronosPipeline.from_pretrained`` loads (``config.json`` + ``model.safetensors``),
next to its model card (``README.md``) and the ``pretrain_config.json`` of the run that made it.
They load through the Chronos backend (registered in :mod:`tsfm.backends.bundled`), so they
behave like any hub checkpoint of their family.

Weights are read with safetensors only; nothing is fetched and no remote code runs.
"""

from __future__ import annotations

from pathlib import Path

from tsfm.errors import CheckpointError

MODELS_DIR = Path(__file__).resolve().parent / "models"

BUNDLED_MODELS = {
    "tsfm-bolt-mini": (
        "Chronos-Bolt architecture, 1.8M params, pretrained by this project on synthetic series and a "
        "small real-series corpus (second generation); "
        "context 512, horizon 64, 9 quantiles (bundled, offline)"
    ),
    "tsfm-chronos2-mini": (
        "Chronos-2 architecture, 1.4M params, pretrained by this project on synthetic series with covariate "
        "and group tasks and a small real-series corpus (second generation, GPU-trained); covariates and "
        "cross-learning in context (bundled, offline)"
    ),
}
DEFAULT_MODEL = "tsfm-bolt-mini"


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """Folder of the bundled model ``name``; pass it to ``BaseChronosPipeline.from_pretrained`` directly.

    Raises
    ------
    CheckpointError
        ``name`` is not a bundled model, or its files are missing from this installation.
    """
    if name not in BUNDLED_MODELS:
        raise CheckpointError(f"{name!r} is not a bundled model; bundled: {', '.join(BUNDLED_MODELS)}")
    folder = MODELS_DIR / name
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise CheckpointError(
            f"the bundled model {name!r} is missing from this installation (expected config.json and "
            f"model.safetensors in {folder}); reinstall tsfm-adapt"
        )
    return folder
