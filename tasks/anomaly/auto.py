"""``--detector auto``: choose a detector per dataset from its normal reference alone, without labels.

Detectors fail differently (``drift`` follows a wandering process and misses NAB's short anomalies,
the z-scores alarm on every drift), and a user's data has no labels to tell which fits. The
reference, though, is normal operation, so it can be split in time and used as its own validation:

1. **Split.** The first ``1 - holdout_fraction`` of the reference is the *fit part*, the rest the
   *held-out part*. Candidates see only the fit part when they fit (their own calibration and
   threshold come from inside it); the held-out part is only ever scored, after the fit part, so
   causal detectors have their history.
2. **Clean held-out part.** The share of its steps above a candidate's own label-free threshold is
   its held-out false-alarm rate.
3. **Injected anomalies.** Copies of the held-out part each get one synthetic anomaly, on one
   channel, with a random sign, at a seeded random place. Sizes are in units of that channel's robust
   spread ``s`` on the held-out part (:func:`~tsfm.tasks.anomaly.base.robust_spread`), over a segment
   of ``L = max(5, n_held // 5)`` steps: a *spike* (one step, ``6 s``), a *level shift* (``4 s``
   over ``L``), a *slow drift* (a ramp from 0 to ``6 s`` over ``L``) and a *variance burst* (added
   Gaussian noise of standard deviation ``3 s`` over ``L``); ``repeats`` copies of each kind. Each
   candidate's steps above its threshold are compared with the injected segments point by point
   (the ``TAIL`` steps after a segment count neither way, since smoothed scores lag), pooled over the
   copies of each kind: recall and F1 per kind, then averaged over the kinds, so a one-step spike
   weighs as much as a longer segment; and the share of injected events with at least one alarm.
4. **Choice.** The candidate of best injected F1 among those whose held-out false-alarm rate is at
   most ``far_budget``; if none is, the one of lowest false-alarm rate. A candidate that refuses the
   fit part (too short for it, a constant channel) is reported and not chosen.
5. **Refit.** The winner is fitted again on the whole reference and runs as usual.

Alarms are compared before any refractory period (steps above the threshold), so a detector that
alarms only at onsets is judged by its score, not by how it reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsfm.contract import Forecaster
from tsfm.errors import InputError
from tsfm.tasks.anomaly.base import AnomalyDetector, Detection, as_matrix, robust_spread
from tsfm.tasks.anomaly.benchmarks import make_detector
from tsfm.tasks.anomaly.metrics import PointScores, point_scores

FAST_CANDIDATES = ("drift", "likelihood", "zscore", "robust-zscore", "residual-seasonal-naive", "isolation-forest")
TSFM_CANDIDATES = ("forecast", "embedding")
INJECTIONS = ("spike", "level-shift", "slow-drift", "variance-burst")
SIZES = {"spike": 6.0, "level-shift": 4.0, "slow-drift": 6.0, "variance-burst": 3.0}  # in robust spreads
MIN_HELD_OUT = 40  # held-out steps: room for a segment of 8 and clean steps around it
TAIL = 5  # steps after an injected segment that count neither as hits nor as false alarms


@dataclass(frozen=True)
class Injected:
    """One copy of the held-out part with one synthetic anomaly.

    Attributes
    ----------
    kind
        One of :data:`INJECTIONS`.
    values
        ``[n_held, channels]`` the held-out part with the anomaly added.
    labels
        ``[n_held]`` int: 1 on the anomaly, -1 on the ``TAIL`` steps after it (not counted), 0 elsewhere.
    """

    kind: str
    values: np.ndarray
    labels: np.ndarray


def inject(held_out: np.ndarray, kind: str, rng: np.random.Generator) -> Injected:
    """A copy of ``held_out [n_held, channels]`` with one anomaly of ``kind`` (sizes in the module docstring)."""
    if kind not in INJECTIONS:
        raise InputError(f"unknown injection {kind!r}; known: {', '.join(INJECTIONS)}")
    n_held, n_channels = held_out.shape
    length = 1 if kind == "spike" else max(5, n_held // 5)
    start = int(rng.integers(0, n_held - length + 1))
    channel = int(rng.integers(0, n_channels))
    column = held_out[:, channel]
    spread = float(robust_spread(column[:, None], np.array([np.nanmedian(column)]))[0])
    size = SIZES[kind] * spread * (1.0 if rng.random() < 0.5 else -1.0)
    if kind == "slow-drift":
        added = np.linspace(size / length, size, length)
    elif kind == "variance-burst":
        added = rng.normal(scale=abs(size), size=length)
    else:
        added = np.full(length, size)
    values = held_out.copy()
    values[start:start + length, channel] += added
    labels = np.zeros(n_held, np.int8)
    labels[start + length:start + length + TAIL] = -1
    labels[start:start + length] = 1
    return Injected(kind, values, labels)


def split_reference(reference: np.ndarray, holdout_fraction: float, min_fit: int) -> tuple[np.ndarray, np.ndarray]:
    """The fit part and the held-out part of ``reference [time, channels]``, split in time.

    Raises :class:`InputError` naming the rows received and the rows needed when either part would
    be too short (``min_fit`` rows for the fit part, :data:`MIN_HELD_OUT` for the held-out part).
    """
    n = reference.shape[0]
    n_held = int(round(n * holdout_fraction))
    need = max(int(np.ceil(min_fit / (1.0 - holdout_fraction))), int(np.ceil(MIN_HELD_OUT / holdout_fraction)))
    while int(round(need * holdout_fraction)) < MIN_HELD_OUT or need - int(round(need * holdout_fraction)) < min_fit:
        need += 1  # rounding of the split
    if n_held < MIN_HELD_OUT or n - n_held < min_fit:
        raise InputError(
            f"reference has {n} rows; --detector auto needs at least {need} to split it into a fit part "
            f"(>= {min_fit} rows for the least demanding candidate) and a held-out part (>= {MIN_HELD_OUT} rows, "
            f"holdout fraction {holdout_fraction})"
        )
    return reference[: n - n_held], reference[n - n_held:]


def check_candidates(candidates: Sequence[str]) -> tuple[str, ...]:
    """Candidate names, validated: known detectors, at least one, no ``auto``."""
    known = FAST_CANDIDATES + TSFM_CANDIDATES + ("matrix-profile", "residual-naive")
    names = tuple(dict.fromkeys(c.strip() for c in candidates if c.strip()))
    unknown = [c for c in names if c not in known]
    if unknown or not names:
        what = f"unknown candidate(s) {unknown}" if unknown else "no candidates"
        raise InputError(f"{what} for --detector auto; known: {', '.join(known)}")
    return names


def _evaluate(detector: AnomalyDetector, fit: np.ndarray, held: np.ndarray, copies: Sequence[Injected]) -> dict:
    """Held-out false-alarm rate, and injected-anomaly recall and F1 of a fitted detector: point-wise,
    pooled over the copies of each kind, then averaged over the kinds (so a one-step spike counts as
    much as a 24-step level shift); ``event_recall``: the share of copies with an alarm on their anomaly."""
    n_fit = fit.shape[0]

    def above(part: np.ndarray) -> np.ndarray:
        scores = detector.detect(np.vstack([fit, part])).scores[n_fit:]  # history first, then the part
        return scores > detector.threshold_

    pooled: dict[str, PointScores] = {}  # per kind, pooled over its copies
    hit_events = 0
    for copy in copies:
        flagged = above(copy.values)
        scored = copy.labels != -1  # the TAIL steps after a segment count neither way
        scores = point_scores(copy.labels[scored] == 1, flagged[scored])
        pooled[copy.kind] = pooled[copy.kind] + scores if copy.kind in pooled else scores
        hit_events += bool((flagged & (copy.labels != 0)).any())
    f1 = {kind: scores.f1 for kind, scores in pooled.items()}
    return {
        "heldout_FAR_%": 100.0 * float(above(held).mean()),
        "injected_recall": float(np.mean([scores.recall for scores in pooled.values()])),
        "injected_F1": float(np.mean(list(f1.values()))),
        "event_recall": hit_events / len(copies),
        **{f"F1_{kind}": value for kind, value in f1.items()},
    }


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_detector`.

    Attributes
    ----------
    chosen
        Name of the chosen candidate.
    table
        One row per candidate: ``detector``, ``heldout_FAR_%``, ``injected_recall``, ``injected_F1``
        (means over the kinds), ``event_recall``, ``F1_<kind>`` of each kind, ``error`` (why a candidate
        could not run), ``within_budget``, ``chosen``.
    n_fit, n_held
        Rows of the fit part and of the held-out part.
    """

    chosen: str
    table: pd.DataFrame
    n_fit: int
    n_held: int


