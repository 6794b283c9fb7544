"""What a fleet job does to one block of whole series: forecast, embed, classify or detect.

A work object is small and picklable: it travels to every actor, where :meth:`setup` loads
the model once, and :meth:`run` turns a block (raw rows of whole series, the dataset's own
column names) into the rows of the output table. Each builds the same table as the local
(single-process) command, so the two engines' results can be compared row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsfm.errors import InputError
from tsfm.tasks.fleet.partitions import Columns


class Work:
    """Base of the four kinds: ``setup()`` once per actor, then ``run(block)`` per block."""

    kind = "work"
    needs_timestamp = True

    def __init__(
        self, columns: Columns, model: str = "", device: str = "auto", batch_size: int = 256,
        frame_options: dict | None = None,
    ) -> None:
        self.columns, self.model_name, self.device, self.batch_size = columns, model, device, batch_size
        self.frame_options = dict(frame_options or {})  # timestamp_unit, fill_gaps of tsfm.data.load_frame
        self.model: Any = None

    def describe(self) -> dict:
        """What identifies the job's results (written into the output folder's marker)."""
        return {"kind": self.kind, "model": self.model_name, "columns": self.columns.names, **self.frame_options}

    def setup(self) -> None:
        import tsfm

        self.model = tsfm.load(self.model_name, device=self.device, batch_size=self.batch_size, **self._load_options())

    def _load_options(self) -> dict:
        return {}

    def run(self, block: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def canonical(self, block: pd.DataFrame) -> pd.DataFrame:
        """The block validated into the canonical long format, as the local engine reads a file."""
        from tsfm.data import load_frame

        c = self.columns
        return load_frame(block, id_column=c.id, timestamp_column=c.timestamp, target_column=c.targets[0],
                          **self.frame_options)


class ForecastWork(Work):
    """``tsfm forecast``: ``item_id, timestamp, mean, <levels>`` for ``horizon`` steps of every series."""

    kind = "forecast"

    def __init__(
        self, columns: Columns, model: str, horizon: int, levels: Sequence[float], season_length: int = 1,
        **options: Any,
    ) -> None:
        super().__init__(columns, model, **options)
        self.horizon, self.levels, self.season_length = horizon, tuple(levels), season_length

    def describe(self) -> dict:
        return {**super().describe(), "horizon": self.horizon, "levels": list(self.levels),
                "season_length": self.season_length}

    def _load_options(self) -> dict:
        return {"season_length": self.season_length}

    def run(self, block: pd.DataFrame) -> pd.DataFrame:
        from tsfm import data as tsdata

        frame = self.canonical(block)
        ids, series = tsdata.to_series(frame)
        forecast = self.model.predict_quantiles(series, self.horizon, self.levels)
        stamps = tsdata.future_timestamps(frame, self.horizon, tsdata.infer_frequency(frame))
        return forecast.to_frame(ids, stamps)


class EmbedWork(Work):
    """``tsfm embed``: ``item_id, e0 .. e<d-1>``, the model's pooled embedding of every series."""

    kind = "embed"

    def run(self, block: pd.DataFrame) -> pd.DataFrame:
        from tsfm import data as tsdata

        ids, series = tsdata.to_series(self.canonical(block))
        return embedding_table(ids, self.model.embed(series))


def embedding_table(ids: Sequence[str], vectors: np.ndarray) -> pd.DataFrame:
    """``item_id, e0 .. e<d-1>`` from ids and ``vectors [n_series, d]``."""
    table = pd.DataFrame(vectors, columns=[f"e{k}" for k in range(vectors.shape[1])])
    table.insert(0, "item_id", list(ids))
    return table


class ClassifyWork(Work):
    """``tsfm classify``: ``item_id, label, p_<class>...`` from a classifier fitted once, by the driver."""

    kind = "classify"

    def __init__(self, columns: Columns, classifier: Any, description: dict, chunk: int = 2048) -> None:
        super().__init__(columns)
        self.classifier, self.description, self.chunk = classifier, description, chunk

    def describe(self) -> dict:
        return {**super().describe(), **self.description}

    def setup(self) -> None:  # the fitted classifier arrived with its model
        pass

    def run(self, block: pd.DataFrame) -> pd.DataFrame:
        from tsfm import data as tsdata

        ids, series = tsdata.to_series(tsdata.load_frame(block, id_column=self.columns.id))
        classes = [str(c) for c in self.classifier.classes_]
        parts = []
        for start in range(0, len(series), self.chunk):
            proba = self.classifier.predict_proba(series[start : start + self.chunk])  # [chunk, n_classes]
            part = pd.DataFrame(proba, columns=[f"p_{c}" for c in classes])
            part.insert(0, "label", [classes[k] for k in proba.argmax(axis=1)])
            part.insert(0, "item_id", ids[start : start + self.chunk])
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


class DetectWork(Work):
    """``tsfm detect``: ``item_id, timestamp, score, is_anomaly, channels`` for every step of every series."""

    kind = "detect"
    needs_timestamp = False

    def __init__(
        self, columns: Columns, model: str, detector: str, options: dict, reference_fraction: float = 0.2,
        references: dict[str, np.ndarray] | None = None, reference_id: str | None = None,
        reference_rows: int | None = None,
    ) -> None:
        super().__init__(columns, model)
        self.detector, self.options = detector, dict(options)
        self.reference_fraction, self.references = reference_fraction, references
        self.reference_rows = reference_rows
        self.reference_id = reference_id  # fingerprint of the --reference file: another file, another job

    def describe(self) -> dict:
        return {**super().describe(), "detector": self.detector, **self.options,
                "reference_fraction": self.reference_fraction, "reference_rows": self.reference_rows,
                "reference": self.reference_id}

    def setup(self) -> None:
        from tsfm.registry import resolve_model

        uses_model = self.detector in ("forecast", "embedding")
        self.model = resolve_model(self.model_name) if uses_model else self.model_name

    def run(self, block: pd.DataFrame) -> pd.DataFrame:
        from tsfm.tasks.anomaly.benchmarks import make_detector
        from tsfm.tasks.anomaly.io import scores_frame

        c, tables = self.columns, []
        for item_id, rows in block.groupby(block[c.id].astype(str), sort=False):
            stamps = rows[c.timestamp].to_numpy() if c.timestamp else np.arange(len(rows))
            values = rows[list(c.targets)].to_numpy(np.float64)  # [time, channels]
            detector = make_detector(self.detector, self.model, **self.options)
            try:
                detector.fit(self._reference(item_id, values))
            except InputError as exc:
                raise InputError(f"item {item_id!r}: {exc}") from None
            tables.append(scores_frame(item_id, stamps, detector.detect(values), c.targets))
        return pd.concat(tables, ignore_index=True)

    def _reference(self, item_id: str, values: np.ndarray) -> np.ndarray:
        if self.references is None:
            from tsfm.tasks.anomaly.cli import leading_reference

            return leading_reference(values, self.reference_fraction, self.reference_rows)
        if item_id in self.references:
            return self.references[item_id]
        if len(self.references) == 1:
            return next(iter(self.references.values()))
        raise InputError(f"--reference has no rows for item {item_id!r}")
