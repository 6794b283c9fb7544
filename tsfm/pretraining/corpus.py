"""The real-series pretraining corpus: public series that ship inside installed packages.

Nothing is downloaded: every source is a dataset bundled in a package the registries serve (today
statsmodels, which statsforecast already pulls in). :mod:`tsfm.pretraining.corpus_manifest`
lists each source with its package, dataset, licence, series count, frequency and a SHA-256 of its
values; :func:`read_manifest` reads it and :func:`load_corpus` loads what it lists:

- a source whose package or dataset is missing, or whose values no longer match the checksum
  (a changed package), is named in a warning and skipped, never silently;
- a source named after an evaluation set is refused (:func:`tsfm.pretraining.contamination.excluded_by_name`);
- every series that shares a window with an evaluation series is dropped
  (:class:`~tsfm.pretraining.contamination.EvaluationIndex`), with a warning that counts them.

Sources were chosen by licence: public domain or CC BY (World Bank). Datasets distributed "with
express permission of the original author, who retains all rights" (copper, committee, ...) or of
unknown licence (cancer, heart, interest_inflation) are left out, as are cross-sections that are
not time series.

:class:`RealSeries` is what the trainer samples: the corpus plus the user's own ``extra_data``,
cut into random (context, target) windows, a share of them TSMixup-combined with synthetic series.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tsfm.errors import InputError
from tsfm.pretraining.contamination import EvaluationIndex, evaluation_series, excluded_by_name
from tsfm.pretraining.synthetic import tsmixup

if TYPE_CHECKING:
    import pandas as pd

    from tsfm.pretraining.config import PretrainConfig

BUILTIN = "builtin"  # the corpus= value that selects the shipped manifest
_FIELDS = ("name", "package", "dataset", "licence", "frequency", "series", "sha256", "description")


@dataclass(frozen=True)
class CorpusSource:
    """One entry of the manifest: where a set of series comes from and what it must hold."""

    name: str  # "<package>:<dataset>", the key of its loader
    package: str
    dataset: str
    licence: str
    frequency: str
    series: int
    sha256: str
    description: str = ""


# ---- loaders: package dataset -> named series ----------------------------------------------------
def _columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    return [(c, frame[c].to_numpy(dtype=np.float64)) for c in columns]


def _statsmodels(dataset: str) -> pd.DataFrame:
    import importlib

    return importlib.import_module(f"statsmodels.datasets.{dataset}").load_pandas().data


def _elnino() -> list[tuple[str, np.ndarray]]:
    table = _statsmodels("elnino")
    return [("sst", table.drop(columns="YEAR").to_numpy(dtype=np.float64).reshape(-1))]  # month by month


def _grunfeld() -> list[tuple[str, np.ndarray]]:
    table = _statsmodels("grunfeld").sort_values(["firm", "year"])
    return [(f"{firm}:{column}", part[column].to_numpy(dtype=np.float64))
            for firm, part in table.groupby("firm", sort=True) for column in ("invest", "value", "capital")]


def _fertility() -> list[tuple[str, np.ndarray]]:
    table = _statsmodels("fertility")
    years = [c for c in table.columns if str(c).isdigit()]
    return [(str(code), row.to_numpy(dtype=np.float64)) for code, row in zip(table["Country Code"], table[years].iloc)]


_MACRO = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop",
          "infl", "realint")
LOADERS: dict[str, Callable[[], list[tuple[str, np.ndarray]]]] = {
    "statsmodels:co2": lambda: _columns(_statsmodels("co2"), ["co2"]),
    "statsmodels:danish_data": lambda: _columns(_statsmodels("danish_data"), ["lrm", "lry", "lpy", "ibo", "ide"]),
    "statsmodels:elec_equip": lambda: _columns(_statsmodels("elec_equip"), ["STS.M.I7.W.TOVT.NS0016.4.000"]),
    "statsmodels:elnino": _elnino,
    "statsmodels:fertility": _fertility,
    "statsmodels:grunfeld": _grunfeld,
    "statsmodels:longley": lambda: _columns(_statsmodels("longley"),
                                            ["TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP"]),
    "statsmodels:macrodata": lambda: _columns(_statsmodels("macrodata"), _MACRO),
    "statsmodels:nile": lambda: _columns(_statsmodels("nile"), ["volume"]),
    "statsmodels:sunspots": lambda: _columns(_statsmodels("sunspots"), ["SUNACTIVITY"]),
}


def _trim(values: np.ndarray) -> np.ndarray:
    """The series without its leading and trailing missing values (inner gaps stay NaN)."""
    finite = np.flatnonzero(np.isfinite(values))
    return values[finite[0] : finite[-1] + 1] if finite.size else values[:0]


def checksum(series: Sequence[np.ndarray]) -> str:
    """SHA-256 of a source's values: each series' length and float64 bytes, in order."""
    digest = hashlib.sha256()
    for values in series:
        values = np.ascontiguousarray(values, dtype=np.float64)
        digest.update(len(values).to_bytes(8, "little"))
        digest.update(values.tobytes())
    return digest.hexdigest()


def load_source(source: CorpusSource) -> list[np.ndarray]:
    """The trimmed series of one source; raises ``LookupError`` when it is missing or changed."""
    loader = LOADERS.get(source.name)
    if loader is None:
        raise LookupError(f"no loader for corpus source {source.name!r}; known: {', '.join(LOADERS)}")
    try:
        series = [_trim(values) for _, values in loader()]
    except (ImportError, AttributeError, KeyError, OSError) as error:
        raise LookupError(f"corpus source {source.name!r} could not be read ({error})") from error
    series = [s for s in series if len(s)]
    found = checksum(series)
    if found != source.sha256 or len(series) != source.series:
        raise LookupError(
            f"corpus source {source.name!r} changed: {len(series)} series with checksum {found[:12]}..., "
            f"the manifest expects {source.series} with {source.sha256[:12]}... (another {source.package} version?)"
        )
    return series


# ---- the manifest -----------------------------------------------------------------------------------
def read_manifest(path: str | Path | None = None) -> list[CorpusSource]:
    """The sources of a manifest: ``None`` or ``"builtin"`` the shipped one
    (:mod:`tsfm.pretraining.corpus_manifest`), else a JSON file ``{"sources": [{...}, ...]}``."""
    if path is None or path == BUILTIN:
        from tsfm.pretraining.corpus_manifest import SOURCES

        entries: object = SOURCES
    else:
        if not Path(path).is_file():
            raise InputError(f"corpus must be 'builtin' or a manifest JSON file; got {str(path)!r} (no such file)")
        try:
            entries = json.loads(Path(path).read_text())["sources"]
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"corpus manifest {str(path)!r} is not valid JSON with a 'sources' list: {error}"
            ) from error
    try:
        return [CorpusSource(**{k: entry[k] for k in _FIELDS if k in entry}) for entry in entries]
    except (KeyError, TypeError) as error:
        raise InputError(f"corpus manifest {str(path)!r} has an entry without the fields "
                         f"{', '.join(_FIELDS[:-1])}: {error}") from error


def describe_source(name: str, licence: str, frequency: str, description: str = "") -> CorpusSource:
    """A manifest entry for the loader ``name`` with the series count and checksum of what it loads now."""
    series = [s for s in (_trim(v) for _, v in LOADERS[name]()) if len(s)]
    package, dataset = name.split(":", 1)
    return CorpusSource(name, package, dataset, licence, frequency, len(series), checksum(series), description)


def write_manifest(path: str | Path, sources: Sequence[CorpusSource]) -> Path:
    """Write ``sources`` as a manifest JSON (how ``corpus_manifest.json`` was made)."""
    Path(path).write_text(json.dumps({"sources": [asdict(s) for s in sources]}, indent=2) + "\n")
    return Path(path)


# ---- loading with the exclusion checks ---------------------------------------------------------------
@dataclass
class Corpus:
    """Loaded real series and what happened to each source (``report``: name -> status line)."""

    series: list[np.ndarray]
    names: list[str]
    report: dict[str, str]


def load_corpus(
    manifest: str | Path | None = None,
    index: EvaluationIndex | None = None,
    shared_data: str | Path | None = None,
) -> Corpus:
    """Load every source of ``manifest`` that is present, unchanged and no evaluation set.

    ``index`` is the content check; ``None`` builds one from :func:`evaluation_series` (the aeon
    sets, plus M4 and ETT under ``shared_data``). Skipped sources and dropped series are named in
    warnings.
    """
    index = index if index is not None else EvaluationIndex(evaluation_series(shared_data))
    corpus = Corpus([], [], {})
    for source in read_manifest(manifest):
        pattern = excluded_by_name(source.name, source.dataset)
        if pattern is not None:
            _skip(corpus, source.name, f"refused: named like an evaluation set (matches {pattern!r})")
            continue
        try:
            series = load_source(source)
        except LookupError as error:
            _skip(corpus, source.name, f"skipped: {error}")
            continue
        kept, dropped = index.filter(series)
        corpus.series += kept
        corpus.names += [f"{source.name}:{i}" for i in range(len(kept))]
        corpus.report[source.name] = f"{len(kept)} series"
        if dropped:
            corpus.report[source.name] += f", {len(dropped)} dropped (equal to evaluation windows)"
            warnings.warn(f"corpus source {source.name!r}: {len(dropped)} series dropped because a window of "
                          "them equals a window of an evaluation series", stacklevel=2)
    return corpus


def _skip(corpus: Corpus, name: str, why: str) -> None:
    corpus.report[name] = why
    warnings.warn(f"corpus source {name!r} {why}", stacklevel=3)


# ---- what the trainer samples --------------------------------------------------------------------------
def _cut_from(values: np.ndarray, end: int, config: PretrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Context ending at ``end`` (NaN-left-padded to context_length) and the NaN-padded target after it."""
    ctx, horizon = config.context_length, config.prediction_length
    context = np.full(ctx, np.nan, dtype=np.float32)
    history = values[max(0, end - ctx) : end]
    context[ctx - len(history) :] = history
    target = np.full(horizon, np.nan, dtype=np.float32)
    future = values[end : end + horizon]
    target[: len(future)] = future
    return context, target


