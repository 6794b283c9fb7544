"""Fleet-scale batch jobs: forecast, embed, classify and detect over millions of series on Ray Data.

- :mod:`~tsfm.tasks.fleet.partitions`: the files of a dataset as partitions, read in blocks of whole series;
- :mod:`~tsfm.tasks.fleet.work`: what is done to a block (one class per command);
- :mod:`~tsfm.tasks.fleet.ledger`: the output folder, written partition by partition, restartable;
- :mod:`~tsfm.tasks.fleet.engine`: :func:`run_fleet`, the actor pool on Ray Data;
- :mod:`~tsfm.tasks.fleet.cli`: ``tsfm embed`` and ``--engine ray`` of the four commands;
- :mod:`~tsfm.tasks.fleet.bench`: ``tsfm bench fleet``.

Ray is an optional extra (``pip install -e ".[distributed]"``); it is imported only when a job runs.
"""

from tsfm.tasks.fleet.engine import FleetResult, run_fleet
from tsfm.tasks.fleet.partitions import Columns, plan_partitions, resolve_columns
from tsfm.tasks.fleet.work import ClassifyWork, DetectWork, EmbedWork, ForecastWork, Work

__all__ = [
    "ClassifyWork", "Columns", "DetectWork", "EmbedWork", "FleetResult", "ForecastWork", "Work",
    "plan_partitions", "resolve_columns", "run_fleet",
]
