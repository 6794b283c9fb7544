"""The real-series corpus: its manifest, loading, the exclusion of evaluation sets, and sampling.

Offline: the sources ship inside statsmodels (skipped where it is missing) and the aeon sets inside
aeon. M4 and ETT are read from ``/work/shared/data`` only in the tests that say so, which skip when
it is absent.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsfm.errors import InputError
from tsfm.pretraining import corpus
from tsfm.pretraining.contamination import (
    SUITE_AEON_SETS,
    EvaluationIndex,
    evaluation_series,
    excluded_by_name,
)

SHARED = Path("/work/shared/data")
statsmodels = pytest.importorskip("statsmodels", reason="the corpus sources ship inside statsmodels")


@pytest.fixture(scope="module")
def aeon_index() -> EvaluationIndex:
    """The content check over the suite's aeon sets (always on this machine: they ship in aeon)."""
    return EvaluationIndex(evaluation_series(None))


def m1_series() -> np.ndarray:
    from tsfm.datasets import read_aeon

    frame = read_aeon("m1_yearly")
    return frame[frame["item_id"] == frame["item_id"].iloc[0]]["target"].to_numpy(dtype=np.float64)


def manifest_with(tmp_path: Path, *entries: corpus.CorpusSource) -> Path:
    return corpus.write_manifest(tmp_path / "manifest.json", list(entries))


def fake_source(monkeypatch, name: str, series: list[np.ndarray]) -> corpus.CorpusSource:
    """Register a loader ``name`` returning ``series`` and the manifest entry that matches it."""
    monkeypatch.setitem(corpus.LOADERS, name, lambda: [(str(i), s) for i, s in enumerate(series)])
    return corpus.describe_source(name, "public domain", "yearly")


# ---- the manifest -------------------------------------------------------------------------------
def test_every_shipped_source_has_a_loader_licence_frequency_and_no_evaluation_name():
    sources = corpus.read_manifest()
    assert len(sources) >= 8
    for source in sources:
        assert source.name in corpus.LOADERS
        assert source.licence and "permission" not in source.licence.lower()
        assert source.frequency in {"yearly", "quarterly", "monthly", "weekly", "daily", "hourly"}
        assert source.series > 0 and len(source.sha256) == 64
        assert excluded_by_name(source.name, source.dataset) is None


def test_when_the_shipped_corpus_loads_then_every_source_is_present_and_matches_its_checksum(aeon_index):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a changed or missing source would warn
        loaded = corpus.load_corpus(index=aeon_index)
    expected = sum(s.series for s in corpus.read_manifest())
    assert len(loaded.series) == expected == len(loaded.names)
    assert all(line.endswith("series") for line in loaded.report.values())
    assert all(np.isfinite(s[[0, -1]]).all() for s in loaded.series)  # leading/trailing NaN trimmed


def test_when_a_source_changed_then_it_is_named_and_skipped_with_a_warning(tmp_path, aeon_index):
    co2, nile = (s for s in corpus.read_manifest() if s.name in ("statsmodels:co2", "statsmodels:nile"))
    changed = corpus.CorpusSource(**{**co2.__dict__, "sha256": "0" * 64})
    with pytest.warns(UserWarning, match="statsmodels:co2.*changed"):
        loaded = corpus.load_corpus(manifest_with(tmp_path, changed, nile), aeon_index)
    assert len(loaded.series) == 1 and loaded.report["statsmodels:co2"].startswith("skipped")


def test_when_a_source_is_missing_then_it_is_named_and_skipped_with_a_warning(tmp_path, monkeypatch, aeon_index):
    source = fake_source(monkeypatch, "nopackage:gone", [np.arange(30.0)])

    def gone():
        raise ImportError("No module named 'nopackage'")

    monkeypatch.setitem(corpus.LOADERS, "nopackage:gone", gone)
    with pytest.warns(UserWarning, match="nopackage:gone.*could not be read"):
        loaded = corpus.load_corpus(manifest_with(tmp_path, source), aeon_index)
    assert loaded.series == []


@pytest.mark.parametrize("text, problem", [("not json", "not valid JSON"), ('{"sources": [{"name": 1}]}', "without")])
def test_when_a_manifest_is_malformed_then_input_error_says_so(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=problem):
        corpus.read_manifest(path)
    with pytest.raises(InputError, match="no such file"):
        corpus.read_manifest(tmp_path / "absent.json")


