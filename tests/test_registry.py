"""tsfm.registry.resolve_model: the one way a task turns its ``model`` argument into a forecaster."""

from __future__ import annotations

import pytest

import tsfm
from tsfm.registry import resolve_model


def test_when_a_name_is_given_then_it_is_loaded_with_the_options():
    model = resolve_model("seasonal-naive", needs=("predict_quantiles",), season_length=12)
    assert model.name == "seasonal-naive" and model.season_length == 12


def test_when_a_forecaster_is_given_then_it_is_returned_unchanged():
    model = tsfm.load("naive")
    assert resolve_model(model, needs=("embed",)) is model


def test_when_an_object_lacks_a_needed_method_then_the_error_names_it():
    with pytest.raises(tsfm.InputError, match=r"forecaster with embed\(\), got object"):
        resolve_model(object(), needs=("embed",))
