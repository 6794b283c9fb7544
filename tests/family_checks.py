"""Checks every hub-routed family's tests share: one-line CLI refusals, hub routing, and what a hub id fetches."""

from __future__ import annotations

import json
from pathlib import Path

import tsfm
from tests.conftest import seasonal_panel
from tsfm import hub
from tsfm.tasks.cli import main

SAFE_FILES = ("config.json", "model.safetensors")


def one_line_exit_2(argv: list[str], capsys) -> str:
    """Run the CLI with ``argv``: exit code 2 and one line on stderr, no traceback; returns the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def check_only_family_claims(folder: Path, family: str, repo_id: str) -> None:
    """A hub repository holding ``folder``'s config routes to ``family`` alone, and not with a pickle instead."""
    tsfm.list_models()
    config = json.loads((folder / "config.json").read_text())
    repository = hub.HubRepository(repo_id, config, SAFE_FILES)
    assert hub.route(repository).name == family
    assert [f.name for f in hub.hub_families() if f.matches(repository)] == [family]
    pickled = hub.HubRepository(f"someone/{family}-pickle", config, ("config.json", "pytorch_model.bin"))
    assert not hub._FAMILIES[family].matches(pickled)


def check_hub_id_fetches_only_config_and_safetensors(folder: Path, family: str, name: str, n_series: int,
                                                     monkeypatch) -> None:
    """Loading hub id ``name`` (served from ``folder``) fetches config.json and model.safetensors, then forecasts."""
    import huggingface_hub

    config = json.loads((folder / "config.json").read_text())
    monkeypatch.setattr(hub, "fetch_repository", lambda repo: hub.HubRepository(repo, config, SAFE_FILES))
    asked = []

    def download(repo_id, filename, **kwargs):  # the hub, served from the local folder
        asked.append((repo_id, filename))
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    model = tsfm.load(name, device="cpu")
    assert asked == [(name, "config.json"), (name, "model.safetensors")]
    forecast = model.predict_quantiles(seasonal_panel(n_series), 4)
    assert model.family == family and forecast.quantiles.shape == (n_series, 4, 9)