def select_detector(
    reference: object, candidates: Sequence[str] = FAST_CANDIDATES, *, model: Forecaster | str = "tsfm-bolt-mini",
    options: Mapping[str, Mapping] | None = None, holdout_fraction: float = 0.3, far_budget: float = 5.0,
    repeats: int = 3, seed: int = 0,
) -> Selection:
    """Choose among ``candidates`` on ``reference [time]`` or ``[time, channels]`` (normal data only).

    Parameters
    ----------
    reference
        Normal operation, in time order.
    candidates
        Detector names (:func:`~tsfm.tasks.anomaly.benchmarks.make_detector`).
    model
        Model of the TSFM-based candidates (``forecast``, ``embedding``).
    options
        Constructor options per candidate name.
    holdout_fraction
        Trailing share of the reference held out from fitting, in (0, 1).
    far_budget
        Largest held-out false-alarm rate, in percent, of a candidate that may be chosen.
    repeats
        Injected copies of each kind of anomaly.
    seed
        Seed of the injections' places, channels, signs and noise.
    """
    names = check_candidates(candidates)
    if not 0.0 < holdout_fraction < 1.0:
        raise InputError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
    if not 0.0 <= far_budget <= 100.0:
        raise InputError(f"far_budget must be a percentage in [0, 100], got {far_budget!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"repeats must be an integer >= 1, got {repeats!r}")
    ref = as_matrix(reference, "reference")
    options = options or {}
    built = {name: make_detector(name, model, **dict(options.get(name, {}))) for name in names}
    fit, held = split_reference(ref, holdout_fraction, min(d.min_reference for d in built.values()))
    rng = np.random.default_rng(seed)
    copies = [inject(held, kind, rng) for kind in INJECTIONS for _ in range(repeats)]
    rows = []
    for name, detector in built.items():
        try:
            detector.fit(fit)
            rows.append({"detector": name, **_evaluate(detector, fit, held, copies), "error": ""})
        except InputError as exc:  # e.g. the fit part is too short for this candidate
            rows.append({"detector": name, "heldout_FAR_%": np.nan, "injected_F1": np.nan, "error": str(exc)})
    table = pd.DataFrame(rows)
    table["within_budget"] = table["heldout_FAR_%"] <= far_budget
    ran = table[table["error"] == ""]
    if ran.empty:
        reasons = "; ".join(f"{r.detector}: {r.error}" for r in table.itertuples())
        raise InputError(f"no candidate of --detector auto could fit the reference's fit part ({reasons})")
    chosen = choose(table, far_budget)
    table["chosen"] = table["detector"] == chosen
    return Selection(chosen, table, fit.shape[0], held.shape[0])


def choose(table: pd.DataFrame, far_budget: float) -> str:
    """The candidate of best ``injected_F1`` among the rows of ``table`` that ran within ``far_budget``
    (percent held-out false alarms; lower false alarms break ties), else the one of fewest false alarms."""
    ran = table[table["error"] == ""]
    within = ran[ran["heldout_FAR_%"] <= far_budget]
    if len(within):
        best = within.sort_values(["injected_F1", "heldout_FAR_%"], ascending=[False, True], kind="stable")
    else:  # nothing within the budget: the quietest, best F1 among equals
        best = ran.sort_values(["heldout_FAR_%", "injected_F1"], ascending=[True, False], kind="stable")
    return str(best.iloc[0]["detector"])


class AutoDetector(AnomalyDetector):
    """A detector that picks one of ``candidates`` at :meth:`fit` (:func:`select_detector`) and then is it.

    It is made of detectors rather than a scoring rule, so it replaces :meth:`fit` (select, then fit the
    winner on the whole reference) and :meth:`detect` (the winner's); input is validated by them.

    Parameters
    ----------
    candidates, model, holdout_fraction, far_budget, repeats, seed
        As in :func:`select_detector`.
    candidate_options
        Constructor options per candidate name, on top of ``**kwargs``.
    **kwargs
        :class:`~tsfm.tasks.anomaly.base.AnomalyDetector` options given to every candidate (``alpha``,
        ``smooth``, ``combine``, ``refractory``); a candidate keeps its own default for any not given.

    Attributes
    ----------
    selection_
        The :class:`Selection` of the last fit.
    detector_
        The chosen detector, fitted on the whole reference.
    """

    name = "auto"

    def __init__(
        self, *, candidates: Sequence[str] = FAST_CANDIDATES, model: Forecaster | str = "tsfm-bolt-mini",
        candidate_options: Mapping[str, Mapping] | None = None, holdout_fraction: float = 0.3,
        far_budget: float = 5.0, repeats: int = 3, seed: int = 0, **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.candidates = check_candidates(candidates)
        self.model = model
        self.holdout_fraction, self.far_budget, self.repeats, self.seed = holdout_fraction, far_budget, repeats, seed
        extra = candidate_options or {}
        self.options = {name: {**kwargs, **dict(extra.get(name, {}))} for name in self.candidates}

    @property
    def chosen_(self) -> str:
        """Name of the chosen detector."""
        return self.selection_.chosen

    def fit(self, reference: object) -> AutoDetector:
        """Choose on a split of ``reference``, then fit the winner on all of it; returns ``self``."""
        self.selection_ = select_detector(
            reference, self.candidates, model=self.model, options=self.options,
            holdout_fraction=self.holdout_fraction, far_budget=self.far_budget, repeats=self.repeats, seed=self.seed,
        )
        chosen = self.selection_.chosen
        self.detector_ = make_detector(chosen, self.model, **self.options[chosen]).fit(reference)
        self.threshold_, self.n_channels_ = self.detector_.threshold_, self.detector_.n_channels_
        self.refractory = self.detector_.refractory
        return self

    def detect(self, series: object) -> Detection:
        """The chosen detector's :meth:`~tsfm.tasks.anomaly.base.AnomalyDetector.detect`."""
        if self.threshold_ is None:
            raise InputError("auto is not fitted: call fit(reference) with normal data first")
        return self.detector_.detect(series)

    def _score(self, series: np.ndarray) -> np.ndarray:
        return self.detector_._score(series)