class RealSeries:
    """Real series (the corpus and ``extra_data``) sampled as random windows for the trainer.

    ``extra_data`` is read with :func:`tsfm.data.load_frame` and goes through the same content check
    as the corpus. A series needs ``min_context_length`` values plus at least ``min_target`` of
    target: real yearly series are short, so a window's target may be partly NaN (masked in the
    loss) instead of dropping every series shorter than the full horizon.
    """

    def __init__(self, config: PretrainConfig, index: EvaluationIndex | None = None) -> None:
        series: list[np.ndarray] = []
        if config.corpus is not None or config.extra_data is not None:
            index = index if index is not None else EvaluationIndex(evaluation_series(config.evaluation_data))
        if config.corpus is not None:
            series += load_corpus(config.corpus, index).series
        if config.extra_data is not None:
            series += _extra_series(config, index)
        self.min_target = min(config.prediction_length, 6)
        need = config.min_context_length + self.min_target
        self.series = [s.astype(np.float32) for s in series if len(s) >= need]
        if not self.series:
            raise InputError(f"corpus={config.corpus!r} and extra_data={config.extra_data!r} hold no series "
                             f"of at least {need} values")
        self.config = config

    def sample(self, n: int, rng: np.random.Generator,
               synthetic: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random windows: context ``[n, context_length]``, target ``[n, prediction_length]``.

        With ``synthetic`` (context, target windows), a ``real_mixup_probability`` share of the rows
        becomes a TSMixup of the real window and one synthetic window (weights Dirichlet(1.5, 1.5)).
        """
        cfg, pairs = self.config, []
        for i in rng.integers(0, len(self.series), size=n):
            values = self.series[i]
            end = int(rng.integers(cfg.min_context_length, len(values) - self.min_target + 1))
            pairs.append(_cut_from(values, end, cfg))
        context, target = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        if synthetic is None or not cfg.real_mixup_probability or not len(synthetic[0]):
            return context, target  # no draws: runs without mixup keep their batches
        mixed = np.flatnonzero(rng.random(n) < cfg.real_mixup_probability)
        if len(mixed):
            partner = rng.integers(0, len(synthetic[0]), len(mixed))
            weights = rng.gamma(1.5, size=(len(mixed), 2))
            weights /= weights.sum(axis=1, keepdims=True)
            real = np.concatenate([context[mixed], target[mixed]], axis=1)  # [m, ctx + H]
            other = np.concatenate([synthetic[0][partner], synthetic[1][partner]], axis=1)
            # the real window's NaN (left padding, short targets) stay NaN in the mix
            both = np.stack([real, np.where(np.isnan(real), np.nan, other)], axis=1)  # [m, 2, ctx + H]
            window = tsmixup(both, weights).astype(np.float32)
            context[mixed], target[mixed] = window[:, : cfg.context_length], window[:, cfg.context_length :]
        return context, target


def _extra_series(config: PretrainConfig, index: EvaluationIndex) -> list[np.ndarray]:
    from tsfm import data as tsdata

    pattern = excluded_by_name(config.extra_data)
    if pattern is not None:
        warnings.warn(f"extra_data={config.extra_data!r} is named like an evaluation set (matches {pattern!r}): "
                      "its series are still checked window by window", stacklevel=3)
    _, series = tsdata.to_series(tsdata.load_frame(config.extra_data))
    kept, dropped = index.filter([np.asarray(s, dtype=np.float64) for s in series])
    if dropped:
        warnings.warn(f"extra_data={config.extra_data!r}: {len(dropped)} of {len(series)} series dropped because "
                      "a window of them equals a window of an evaluation series", stacklevel=3)
    return kept
