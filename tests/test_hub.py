"""Unregistered ``org/name`` hub ids are routed by what their repository holds (tsfm.hub)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tsfm
from tsfm import hub


def _repository(name: str, config: dict | None, files: tuple[str, ...] = ("config.json", "model.safetensors")):
    return hub.HubRepository(name, config, files)


def _serve(monkeypatch, repository: hub.HubRepository) -> None:
    monkeypatch.setattr(hub, "fetch_repository", lambda name: repository)


def test_when_the_config_names_a_chronos_pipeline_then_the_hub_id_loads_through_chronos(
    monkeypatch, tiny_checkpoints
):
    import chronos

    folder = tiny_checkpoints["chronos-bolt"]
    config = json.loads((folder / "config.json").read_text())
    _serve(monkeypatch, _repository("someone/bolt-finetuned", config))
    real = chronos.BaseChronosPipeline.from_pretrained.__func__
    asked = []

    def from_hub(cls, source, **kwargs):
        asked.append(source)
        return real(cls, str(folder), **kwargs)  # the download, served from the local folder

    monkeypatch.setattr(chronos.BaseChronosPipeline, "from_pretrained", classmethod(from_hub))
    model = tsfm.load("someone/bolt-finetuned", device="cpu")
    assert asked == ["someone/bolt-finetuned"]
    forecast = model.predict_quantiles([np.sin(np.arange(64.0))], horizon=4)
    assert forecast.quantiles.shape[0] == 1


def test_when_a_family_claims_the_repository_then_its_factory_loads_the_id(monkeypatch):
    loaded = []
    family = hub.HubFamily("toy", lambda repo: (repo.config or {}).get("model_type") == "toy",
                           lambda name, options: loaded.append((name, options.device)) or "a toy model")
    monkeypatch.setitem(hub._FAMILIES, "toy", family)
    _serve(monkeypatch, _repository("org/toy-small", {"model_type": "toy"}))
    assert tsfm.load("org/toy-small", device="cpu") == "a toy model"
    assert loaded == [("org/toy-small", "cpu")]


def test_when_no_family_claims_the_repository_then_the_error_names_the_families_and_their_extras(monkeypatch):
    family = hub.HubFamily("toy", lambda repo: False, lambda name, options: None, install='pip install -e ".[toy]"')
    monkeypatch.setitem(hub._FAMILIES, "toy", family)
    _serve(monkeypatch, _repository("org/mystery", {"model_type": "mystery"}))
    with pytest.raises(tsfm.CheckpointError) as raised:
        tsfm.load("org/mystery", device="cpu")
    message = str(raised.value)
    assert "'org/mystery'" in message and "model_type 'mystery'" in message
    assert "chronos" in message and 'toy (pip install -e ".[toy]")' in message


def test_when_the_family_is_not_installed_then_the_error_gives_its_install_line(monkeypatch):
    family = hub.HubFamily("toy", lambda repo: True, lambda name, options: pytest.fail("must not load"),
                           install='pip install -e ".[toy]"', available=lambda: False)
    monkeypatch.setattr(hub, "_FAMILIES", {"toy": family})
    _serve(monkeypatch, _repository("org/toy", {"model_type": "toy"}))
    with pytest.raises(tsfm.CheckpointError, match=r"is a toy model.*not installed: pip install -e \"\.\[toy\]\""):
        tsfm.load("org/toy", device="cpu")


def test_when_the_config_asks_for_remote_code_then_it_is_refused_before_any_family_sees_it(monkeypatch):
    family = hub.HubFamily("toy", lambda repo: pytest.fail("must not be asked"), lambda name, options: None)
    monkeypatch.setattr(hub, "_FAMILIES", {"toy": family})
    _serve(monkeypatch, _repository("org/custom", {"auto_map": {"AutoModel": "modeling.Custom"}}))
    with pytest.raises(tsfm.CheckpointError, match="remote code"):
        tsfm.load("org/custom", device="cpu")


def test_when_the_hub_cannot_be_reached_then_the_error_says_how_to_use_a_local_copy(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr("huggingface_hub.list_repo_files", offline)
    with pytest.raises(tsfm.CheckpointError, match="Hugging Face Hub.*local folder") as raised:
        tsfm.load("org/anything", device="cpu")
    assert "hf download org/anything" in str(raised.value)


def test_when_the_hub_config_is_not_an_object_then_the_error_says_so(monkeypatch, tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    monkeypatch.setattr("huggingface_hub.list_repo_files", lambda name: ["config.json"])
    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda name, filename: str(tmp_path / filename))
    with pytest.raises(tsfm.CheckpointError, match="config.json on the hub is list, not a JSON object"):
        hub.fetch_repository("org/odd")