# ---- exclusion by name ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "m4:Hourly", "M4-Hourly", "ETTh1.csv", "ettm2", "tourism_monthly", "visitor_nights", "nab:realKnownCause",
    "SKAB", "cwru_bearings", "C-MAPSS", "cmapss_fd001", "aeon:airline", "AirPassengers", "lynx",
    "aeon:m1_yearly", "m1", "shampoo_sales", "solar", "solar_10_minutes", "uschange", "aeon:pbs",
])
def test_when_a_name_mentions_an_evaluation_set_then_it_is_excluded(name):
    assert excluded_by_name(name) is not None


@pytest.mark.parametrize("name", ["statsmodels:co2", "statsmodels:macrodata", "statsmodels:fertility",
                                  "my_plant.parquet", "pumps/m12_flow.csv", "settlement", "ettore_line"])
def test_when_a_name_mentions_no_evaluation_set_then_it_passes(name):
    assert excluded_by_name(name) is None


def test_when_a_manifest_lists_an_evaluation_set_then_it_is_refused_before_loading(tmp_path, monkeypatch, aeon_index):
    source = fake_source(monkeypatch, "aeon:m1_yearly", [np.arange(30.0)])
    with pytest.warns(UserWarning, match="aeon:m1_yearly.*refused"):
        loaded = corpus.load_corpus(manifest_with(tmp_path, source), aeon_index)
    assert loaded.series == [] and loaded.report["aeon:m1_yearly"].startswith("refused")


# ---- exclusion by content ------------------------------------------------------------------------
def test_the_content_index_covers_every_suite_aeon_set(aeon_index):
    covered = {name.split(":")[1] for name in aeon_index.names}
    assert covered == set(SUITE_AEON_SETS) and len(aeon_index) > 1000


def test_when_an_evaluation_window_is_planted_in_a_corpus_series_then_it_is_dropped(tmp_path, monkeypatch, aeon_index):
    rng = np.random.default_rng(0)
    m1 = m1_series()
    clean = rng.normal(size=80).cumsum()
    planted = rng.normal(size=80).cumsum()
    planted[30:45] = 1000 * m1[:15] + 5  # 15 values of an M1 yearly series, in other units
    source = fake_source(monkeypatch, "fake:planted", [clean, planted])
    with pytest.warns(UserWarning, match="fake:planted.*1 series dropped"):
        loaded = corpus.load_corpus(manifest_with(tmp_path, source), aeon_index)
    assert len(loaded.series) == 1
    np.testing.assert_array_equal(loaded.series[0], clean)


def test_when_a_window_is_short_flat_or_merely_similar_then_the_content_check_does_not_fire(aeon_index):
    m1 = m1_series()
    assert not aeon_index.overlaps(m1[:11])  # shorter than the 12-value window
    assert not aeon_index.overlaps(np.zeros(100))  # no identity in a flat stretch
    nudged = m1[:15].copy()
    nudged[7] += 0.05 * (m1[:15].max() - m1[:15].min())  # one value moved: no longer a copy
    assert not aeon_index.overlaps(nudged)
    assert aeon_index.overlaps(m1[:15])


@pytest.mark.skipif(not (SHARED / "m4" / "Hourly-train.csv").is_file(), reason=f"M4 Hourly is not under {SHARED}")
def test_when_an_m4_or_ett_window_is_planted_then_the_shared_data_index_drops_it():
    index = EvaluationIndex(evaluation_series(SHARED))
    from tsfm.datasets import load_m4

    _, train, _ = load_m4(SHARED / "m4", "Hourly")
    assert index.overlaps(train[0][100:130])
    if (SHARED / "ett" / "ETTh1.csv").is_file():
        ot = pd.read_csv(SHARED / "ett" / "ETTh1.csv")["OT"].to_numpy()
        assert index.overlaps(np.concatenate([np.ones(5), ot[500:520] * 2]))
    assert not index.overlaps(np.random.default_rng(1).normal(size=500))


# ---- what the trainer samples --------------------------------------------------------------------
@pytest.fixture
def tiny_config():
    from tsfm.pretraining.cli import load_config

    return load_config("tiny-test").replace(extra_data_share=0.5)


