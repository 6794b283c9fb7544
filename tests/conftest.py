"""Shared fixtures: tiny random-weight Chronos checkpoints and small synthetic panels.

Checkpoints are built once per test session with the real architectures, saved with
``save_pretrained`` and loaded back through the real ``from_pretrained`` path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHRONOS_FAMILIES = ("chronos-t5", "chronos-bolt", "chronos-2")


def _tiny_families() -> tuple[str, ...]:
    from tsfm.testing import tiny_families

    return tiny_families()


# Every family with a registered tiny-checkpoint builder (tsfm.testing.register_tiny_builder) whose
# package is installed: the Chronos ones and any family added beside them.
TINY_FAMILIES = _tiny_families()


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (real datasets live in ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Family -> folder of a tiny random-weight checkpoint of that architecture."""
    from tsfm.testing import build_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {family: build_tiny_checkpoint(family, root / family) for family in TINY_FAMILIES}


def seasonal_panel(n_series: int = 5, season: int = 12, seed: int = 0) -> list[np.ndarray]:
    """Unequal-length seasonal series with a trend, noise, an interior gap and a leading gap."""
    rng = np.random.default_rng(seed)
    panel = []
    for i in range(n_series):
        length = 60 + 17 * i
        t = np.arange(length)
        level = 10.0 * (i + 1)
        values = level + 0.05 * t + 3.0 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.5, length)
        panel.append(values)
    if n_series > 1:
        panel[1][20:24] = np.nan  # missing stretch inside
    if n_series > 2:
        panel[2][:5] = np.nan  # series that starts late
    return panel
