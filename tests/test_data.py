"""Reading series into the canonical long format: sources, column names, validation, calendars."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsfm.data import default_season_length, future_timestamps, infer_frequency, load_frame, to_series
from tsfm.datasets import list_aeon_datasets, load_ett, load_m4
from tsfm.errors import InputError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (real datasets live in ../shared/data beside the checkout)")
    return path


def _panel() -> pd.DataFrame:
    """Two hourly items, the second with a missing value."""
    return pd.DataFrame(
        {
            "item_id": ["a"] * 4 + ["b"] * 3,
            "timestamp": list(pd.date_range("2024-01-01", periods=4, freq="h"))
            + list(pd.date_range("2024-01-02", periods=3, freq="h")),
            "target": [1.0, 2.0, 3.0, 4.0, 10.0, np.nan, 30.0],
        }
    )


def _with(**changes: object) -> pd.DataFrame:
    frame = _panel()
    for column, values in changes.items():
        frame[column] = values
    return frame


def test_when_frame_is_canonical_then_columns_and_dtypes_are_exact():
    frame = load_frame(_panel())
    assert list(frame.columns) == ["item_id", "timestamp", "target"]
    assert frame["timestamp"].dtype == "datetime64[ns]"
    assert frame["target"].dtype == np.float64
    assert frame["item_id"].tolist() == ["a"] * 4 + ["b"] * 3


def test_when_nixtla_names_are_used_then_they_are_recognised():
    nixtla = _panel().rename(columns={"item_id": "unique_id", "timestamp": "ds", "target": "y"})
    pd.testing.assert_frame_equal(load_frame(nixtla), load_frame(_panel()))


def test_when_column_names_are_given_then_they_are_used():
    custom = _panel().rename(columns={"item_id": "store", "timestamp": "when", "target": "sales"})
    loaded = load_frame(custom, id_column="store", timestamp_column="when", target_column="sales")
    pd.testing.assert_frame_equal(loaded, load_frame(_panel()))


def test_when_there_is_no_id_column_then_the_single_series_is_item_0():
    loaded = load_frame(_panel().query("item_id == 'a'").drop(columns="item_id"))
    assert set(loaded["item_id"]) == {"0"}


def test_when_items_are_interleaved_then_each_keeps_its_row_order():
    interleaved = _panel().iloc[[4, 0, 5, 1, 6, 2, 3]]
    pd.testing.assert_frame_equal(load_frame(interleaved), load_frame(_panel()))


def test_when_loading_a_frame_then_the_callers_frame_is_not_modified():
    original = _panel().assign(target=[1, 2, 3, 4, 10, 20, 30])  # integers, converted on load
    before = original.copy()
    load_frame(original)
    pd.testing.assert_frame_equal(original, before)


def test_when_timestamps_are_integers_then_they_stay_integer_steps():
    frame = load_frame(_with(timestamp=[0, 1, 2, 3, 5, 6, 7]))
    assert frame["timestamp"].dtype == np.int64
    assert infer_frequency(frame) is None
    future = future_timestamps(frame, 2, None)
    np.testing.assert_array_equal(future[0], [4, 5])
    np.testing.assert_array_equal(future[1], [8, 9])


def test_when_timestamps_have_a_time_zone_then_they_become_naive_utc():
    stamps = pd.Series(pd.date_range("2024-01-01 01:00", periods=7, freq="h", tz="Europe/Berlin"))
    frame = load_frame(_with(item_id=["a"] * 7, timestamp=stamps))
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 00:00")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_when_written_to_a_file_then_it_loads_back_unchanged(tmp_path, suffix):
    frame = load_frame(_panel())
    path = tmp_path / f"panel{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    pd.testing.assert_frame_equal(load_frame(path), frame)
    pd.testing.assert_frame_equal(load_frame(str(path)), frame)


def _missing_columns() -> pd.DataFrame:
    return _panel().rename(columns={"target": "value"})


BAD_SOURCES = [
    ("empty", lambda: pd.DataFrame(columns=["item_id", "timestamp", "target"]), r"empty \(0 rows"),
    (
        "all-NaN series",
        lambda: _with(target=[1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan]),
        r"item 'b' has no observed target values \(all NaN\)",
    ),
    ("inf", lambda: _with(target=[1.0, 2.0, np.inf, 4.0, 1.0, 2.0, 3.0]), r"target is inf for item 'a'"),
    (
        "non-numeric target",
        lambda: _with(target=["1", "2", "3", "4", "five", "6", "7"]),
        r"not numeric: row 4 holds 'five'",
    ),
    (
        "duplicate timestamps",
        lambda: _with(
            timestamp=list(pd.date_range("2024", periods=4, freq="h")) + [pd.Timestamp("2024")] * 3
        ),
        r"duplicate timestamp 2024-01-01 00:00:00 in item 'b'",
    ),
    (
        "unsorted timestamps",
        lambda: _panel().iloc[[1, 0, 2, 3, 4, 5, 6]],
        r"item 'a' are not sorted.*Sort by item_id, timestamp",
    ),
    (
        "missing columns",
        _missing_columns,
        re.escape("target (looked for 'target' or 'y'). Columns found: ['item_id', 'timestamp', 'value']"),
    ),
    (
        "given column absent",
        lambda: _panel().rename(columns={"item_id": "x"}),
        r"item_id \(looked for 'sku'\)",
    ),
    ("bad timestamp", lambda: _with(timestamp=["2024-01-01"] * 6 + ["soon"]), r"holds 'soon' at row 6"),
    (
        "unknown aeon name",
        lambda: "aeon:no_such_set",
        r"unknown aeon dataset 'no_such_set'; known: .*'airline'",
    ),
    ("missing file", lambda: "no/such/file.csv", r"file not found: no/such/file\.csv"),
    ("unsupported suffix", lambda: __file__, r"unsupported file suffix '\.py'.*'\.csv'"),
    ("not a source", lambda: 42, r"source must be a DataFrame.*got int"),
]


@pytest.mark.parametrize(("case", "make", "message"), BAD_SOURCES, ids=[c[0] for c in BAD_SOURCES])
def test_when_input_is_bad_then_input_error_says_what_and_how(case, make, message):
    kwargs = {"id_column": "sku"} if case == "given column absent" else {}
    with pytest.raises(InputError, match=message):
        load_frame(make(), **kwargs)


AEON_SETS = list_aeon_datasets()


@pytest.mark.parametrize("name", sorted(AEON_SETS))
def test_when_aeon_set_is_loaded_then_its_frequency_is_inferred(name):
    try:
        frame = load_frame(f"aeon:{name}")
    except InputError as exc:
        if "not shipped by the installed aeon" in str(exc):
            pytest.skip(str(exc))
        raise
    freq = infer_frequency(frame)
    description = AEON_SETS[name]
    assert f"({freq})" in description
    n_series = int(re.search(r"(\d+) series", description).group(1))
    assert frame["item_id"].nunique() == n_series
    assert frame["timestamp"].dtype == "datetime64[ns]"


def test_when_uschange_is_loaded_then_each_column_is_an_item():
    frame = load_frame("aeon:uschange")
    expected = ["Consumption", "Income", "Production", "Savings", "Unemployment"]
    assert sorted(frame["item_id"].unique()) == expected
    assert frame["timestamp"].iloc[0] == pd.Timestamp("1970-01-01")


def test_when_m1_yearly_is_loaded_then_181_series_start_at_their_years():
    frame = load_frame("aeon:m1_yearly")
    ids, series = to_series(frame)
    assert len(ids) == 181 and "T1" in ids
    first = frame.groupby("item_id")["timestamp"].first()
    assert first["T1"] == pd.Timestamp("1972-01-01")
    assert infer_frequency(frame) == "YS-JAN" and default_season_length("YS-JAN") == 1


def test_when_hf_dataset_saved_to_disk_then_it_loads(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_pandas(_panel()).save_to_disk(str(tmp_path / "ds"))
    pd.testing.assert_frame_equal(load_frame(f"hf:{tmp_path / 'ds'}"), load_frame(_panel()))


def test_when_hf_dataset_dict_has_splits_then_the_named_one_loads(tmp_path):
    datasets = pytest.importorskip("datasets")
    panel = _panel()
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(panel.iloc[:4], preserve_index=False),
            "test": datasets.Dataset.from_pandas(panel.iloc[4:], preserve_index=False),
        }
    )
    splits.save_to_disk(str(tmp_path / "dd"))
    assert set(load_frame(f"hf:{tmp_path / 'dd'}:test")["item_id"]) == {"b"}
    assert set(load_frame(f"hf:{tmp_path / 'dd'}")["item_id"]) == {"a"}  # train by default
    with pytest.raises(InputError, match=r"no split 'valid'; its splits are \['train', 'test'\]"):
        load_frame(f"hf:{tmp_path / 'dd'}:valid")


def _chronos_style() -> pd.DataFrame:
    """One row per series, sequences in the cells, as in autogluon/chronos_datasets."""
    panel = _panel()
    rows = [
        {"id": item, "timestamp": group["timestamp"].to_numpy(), "target": group["target"].to_numpy()}
        for item, group in panel.groupby("item_id")
    ]
    return pd.DataFrame(rows)


def test_when_table_holds_sequences_then_it_is_expanded_to_long_format(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_pandas(_chronos_style()).save_to_disk(str(tmp_path / "chronos"))
    pd.testing.assert_frame_equal(load_frame(f"hf:{tmp_path / 'chronos'}"), load_frame(_panel()))
    pd.testing.assert_frame_equal(load_frame(_chronos_style()), load_frame(_panel()))


def test_when_sequence_lengths_differ_then_input_error_names_the_row():
    table = _chronos_style()
    table.at[1, "target"] = table.at[1, "target"][:2]
    with pytest.raises(InputError, match=r"row 1 \(item 'b'\) holds 3 timestamps but 2 target values"):
        load_frame(table)


def test_when_hf_data_folder_holds_parquet_then_it_loads(tmp_path):
    pytest.importorskip("datasets")
    (tmp_path / "raw").mkdir()
    _panel().to_parquet(tmp_path / "raw" / "data.parquet")
    pd.testing.assert_frame_equal(load_frame(f"hf:{tmp_path / 'raw'}"), load_frame(_panel()))


def test_when_daily_stamps_skip_days_then_load_frame_names_the_gap_and_filling_restores_the_frequency():
    stamps = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-09"] + ["2024-02-01"] * 3)
    gappy = _with(item_id=["a"] * 4 + ["b", "c", "d"], timestamp=stamps, target=np.arange(7.0))
    with pytest.raises(InputError, match=r"item 'a' has 5 missing 'D' timestamps, the first at 2024-01-03"):
        load_frame(gappy)
    assert infer_frequency(load_frame(gappy, fill_gaps="nan")) == "D"


def test_when_most_items_agree_then_their_frequency_wins():
    frame = load_frame(_panel())
    assert infer_frequency(frame) == "h"


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        ("h", 24), ("D", 7), ("W", 52), ("W-MON", 52), ("MS", 12), ("ME", 12), ("QS-OCT", 4),
        ("QE-DEC", 4), ("YS-JAN", 1), ("30min", 48), ("15min", 96), ("min", 60), ("s", 60),
        ("2h", 12), ("B", 5), (None, 1),
    ],
)  # fmt: skip
def test_when_frequency_is_known_then_default_season_length_follows_the_calendar(freq, season):
    assert default_season_length(freq) == season


def test_when_frequency_is_not_an_alias_then_input_error():
    with pytest.raises(InputError, match="'fortnightly' is not a pandas frequency alias"):
        default_season_length("fortnightly")


def test_when_future_timestamps_then_the_calendar_continues():
    monthly = load_frame("aeon:airline")  # ends 1960-12
    (future,) = future_timestamps(monthly, 3, infer_frequency(monthly))
    np.testing.assert_array_equal(future, pd.to_datetime(["1961-01-01", "1961-02-01", "1961-03-01"]))
    hourly = load_frame(_panel())
    a, b = future_timestamps(hourly, 2, "h")
    np.testing.assert_array_equal(a, pd.to_datetime(["2024-01-01 04:00", "2024-01-01 05:00"]))
    np.testing.assert_array_equal(b, pd.to_datetime(["2024-01-02 03:00", "2024-01-02 04:00"]))


def test_when_dates_have_no_freq_then_future_timestamps_asks_for_one():
    with pytest.raises(InputError, match="pass freq="):
        future_timestamps(load_frame(_panel()), 2, None)


def test_when_to_series_then_float_arrays_in_frame_order():
    ids, series = to_series(load_frame(_panel()))
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(series[1], [10.0, np.nan, 30.0])
    assert all(s.dtype == np.float64 for s in series)


def test_when_m4_hourly_is_read_then_ids_train_and_test_line_up():
    ids, train, test = load_m4(_shared("m4"), "Hourly")
    assert len(ids) == len(train) == len(test) == 414 and ids[0] == "H1"
    assert {len(t) for t in train} == {700, 960}
    assert all(len(t) == 48 and not np.isnan(t).any() for t in test)


def test_when_m4_subset_is_unknown_then_input_error_lists_subsets(tmp_path):
    with pytest.raises(InputError, match=r"unknown M4 subset 'Minutely'.*'Hourly'"):
        load_m4(tmp_path, "Minutely")


def test_when_ett_is_read_then_dates_are_parsed_and_columns_kept():
    ett = load_ett(_shared("ett", "ETTh1.csv"))
    assert ett.shape == (17420, 8)
    assert ett["date"].dtype == "datetime64[ns]" and list(ett.columns)[-1] == "OT"


def test_when_m4_source_is_named_then_train_and_test_join_into_one_long_frame():
    frame = load_frame(f"m4:{_shared('m4')}:Hourly")
    ids, series = to_series(frame)
    assert len(ids) == 414
    assert infer_frequency(frame) is None  # integer steps
    assert len(series[0]) == 700 + 48
