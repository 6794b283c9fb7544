"""The calendar of each series: its frequency, its gaps, and whether a file mixes frequencies.

Models read a series as evenly spaced values and a season length follows from one
frequency, so three things would give silently wrong forecasts and are found here, per
item, when data is loaded (:func:`tsfm.data.load_frame` acts on them):

- **mixed frequencies**: hourly and daily series in one file would share one calendar
  and one season length;
- **gaps**: missing timestamps inside a series would be read as consecutive steps;
- **irregular timestamps**: stamps on no regular grid at all.

Dated items get the pandas alias of their spacing (``pd.infer_freq``; for an item with
gaps, the alias of the other items or of its own gap-free stretches whose grid holds all
its stamps). Integer timestamps are step numbers: an item's step is its smallest
spacing. Weekly items anchored on different weekdays, or month-start and month-end
items, count as one frequency.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsfm.errors import InputError

# Season of one step of each calendar offset; multiples divide it when they can.
_CALENDAR_SEASONS = {
    "Y": 1, "YS": 1, "YE": 1, "A": 1, "AS": 1, "BY": 1, "BYS": 1, "BYE": 1, "BA": 1, "BAS": 1,
    "Q": 4, "QS": 4, "QE": 4, "BQ": 4, "BQS": 4, "BQE": 4,
    "M": 12, "MS": 12, "ME": 12, "BM": 12, "BMS": 12, "BME": 12, "CBMS": 12, "CBME": 12,
    "SM": 24, "SMS": 24, "SME": 24,
    "W": 52, "B": 5, "C": 5, "bh": 8, "cbh": 8,
}  # fmt: skip
_MAX_CYCLE_STEPS = 1000
# Start and end anchors of one calendar period are one frequency.
_PERIOD = {
    "MS": "M", "ME": "M", "BMS": "BM", "BME": "BM", "QS": "Q", "QE": "Q", "BQS": "BQ", "BQE": "BQ",
    "YS": "Y", "YE": "Y", "A": "Y", "AS": "Y", "BYS": "BY", "BYE": "BY", "BA": "BY", "BAS": "BY",
    "SMS": "SM", "SME": "SM",
}  # fmt: skip
_SHOWN = 3  # items named per list in a message
_WINDOWS = 25  # 3-stamp windows tried per item whose full index has no frequency
_MAX_GRID_GROWTH = 100  # a grid this many times longer than the item is not its calendar
# Epoch units and their ticks per second; spacings (in seconds) that epoch data usually has.
_EPOCH_UNITS = (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
_EPOCH_RANGE = (1e8, 4.2e9)  # 1973..2103 in seconds
_EPOCH_SPACINGS = {1: "1 s", 60: "1 min", 3600: "1 h", 86400: "1 day", 604800: "1 week"}


def default_season_length(freq: str | None) -> int:
    """A customary season length for a pandas frequency alias.

    Yearly 1, quarterly 4, monthly 12, semi-monthly 24, weekly 52, daily 7, business
    daily 5, business hourly 8. Sub-daily steps use the daily cycle (hourly 24, 30-min
    48, 15-min 96, 5-min 288) unless it spans more than 1000 steps, then the hourly
    cycle (minutely 60), then the minute cycle (secondly 60). A multiple divides the
    season when it can (``"2h"`` -> 12) and gives 1 otherwise. ``None`` (integer
    steps) gives 1, as does a valid alias not listed here.

    Raises
    ------
    InputError
        When ``freq`` is not a pandas frequency alias.
    """
    if freq is None:
        return 1
    offset = _offset(freq)
    n = abs(offset.n) or 1
    if isinstance(offset, pd.offsets.Day):
        return _divide(7, n)
    if isinstance(offset, pd.offsets.Tick):
        step = offset.nanos
        for cycle in (pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(minutes=1)):
            steps = cycle.value // step
            if cycle.value % step == 0 and 1 < steps <= _MAX_CYCLE_STEPS:
                return int(steps)
        return 1
    base = offset.rule_code.split("-")[0]
    return _divide(_CALENDAR_SEASONS.get(base, 1), n)


def _divide(season: int, n: int) -> int:
    return season // n if season % n == 0 else 1


def _offset(freq: str) -> pd.DateOffset:
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise InputError(f"{freq!r} is not a pandas frequency alias (e.g. 'h', 'D', 'W', 'MS')") from None


def frequency_key(freq: str) -> str:
    """What makes two aliases one frequency: the step, ignoring anchors ('W-SUN' ~ 'W-WED', 'MS' ~ 'ME')."""
    offset = _offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        return f"{offset.nanos}ns"
    base = offset.rule_code.split("-")[0]
    return f"{offset.n}{_PERIOD.get(base, base)}"


# ----------------------------------------------------------------------------- per item


@dataclass(frozen=True)
class ItemCalendar:
    """The spacing of one item's timestamps.

    Attributes
    ----------
    item
        The item id.
    freq
        Pandas alias (dates) or ``"step N"`` (integer steps); ``None`` when unknown
        (fewer than 3 timestamps) or when the stamps lie on no regular grid.
    missing
        Timestamps absent from the item's grid between its first and last one.
    off_grid
        ``(earlier, later)`` stamps where the item leaves every regular grid, else ``None``.
    """

    item: str
    freq: str | None
    missing: np.ndarray = field(default_factory=lambda: np.array([]))
    off_grid: tuple | None = None


def date_calendar(item: str, stamps: pd.DatetimeIndex, candidates: Sequence[str] = ()) -> ItemCalendar:
    """The calendar of a dated item: ``pd.infer_freq``, else the first candidate grid holding every stamp.

    ``candidates`` are aliases to try first (the other items' frequencies); then the
    aliases of the item's own 3-stamp windows, then its smallest spacing.
    """
    if len(stamps) < 3:
        return ItemCalendar(item, None)
    freq = pd.infer_freq(stamps)
    if freq is not None:
        return ItemCalendar(item, freq)
    for candidate in itertools.chain(candidates, _window_aliases(stamps)):  # windows only if candidates fail
        grid = _grid(stamps, candidate)
        if grid is not None and np.isin(stamps.asi8, grid.asi8).all():
            missing = np.setdiff1d(grid.asi8, stamps.asi8, assume_unique=True)
            return ItemCalendar(item, candidate, missing.astype("datetime64[ns]"))
    return ItemCalendar(item, None, off_grid=_first_irregular(stamps))


def _window_aliases(stamps: pd.DatetimeIndex) -> Iterator[str]:
    """Aliases of 3-stamp windows spread over the item (most common first), then its smallest spacing."""
    starts = np.unique(np.linspace(0, len(stamps) - 3, num=min(_WINDOWS, len(stamps) - 2)).astype(int))
    votes = Counter(f for s in starts if (f := pd.infer_freq(stamps[s : s + 3])) is not None)
    yield from (f for f, _ in votes.most_common())
    yield pd.tseries.frequencies.to_offset(pd.Timedelta(np.diff(stamps.asi8).min())).freqstr


def _grid(stamps: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex | None:
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        if not offset.is_on_offset(stamps[0]):
            return None
        # A grid far longer than the item (1-second steps over a year of days) is not its calendar.
        span = (stamps[-1] - stamps[0]).value
        if isinstance(offset, pd.offsets.Tick) and span / offset.nanos > _MAX_GRID_GROWTH * len(stamps):
            return None
        grid = pd.date_range(stamps[0], stamps[-1], freq=offset)
    except (ValueError, TypeError, OverflowError):
        return None
    return grid if len(grid) <= _MAX_GRID_GROWTH * len(stamps) else None


def _first_irregular(stamps: pd.DatetimeIndex) -> tuple:
    """The first pair of consecutive stamps whose spacing differs from the one before it."""
    diffs = np.diff(stamps.asi8)
    changed = np.flatnonzero(diffs[1:] != diffs[:-1])
    i = int(changed[0]) + 1 if changed.size else 0
    return stamps[i], stamps[i + 1]


def item_calendars(ids: np.ndarray, stamps: np.ndarray) -> list[ItemCalendar]:
    """The calendar of every item of a canonical frame (``ids`` grouped, ``stamps`` sorted per item), in order.

    A dated item whose own index has no frequency is tried first on the grids of the
    items that have one, so a gap is found even in an item too short to show its
    frequency on its own.
    """
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(ids)]))
    if np.issubdtype(stamps.dtype, np.integer):
        return [step_calendar(str(ids[a]), stamps[a:b]) for a, b in bounds]
    clean = _clean_frequencies(stamps, bounds)
    candidates = [freq for freq, _ in Counter(f for f in clean if f is not None).most_common()]
    calendars = []
    for (a, b), freq in zip(bounds, clean):
        item = str(ids[a])
        calendar = ItemCalendar(item, freq) if freq else date_calendar(item, pd.DatetimeIndex(stamps[a:b]), candidates)
        if calendar.freq is not None and calendar.freq not in candidates:
            candidates.append(calendar.freq)  # the next item with gaps tries it first
        calendars.append(calendar)
    return calendars


def _clean_frequencies(stamps: np.ndarray, bounds: list[tuple[int, int]]) -> list[str | None]:
    """``pd.infer_freq`` of every item with 3 stamps or more, asked once per evenly spaced kind.

    Items whose stamps are evenly spaced share an answer with every item of the same
    spacing and starting weekday (which anchors weekly aliases), so a panel of
    thousands of hourly items costs one call, not thousands.
    """
    nanos = stamps.view(np.int64)
    known: dict[tuple[int, int], str | None] = {}
    out: list[str | None] = []
    for a, b in bounds:
        if b - a < 3:
            out.append(None)
            continue
        diffs = np.diff(nanos[a:b])
        if diffs[0] > 0 and (diffs == diffs[0]).all():
            key = (int(diffs[0]), pd.Timestamp(stamps[a]).dayofweek)
            if key not in known:
                known[key] = pd.infer_freq(pd.DatetimeIndex(stamps[a:b]))
            out.append(known[key])
        else:
            out.append(pd.infer_freq(pd.DatetimeIndex(stamps[a:b])))
    return out


def step_calendar(item: str, stamps: np.ndarray) -> ItemCalendar:
    """The calendar of an item with integer steps: its smallest spacing, and the steps missing from it."""
    if len(stamps) < 2:
        return ItemCalendar(item, None)
    diffs = np.diff(stamps)
    step = int(diffs.min())
    if (diffs % step).any():
        i = int(np.flatnonzero(diffs % step)[0])
        return ItemCalendar(item, None, off_grid=(int(stamps[i]), int(stamps[i + 1])))
    freq = f"step {step}" if len(stamps) >= 3 else None
    if (diffs == step).all():
        return ItemCalendar(item, freq)
    grid = np.arange(stamps[0], stamps[-1] + step, step)
    return ItemCalendar(item, freq or f"step {step}", np.setdiff1d(grid, stamps))


# ----------------------------------------------------------------------------- across items


def check_calendars(calendars: Sequence[ItemCalendar], fill_gaps: str | None, hint: str | None = None) -> None:
    """Refuse mixed frequencies, irregular items and (unless ``fill_gaps``) gaps, naming the items.

    Parameters
    ----------
    calendars
        One per item, in frame order.
    fill_gaps
        ``None`` to refuse gaps, ``"nan"`` when the caller inserts NaN rows for them.
    hint
        A sentence to append to each message (e.g. that integers look like epoch seconds).

    Raises
    ------
    InputError
        For the first problem found, in that order.
    """
    tail = f". {hint}" if hint else ""
    by_key: dict[str, list[ItemCalendar]] = {}
    for calendar in calendars:
        if calendar.freq is not None:
            by_key.setdefault(_key(calendar.freq), []).append(calendar)
    if len(by_key) > 1:
        parts = []
        for members in by_key.values():
            alias = Counter(c.freq for c in members).most_common(1)[0][0]
            parts.append(f"{alias!r} ({_items([c.item for c in members])})")
        raise InputError(
            f"the data mixes frequencies: {', '.join(parts)}. Models and season lengths assume one frequency "
            f"per file: split the file by frequency and run each part on its own{tail}"
        )
    irregular = [c for c in calendars if c.off_grid is not None]
    if irregular:
        first = irregular[0]
        earlier, later = first.off_grid
        names = _names([c.item for c in irregular])
        others = f" ({len(irregular)} items like it: {names})" if len(irregular) > 1 else ""
        raise InputError(
            f"item {first.item!r} has timestamps on no regular grid: the spacing changes between {earlier} and "
            f"{later}{others}. Models read values as evenly spaced; resample such items to one frequency "
            f"first (e.g. df.set_index('timestamp').resample('h').mean()){tail}"
        )
    gappy = [c for c in calendars if len(c.missing)]
    if gappy and fill_gaps is None:
        first = gappy[0]
        what = "step" if first.freq.startswith("step") else f"{first.freq!r} timestamp"
        count = len(first.missing)
        others = f" ({len(gappy)} items have gaps: {_names([c.item for c in gappy])})" if len(gappy) > 1 else ""
        raise InputError(
            f"item {first.item!r} has {count} missing {what}{'s' if count > 1 else ''}, the first at "
            f"{first.missing[0] if what == 'step' else pd.Timestamp(first.missing[0])}{others}. Models would read "
            "the values on either side of a gap as consecutive: fill the gaps in the data, or pass --fill-gaps "
            f"(fill_gaps='nan' in tsfm.data.load_frame) to insert NaN rows, which models treat as missing{tail}"
        )


@functools.lru_cache(maxsize=256)
def _key(freq: str) -> str:
    return freq if freq.startswith("step") else frequency_key(freq)


def _items(items: Sequence[str]) -> str:
    return f"item{'s' if len(items) > 1 else ''} {_names(items)}"


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def epoch_hint(ids: np.ndarray, stamps: np.ndarray) -> str | None:
    """A sentence suggesting ``--timestamp-unit`` when integer timestamps look like epoch times.

    They do when every value, in some unit, lies between 1973 and 2103 in seconds and the
    items share one spacing that is a whole number of seconds epoch data usually has
    (1 s, a multiple of a minute). ``ids`` group ``stamps`` by item.
    """
    within = ids[1:] == ids[:-1]
    spacings = np.unique((stamps[1:] - stamps[:-1])[within])
    if spacings.size == 0 or spacings.min() <= 0 or (spacings % spacings.min()).any():
        return None
    spacing = int(spacings.min())
    low, high = int(stamps.min()), int(stamps.max())
    for unit, ticks in _EPOCH_UNITS:
        seconds, remainder = divmod(spacing, ticks)
        if remainder or not (_EPOCH_RANGE[0] <= low / ticks and high / ticks <= _EPOCH_RANGE[1]):
            continue
        if seconds == 1 or seconds % 60 == 0:
            name = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}[unit]
            every = _EPOCH_SPACINGS.get(seconds, f"{seconds} s")
            return (
                f"The integer timestamps look like epoch {name} ({every} apart); if they are, pass "
                f"--timestamp-unit {unit} (timestamp_unit={unit!r} in Python) so they are read as dates"
            )
    return None
