"""Saving a fitted embedding or hybrid classifier as a folder, and loading it back safely.

A classifier folder is data, never code:

- ``classifier.json``: format and version, the embedding model's name or path, the feature
  settings (views, pooling, window, segments, stats), the head's name, the classes in column
  order, the channel count, free ``metadata`` (the CLI stores the training file's columns),
  and the SHA-256 of the array file;
- ``head.npz``: the head's fitted arrays (scaler mean and scale; coefficients and intercepts,
  or the standardised training features and class codes for ``knn``), read with
  ``allow_pickle=False``; a ``hybrid`` classifier (method ``hybrid``, with its kept ``mix``)
  stores them as ``head_<name>`` beside MiniRocket's fitted arrays ``rocket_<name>``
  (dilations, features per dilation, biases, channel choices, length), enough to transform
  new series exactly as at fitting time; its ``model`` is ``null`` when the mix gives the
  embeddings no weight;
- ``.tsfm-run.json``: the marker of :mod:`tsfm.outputs` (kind ``classifier``).

Loading reads the JSON, checks every field and every array's shape against it, and reloads
the embedding model by name through ``tsfm.load``. Nothing from the folder is executed or
unpickled; a hand-edited or corrupt folder is refused with an :class:`~tsfm.errors.InputError`
that says what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.errors import InputError
from tsfm.outputs import folder_kind, staged_folder
from tsfm.tasks.classification.features import EmbeddingFeatures
from tsfm.tasks.classification.heads import HEADS, Head

KIND = "classifier"
FORMAT, VERSION = "tsfm-classifier", 1
CONFIG, ARRAYS = "classifier.json", "head.npz"


def save_classifier(classifier: Any, folder: str | Path, overwrite: bool = False,
                    metadata: dict | None = None, flag: str = "--save") -> Path:
    """Write a fitted embedding (:class:`~tsfm.tasks.classification.classifier.TsfmClassifier`) or
    hybrid (:class:`~tsfm.tasks.classification.hybrid.HybridClassifier`) classifier to ``folder``.

    The folder is staged and swapped in whole (:func:`tsfm.outputs.staged_folder`): a folder of
    another kind is refused unless ``overwrite``.
    """
    from tsfm.tasks.classification.hybrid import HybridClassifier

    if classifier.classes_ is None:
        raise InputError(f"{type(classifier).__name__} is not fitted; call fit(series, labels) first")
    hybrid = isinstance(classifier, HybridClassifier)
    uses_model = not hybrid or classifier.mix_[1] > 0
    if uses_model and not classifier.model_spec:
        raise InputError("the classifier's model has no name to save; build it from a model name or folder")
    arrays = classifier.head.state()
    config = {"format": FORMAT, "version": VERSION, "method": "hybrid" if hybrid else "embedding",
              "model": classifier.model_spec if uses_model else None, "head": classifier.head.name,
              "features": classifier.features.to_dict()}
    if hybrid:
        arrays = {f"head_{k}": v for k, v in arrays.items()}
        if classifier.rocket is not None:
            arrays |= {f"rocket_{k}": v for k, v in classifier.rocket.state().items()}
        config |= {"mix": list(classifier.mix_), "mixes": [list(m) for m in classifier.mixes]}
    with staged_folder(folder, KIND, overwrite=overwrite, flag=flag) as stage:
        np.savez(stage / ARRAYS, **arrays)
        config |= {
            "classes": [str(c) for c in classifier.classes_], "n_channels": int(classifier.n_channels_),
            "min_per_class": classifier.min_per_class, "metadata": metadata or {},
            "arrays": ARRAYS, "sha256": _sha256(stage / ARRAYS),
        }
        (stage / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return Path(folder)


def read_config(folder: str | Path, flag: str = "--load") -> dict:
    """The checked ``classifier.json`` of a classifier folder (no model is loaded)."""
    folder = Path(folder).expanduser()
    where = f"{flag} {str(folder)!r}"
    if not folder.is_dir():
        raise InputError(f"{where}: not a folder; give a folder written by tsfm classify --save")
    if folder_kind(folder) != KIND or not (folder / CONFIG).is_file():
        raise InputError(f"{where}: not a saved classifier (no {CONFIG} with a '{KIND}' marker)")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{where}: {CONFIG} is not readable JSON ({exc})") from None
    try:
        _check_config(config)
    except InputError as exc:
        raise InputError(f"{where}: {CONFIG}: {exc}") from None
    return config


def load_classifier(folder: str | Path, model: Any = None, device: str = "auto", batch_size: int = 256,
                    flag: str = "--load") -> Any:
    """A fitted classifier from a folder written by :func:`save_classifier`.

    Parameters
    ----------
    folder
        The saved classifier.
    model
        Embedding model to use instead of the one the folder names (a loaded forecaster, a
        name or a folder); it must give embeddings of the width the head was fitted on.
    device, batch_size
        Passed to ``tsfm.load`` when the model is loaded by name.
    """
    from tsfm.registry import resolve_model
    from tsfm.tasks.classification.classifier import TsfmClassifier, model_spec

    config = read_config(folder, flag)
    arrays = _read_arrays(Path(folder).expanduser(), config, flag)
    if config["method"] == "hybrid":
        return _load_hybrid(folder, config, arrays, model, device, batch_size, flag)
    try:
        head = Head.from_state(config["head"], arrays, len(config["classes"]))
    except InputError as exc:
        raise InputError(f"{flag} {str(folder)!r}: {ARRAYS}: {exc}") from None
    loaded = resolve_model(model if model is not None else config["model"], needs=("embed",),
                           device=device, batch_size=batch_size)
    classifier = TsfmClassifier(loaded, head=config["head"], features=config["features"],
                                min_per_class=config["min_per_class"])
    classifier.model_spec = model_spec(model) if isinstance(model, str | Path) else config["model"]
    classifier.head = head
    classifier.classes_ = np.array(config["classes"], dtype=object)
    classifier.n_channels_ = config["n_channels"]
    return classifier


def _load_hybrid(folder: str | Path, config: dict, arrays: dict[str, np.ndarray], model: Any,
                 device: str, batch_size: int, flag: str) -> Any:
    """A fitted :class:`~tsfm.tasks.classification.hybrid.HybridClassifier` from checked config and arrays."""
    from tsfm.registry import resolve_model
    from tsfm.tasks.classification.classifier import model_spec
    from tsfm.tasks.classification.hybrid import HybridClassifier
    from tsfm.tasks.classification.rocket import RocketFeatures

    mix = tuple(config["mix"])
    parts = {p: {k[len(p) + 1:]: v for k, v in arrays.items() if k.startswith(p + "_")} for p in ("head", "rocket")}
    try:
        head = Head.from_state("ridge", parts["head"], len(config["classes"]))
        rocket = RocketFeatures.from_state(parts["rocket"]) if mix[0] > 0 else None
    except InputError as exc:
        raise InputError(f"{flag} {str(folder)!r}: {ARRAYS}: {exc}") from None
    spec = model if model is not None else config["model"]
    loaded = resolve_model(spec, needs=("embed",), device=device, batch_size=batch_size) if mix[1] > 0 else None
    classifier = HybridClassifier(loaded, mixes=[mix], features=config["features"],
                                  min_per_class=config["min_per_class"])
    classifier.model_spec = model_spec(model) if isinstance(model, str | Path) else (config["model"] or "")
    classifier.mixes = tuple(tuple(m) for m in config["mixes"])
    classifier.head, classifier.rocket, classifier.mix_ = head, rocket, mix
    classifier.classes_ = np.array(config["classes"], dtype=object)
    classifier.n_channels_ = config["n_channels"]
    return classifier


def _check_config(config: object) -> None:
    if not isinstance(config, dict):
        raise InputError(f"expected a JSON object, got {type(config).__name__}")
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise InputError(f"format {config.get('format')!r} version {config.get('version')!r}; "
                         f"this tsfm reads {FORMAT!r} version {VERSION}")
    if config.get("method") not in ("embedding", "hybrid"):
        raise InputError(f"method {config.get('method')!r}; saved classifiers use 'embedding' or 'hybrid'")
    if config.get("head") not in (HEADS if config["method"] == "embedding" else ("ridge",)):
        raise InputError(f"head {config.get('head')!r}; allowed: {list(HEADS)} ('ridge' for hybrid)")
    needs_model = config["method"] == "embedding" or _check_mix(config)[1] > 0
    if needs_model and (not isinstance(config.get("model"), str) or not config["model"]):
        raise InputError(f"model {config.get('model')!r}: must name the embedding model")
    classes = config.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes) \
            or classes != sorted(map(str, classes)):
        raise InputError(f"classes {classes!r}: must be two or more distinct labels, sorted")
    for key in ("n_channels", "min_per_class"):
        if not isinstance(config.get(key), int) or isinstance(config.get(key), bool) or config[key] < 1:
            raise InputError(f"{key} {config.get(key)!r}: must be an integer >= 1")
    if not isinstance(config.get("features"), dict):
        raise InputError(f"features {config.get('features')!r}: must be an object of feature settings")
    try:
        EmbeddingFeatures(**config["features"])
    except TypeError as exc:
        raise InputError(f"features: {exc}") from None
    if config.get("arrays") != ARRAYS or not isinstance(config.get("sha256"), str):
        raise InputError(f"arrays must be {ARRAYS!r} with its sha256")
    if not isinstance(config.get("metadata", {}), dict):
        raise InputError("metadata must be a JSON object")


def _check_mix(config: dict) -> tuple[float, float]:
    """The kept ``mix`` of a hybrid config (and its candidate ``mixes``), checked."""
    from tsfm.tasks.classification.hybrid import check_mixes

    mix, mixes = config.get("mix"), config.get("mixes")
    if not isinstance(mix, list) or not isinstance(mixes, list):
        raise InputError(f"mix {mix!r} and mixes {mixes!r} must be lists of (rocket, embedding) weights")
    check_mixes(mixes)
    return check_mixes([mix])[0]


def _read_arrays(folder: Path, config: dict, flag: str) -> dict[str, np.ndarray]:
    path = folder / ARRAYS
    where = f"{flag} {str(folder)!r}: {ARRAYS}"
    if not path.is_file():
        raise InputError(f"{where} is missing")
    if _sha256(path) != config["sha256"]:
        raise InputError(f"{where} does not match the sha256 in {CONFIG}; the folder was changed after saving")
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{where} is not a readable .npz of numbers ({exc})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