def test_when_real_windows_are_sampled_then_short_series_get_nan_padded_context_and_target(tiny_config, tmp_path):
    frame = pd.DataFrame({"item_id": "a", "timestamp": np.arange(20), "target": np.arange(20.0) + 1})
    frame.to_csv(tmp_path / "mine.csv", index=False)
    real = corpus.RealSeries(tiny_config.replace(extra_data=str(tmp_path / "mine.csv")))
    context, target = real.sample(32, np.random.default_rng(0))
    assert context.shape == (32, 64) and target.shape == (32, 16)
    assert np.isnan(context[:, :40]).all() and np.isnan(target[:, 12:]).all()  # 20 values: never more
    observed = ~np.isnan(target)
    assert observed.sum(axis=1).min() >= 6  # at least min_target forecast values per window


def test_when_real_windows_are_mixed_then_each_lies_between_its_scaled_real_and_synthetic_parts(tiny_config):
    config = tiny_config.replace(corpus="builtin", real_mixup_probability=1.0)
    real = corpus.RealSeries(config, index=EvaluationIndex([]))
    rng = np.random.default_rng(3)
    synthetic = (np.ones((4, 64), np.float32), np.ones((4, 16), np.float32))
    plain = np.concatenate(real.sample(16, np.random.default_rng(3)), axis=1)  # the same real windows
    mixed = np.concatenate(real.sample(16, rng, synthetic=synthetic), axis=1)
    np.testing.assert_array_equal(np.isnan(mixed), np.isnan(plain))  # padding stays padding
    weights = []
    for row, own in zip(mixed, plain):
        seen = ~np.isnan(own)
        scaled = own[seen] / np.abs(own[seen]).mean()  # TSMixup mixes mean-scaled series
        # row = a * scaled + (1 - a) * 1 for one weight a in [0, 1]
        a = np.linalg.lstsq((scaled - 1)[:, None], row[seen] - 1, rcond=None)[0][0]
        assert -1e-4 <= a <= 1 + 1e-4
        np.testing.assert_allclose(row[seen], a * scaled + (1 - a), rtol=1e-4, atol=1e-4)
        weights.append(a)
    assert min(weights) < 0.95  # real mixing happened, not a mere rescaling


def test_when_extra_data_holds_an_evaluation_series_then_it_is_dropped_with_a_warning(tiny_config, tmp_path):
    from tsfm.datasets import read_aeon

    airline = read_aeon("airline")["target"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(0)
    frame = pd.concat([
        pd.DataFrame({"item_id": "copy", "timestamp": np.arange(60), "target": airline[20:80]}),
        pd.DataFrame({"item_id": "own", "timestamp": np.arange(60), "target": rng.normal(size=60).cumsum()}),
    ])
    frame.to_csv(tmp_path / "mine.csv", index=False)
    with pytest.warns(UserWarning, match="1 of 2 series dropped"):
        real = corpus.RealSeries(tiny_config.replace(extra_data=str(tmp_path / "mine.csv")))
    assert len(real.series) == 1
    np.testing.assert_allclose(real.series[0], frame[frame.item_id == "own"]["target"], rtol=1e-6)


@pytest.mark.parametrize("changes, field", [
    ({"corpus": ""}, "corpus"), ({"real_mixup_probability": 1.5}, "real_mixup_probability"),
    ({"evaluation_data": 3}, "evaluation_data"), ({"corpus": "builtin", "extra_data_share": 1.0}, "extra_data_share"),
])
def test_when_a_corpus_setting_is_bad_then_input_error_names_it(tiny_config, changes, field):
    with pytest.raises(InputError, match=field):
        tiny_config.replace(**changes)


def test_when_a_batch_draws_on_the_corpus_then_real_rows_join_the_synthetic_ones(tiny_config):
    from tsfm.pretraining.trainer import make_batch

    config = tiny_config.replace(corpus="builtin", batch_size=16)
    real = corpus.RealSeries(config, index=EvaluationIndex([]))
    batch = make_batch(config, 0, 5, clean=False, extra=real)
    assert batch["context"].shape == (16, 64)
    again = make_batch(config, 0, 5, clean=False, extra=real)
    np.testing.assert_array_equal(batch["context"].numpy(), again["context"].numpy())  # a pure function
    json.dumps(config.to_dict())  # the corpus settings round-trip through the saved config
