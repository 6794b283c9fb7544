"""Fine-tuned models on disk: save, load, merge, and several adapters over one base model.

A fine-tuning output folder::

    DIR/finetune.json        format marker, base model (name or absolute path) and its weight
                             fingerprint, family, horizon, the kept variant
    DIR/report.json          every figure of the run and the verdict table
    DIR/verdict.csv|.txt     the verdict, as a table and as printed
    DIR/lora/adapter/        peft adapter (adapter_config.json + adapter_model.safetensors, fp16)
    DIR/full/model/          a complete checkpoint of the family (for Chronos: config.json +
                             model.safetensors), written by its TrainingFamily.save

``tsfm.load(DIR)`` returns the kept variant (:func:`load_finetuned`); the base model is loaded
by its name and must have the fingerprint the adapter was trained on. The references in
``finetune.json`` follow :mod:`tsfm.model_folders`: ``base_model`` is a name, an absolute path
(the folder the user fine-tuned) or a path inside DIR; the artefacts are always inside DIR.
Adapters load from safetensors only: a pickled ``adapter_model.bin`` is refused unopened.
:func:`merge_adapter` writes base + adapter as one plain checkpoint of the family for deployment.
What is family-specific comes from the model's :class:`~tsfm.training.TrainingFamily`.
:class:`AdapterBank` holds one base model in memory and switches between adapters without
reloading it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from tsfm.contract import BaseForecaster
from tsfm.errors import CheckpointError, InputError
from tsfm.model_folders import loading, read_folder_json, resolve_reference
from tsfm.registry import LoadOptions, register_path_loader
from tsfm.training import TrainingFamily, training_family

FORMAT = "tsfm-finetune"
VERSION = 1
VARIANTS = ("zero-shot", "lora", "full")


class FinetunedModel(BaseForecaster):
    """A forecaster from :func:`tsfm.adapters.finetune.finetune` or a fine-tuning folder.

    Forecasts and embeddings come from the kept model (``chosen``: ``"zero-shot"``, ``"lora"``
    or ``"full"``); ``report`` holds the run's figures and the verdict.
    """

    kind = "tsfm"
    has_embeddings = True

    def __init__(self, model: Any, report: dict[str, Any], folder: Path, name: str | None = None) -> None:
        super().__init__(name or str(folder))
        self.model = model
        self.report = report
        self.folder = Path(folder)
        self.chosen = report["chosen"]
        self.min_observations = model.min_observations
        self.max_horizon = model.max_horizon

    def __repr__(self) -> str:
        return f"FinetunedModel(name={self.name!r}, chosen={self.chosen!r}, base={self.report['base_model']!r})"

    def _predict_quantiles(self, context, horizon, levels):
        return self.model._predict_quantiles(context, horizon, levels)

    def _embed(self, context):
        return self.model._embed(context)

    @property
    def verdict(self) -> str:
        """The verdict as printed at the end of fine-tuning."""
        return (self.folder / "verdict.txt").read_text()


def save_run(folder: Path, report: dict[str, Any], tuned: dict[str, Any], family: TrainingFamily) -> None:
    """Write each tuned variant, ``finetune.json`` and ``report.json`` (with sizes) into ``folder``."""
    from tsfm.adapters.lora import save_adapter

    folder.mkdir(parents=True, exist_ok=True)
    base_bytes = _base_file_bytes(report["base_model"])
    paths = {}
    for method, forecaster in tuned.items():
        if method == "lora":
            target = save_adapter(forecaster.peft_model, folder / "lora" / "adapter")
            weights = target / "adapter_model.safetensors"
        else:
            target = folder / "full" / "model"
            weights = family.save(family.module(forecaster), target)
        paths[method] = str(target.relative_to(folder))
        run = report["runs"][method]
        run["file_bytes"] = weights.stat().st_size
        run["base_file_bytes"] = base_bytes
        run["file_share_of_base"] = weights.stat().st_size / base_bytes if base_bytes else None
    marker = {
        "format": FORMAT, "version": VERSION, "base_model": report["base_model"],
        "base_fingerprint": report["base_fingerprint"], "family": report["family"],
        "horizon": report["horizon"], "chosen": report["chosen"], "artifacts": paths,
    }
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    (folder / "finetune.json").write_text(json.dumps(marker, indent=2))


def is_finetune_folder(path: Path) -> bool:
    return path.is_dir() and (path / "finetune.json").is_file()


MARKER_KEYS = ("format", "version", "base_model", "base_fingerprint", "family", "horizon", "chosen", "artifacts")


def read_marker(folder: Path) -> dict[str, Any]:
    """``finetune.json`` of ``folder``, checked: every key present, artefact paths inside ``folder``.

    The artefact paths are returned absolute; ``base_model`` is returned as written.
    """
    folder = Path(folder)
    marker = read_folder_json(folder, "finetune.json", MARKER_KEYS, "fine-tuning folder")
    where = str(folder / "finetune.json")
    if marker["format"] != FORMAT:
        raise CheckpointError(f"{where!r} is not a {FORMAT} file (format {marker['format']!r})")
    if not isinstance(marker["version"], int) or marker["version"] > VERSION:
        raise CheckpointError(
            f"{str(folder)!r} was written by a newer tsfm-adapt (format version {marker['version']!r})"
        )
    if marker["chosen"] not in VARIANTS:
        raise CheckpointError(f"{where!r}: chosen must be one of {VARIANTS}, got {marker['chosen']!r}")
    artifacts = marker["artifacts"]
    if not isinstance(artifacts, dict) or not set(artifacts) <= {"lora", "full"}:
        raise CheckpointError(f"{where!r}: artifacts must map 'lora'/'full' to folders, got {artifacts!r}")
    marker["artifacts"] = {
        method: resolve_reference(folder, "finetune.json", f"artifacts.{method}", path, artefact=True)
        for method, path in artifacts.items()
    }
    return marker


def load_finetuned(
    folder: str | Path, variant: str | None = None, options: LoadOptions | None = None, name: str | None = None
) -> FinetunedModel:
    """Load a fine-tuning folder; ``variant`` picks ``zero-shot``/``lora``/``full`` (default: the kept one).

    Raises
    ------
    CheckpointError
        The base model's weights are not the ones the adapter was trained on, or the variant
        was not trained in this folder.
    """
    from tsfm.registry import load

    folder = Path(folder)
    marker = read_marker(folder)
    report = {**read_folder_json(folder, "report.json", (), "fine-tuning folder"), "base_model": marker["base_model"]}
    variant = variant or marker["chosen"]
    if variant not in VARIANTS:
        raise InputError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant != "zero-shot" and variant not in marker["artifacts"]:
        raise CheckpointError(f"{str(folder)!r} holds no {variant!r} model; it has {sorted(marker['artifacts'])}")
    options = options or LoadOptions()
    if variant == "full":
        with loading(folder):
            model = load(marker["artifacts"]["full"], device=options.device, dtype=options.dtype,
                         batch_size=options.batch_size)
        return FinetunedModel(model, {**report, "chosen": "full"}, folder, name)
    base_ref = resolve_reference(folder, "finetune.json", "base_model", marker["base_model"])
    with loading(folder):
        base = load(base_ref, device=options.device, dtype=options.dtype, batch_size=options.batch_size)
    check_base(base, marker, folder)
    if variant == "zero-shot":
        return FinetunedModel(base, {**report, "chosen": "zero-shot"}, folder, name)
    from tsfm.adapters.lora import load_adapter

    family = training_family(base, "loading a LoRA adapter")
    peft_model = load_adapter(family.module(base), Path(marker["artifacts"]["lora"]))
    # fold B @ A into the weights, in the base's own module: inference as fast as the base model
    merged = peft_model.merge_and_unload()
    model = family.rebuild(base, merged, f"{base.name} (lora)")
    return FinetunedModel(model, {**report, "chosen": "lora"}, folder, name)


def check_base(base: Any, marker: dict[str, Any], folder: Path) -> None:
    """Refuse a base model whose weights differ from the ones the adapter was trained on."""
    from tsfm.adapters.lora import fingerprint

    if getattr(base, "family", None) != marker["family"]:
        raise CheckpointError(
            f"the adapter in {str(folder)!r} is for a {marker['family']} model, got {base!r}"
        )
    module = training_family(base, "loading a LoRA adapter").module(base)
    found = fingerprint(module)
    if marker["base_fingerprint"] not in (found, fingerprint(module, legacy=True)):
        raise CheckpointError(
            f"the adapter in {str(folder)!r} was trained on a different base model: {marker['base_model']!r} "
            f"had weight fingerprint {marker['base_fingerprint']}, the model given has {found}"
        )


def merge_adapter(folder: str | Path, destination: str | Path) -> Path:
    """Write base model + the LoRA adapter of ``folder`` as one checkpoint of its family in ``destination``.

    The result loads with ``tsfm.load`` (for Chronos also with ``chronos.BaseChronosPipeline.from_pretrained``),
    needs no peft, and forecasts as the adapter does.
    """
    model = load_finetuned(folder, variant="lora", options=LoadOptions(device="cpu")).model
    destination = Path(destination)
    family = training_family(model, "merging an adapter")
    family.save(family.module(model), destination)
    return destination


class AdapterBank:
    """One base model in memory, several LoRA adapters over it, switched without reloading.

    Parameters
    ----------
    base
        The forecaster the adapters were trained on, of a family with a training interface
        (its module is copied once; the forecaster is not modified).

    Examples
    --------
    >>> bank = AdapterBank(tsfm.load("tsfm-bolt-mini"))          # doctest: +SKIP
    >>> bank.add("pumps", "runs/pumps"); bank.add("fans", "runs/fans")
    >>> bank.forecaster("pumps").predict_quantiles(series, 24)
    """

    def __init__(self, base: Any) -> None:
        family = training_family(base, "an adapter bank")
        self.base = base
        self.module = copy.deepcopy(family.module(base))  # the adapters are injected into this copy
        self.peft_model = None
        self.names: list[str] = []
        self._forecaster = family.rebuild(base, self.module, base.name)

    def add(self, name: str, folder: str | Path) -> None:
        """Load the LoRA adapter of the fine-tuning folder ``folder`` under ``name``."""
        from tsfm.adapters.lora import add_adapter, load_adapter

        folder = Path(folder)
        marker = read_marker(folder)
        if name in self.names:
            raise InputError(f"an adapter named {name!r} is already in the bank ({self.names})")
        if "lora" not in marker["artifacts"]:
            raise CheckpointError(f"{str(folder)!r} holds no LoRA adapter")
        check_base(self.base, marker, folder)
        adapter = Path(marker["artifacts"]["lora"])
        if self.peft_model is None:
            self.peft_model = load_adapter(self.module, adapter, adapter_name=name)
        else:
            add_adapter(self.peft_model, adapter, adapter_name=name)
        self.names.append(name)

    def forecaster(self, name: str | None) -> BaseForecaster:
        """A forecaster that uses adapter ``name`` (``None``: the base model without adapters)."""
        if name is not None and name not in self.names:
            raise InputError(f"no adapter named {name!r} in the bank; it has {self.names}")
        return _BankView(self, name)

    def _activate(self, name: str | None):
        import contextlib

        if self.peft_model is None:
            return contextlib.nullcontext()
        if name is None:
            return self.peft_model.disable_adapter()
        self.peft_model.set_adapter(name)
        return contextlib.nullcontext()


class _BankView(BaseForecaster):
    """One adapter of an :class:`AdapterBank`, behind the contract."""

    has_embeddings = True

    def __init__(self, bank: AdapterBank, adapter: str | None) -> None:
        super().__init__(f"{bank.base.name} [{adapter or 'base'}]")
        self.bank, self.adapter = bank, adapter
        self.max_horizon = bank._forecaster.max_horizon

    def _predict_quantiles(self, context, horizon, levels):
        with self.bank._activate(self.adapter):
            return self.bank._forecaster._predict_quantiles(context, horizon, levels)

    def _embed(self, context):
        with self.bank._activate(self.adapter):
            return self.bank._forecaster._embed(context)


def _base_file_bytes(base_model: str) -> int | None:
    """Size of the base model's weight file, where it is a local folder or a bundled model."""
    from tsfm.bundled import BUNDLED_MODELS, bundled_model_path

    folder = bundled_model_path(base_model) if base_model in BUNDLED_MODELS else Path(base_model)
    weights = folder / "model.safetensors"
    return weights.stat().st_size if weights.is_file() else None


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, set):
        return sorted(value)
    return str(value)


@register_path_loader("tsfm-finetune", accepts=is_finetune_folder)
def _load_path(name: str, options: LoadOptions) -> FinetunedModel:
    return load_finetuned(name, options=options, name=name)
