"""Every JSON config rejects typos and unreadable files the same way (tsfm.config_io)."""

from __future__ import annotations

import pytest

from tsfm.adapters.config import FinetuneConfig
from tsfm.distill.students import StudentConfig
from tsfm.errors import InputError
from tsfm.pretraining.config import PretrainConfig
from tsfm.pretraining.synthetic import SyntheticConfig

CONFIGS = [
    (PretrainConfig, "pretraining config", "steps"),
    (SyntheticConfig, "synthetic-data config", "length"),
    (FinetuneConfig, "fine-tuning config", "steps"),
    (StudentConfig, "student config", "context_length"),
]


@pytest.mark.parametrize(("cls", "what", "field"), CONFIGS)
def test_when_a_config_has_a_typo_then_the_error_names_it_and_every_known_field(cls, what, field):
    with pytest.raises(InputError, match=rf"unknown {what} field\(s\) \['stpes'\]; known fields: .*\b{field}\b"):
        cls.from_dict({"stpes": 3})


@pytest.mark.parametrize(("cls", "what", "field"), CONFIGS)
def test_when_a_config_is_not_a_json_object_then_the_error_says_what_it_got(cls, what, field):
    with pytest.raises(InputError, match=rf"a {what} must be a JSON object .*got list"):
        cls.from_dict([field, 3])


@pytest.mark.parametrize("cls", [PretrainConfig, FinetuneConfig, StudentConfig])
def test_when_a_config_file_is_missing_or_not_json_then_the_error_names_the_file(cls, tmp_path):
    with pytest.raises(InputError, match="file not found: .*absent.json"):
        cls.from_json(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": 3,')
    with pytest.raises(InputError, match="broken.json is not valid JSON"):
        cls.from_json(broken)


@pytest.mark.parametrize("cls", [PretrainConfig, SyntheticConfig, FinetuneConfig, StudentConfig])
def test_a_config_round_trips_through_its_json_file(cls, tmp_path):
    config = cls()
    path = config.to_json(tmp_path / "nested" / "config.json")
    assert cls.from_json(path) == config


@pytest.mark.parametrize("cls", [PretrainConfig, SyntheticConfig, FinetuneConfig, StudentConfig])
def test_every_config_takes_its_json_round_trip_from_the_one_mixin(cls):
    from tsfm.config_io import JsonConfig

    assert issubclass(cls, JsonConfig)
    assert not {"to_dict", "from_dict", "to_json", "from_json", "replace"} & set(vars(cls)), "a copy came back"


def test_when_a_config_nests_another_then_json_holds_plain_lists_and_dicts(tmp_path):
    import json

    config = PretrainConfig(quantiles=(0.1, 0.5, 0.9), synthetic=SyntheticConfig(length=600, kernels=("rbf",)))
    path = config.to_json(tmp_path / "config.json")
    data = json.loads(path.read_text())
    assert data["quantiles"] == [0.1, 0.5, 0.9] and data["synthetic"]["kernels"] == ["rbf"]
    assert PretrainConfig.from_json(path) == config
