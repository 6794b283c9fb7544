"""MiniRocket features whose fitted state is plain arrays, so a classifier using them saves without pickle.

aeon's ``MiniRocket`` fits five arrays (channels per kernel combination, channel indices,
dilations, features per dilation, biases; the biases are quantiles of convolution outputs on
the training series, so they depend on the data as well as on the seed). :class:`RocketFeatures`
fits them with aeon, keeps them as arrays (:meth:`RocketFeatures.state`) and transforms with
aeon's own compiled transform given those arrays, so a transformer rebuilt by
:meth:`RocketFeatures.from_state` gives the same features as the one that was fitted.

Series of unequal length or with gaps are first brought to the training length by
:func:`~tsfm.tasks.classification.baselines.to_panel` (at least 9 values, MiniRocket's shortest).
"""

from __future__ import annotations

import numpy as np

from tsfm.errors import InputError
from tsfm.tasks.classification.baselines import to_panel

STATE_KEYS = ("channels_per_combination", "channel_indices", "dilations", "features_per_dilation", "biases")
_INT_KEYS = STATE_KEYS[:4]
MIN_PANEL_LENGTH = 9  # MiniRocket's kernels have 9 taps


class RocketFeatures:
    """MiniRocket (aeon) as a fit/transform pair with an array state.

    Parameters
    ----------
    n_kernels
        Number of features (aeon rounds it to a multiple of 84).
    random_state
        Seed of the kernel biases and channel choices.
    """

    def __init__(self, n_kernels: int = 10_000, random_state: int = 0) -> None:
        if not isinstance(n_kernels, int) or n_kernels < 84:
            raise InputError(f"n_kernels must be an integer >= 84, got {n_kernels!r}")
        self.n_kernels = n_kernels
        self.random_state = random_state
        self.length = 0
        self.n_channels = 0
        self.arrays: dict[str, np.ndarray] = {}

    def fit(self, series: list[np.ndarray]) -> RocketFeatures:
        """Fit dilations and biases on validated series (1-D, or ``[n_channels, length]`` each)."""
        from aeon.transformations.collection.convolution_based import MiniRocket

        self.length = max(MIN_PANEL_LENGTH, max(s.shape[-1] for s in series))
        panel = to_panel(series, self.length)  # [n, channels, length]
        self.n_channels = panel.shape[1]
        fitted = MiniRocket(n_kernels=self.n_kernels, random_state=self.random_state, n_jobs=1).fit(panel)
        self.arrays = dict(zip(STATE_KEYS, fitted.parameters, strict=True))
        return self

    def transform(self, series: list[np.ndarray]) -> np.ndarray:
        """Features ``[n_series, n_features]`` (float64) of validated series with the fitted channels."""
        from aeon.transformations.collection.convolution_based import MiniRocket
        from aeon.transformations.collection.convolution_based._minirocket import (
            _static_transform_multi,
            _static_transform_uni,
        )

        if not self.arrays:
            raise InputError("RocketFeatures is not fitted; call fit(series) first")
        panel = to_panel(series, self.length).astype(np.float32)  # [n, channels, length]
        if panel.shape[1] != self.n_channels:
            raise InputError(f"MiniRocket was fitted on {self.n_channels} channel(s), got {panel.shape[1]}")
        parameters = tuple(self.arrays[k] for k in STATE_KEYS)
        if self.n_channels == 1:
            features = _static_transform_uni(panel[:, 0, :], parameters, MiniRocket._indices)
        else:
            features = _static_transform_multi(panel, parameters, MiniRocket._indices)
        return np.asarray(features, dtype=np.float64)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays plus ``length`` and ``n_channels`` (as 0-d arrays): all a rebuild needs."""
        if not self.arrays:
            raise InputError("RocketFeatures is not fitted; call fit(series) first")
        return {**self.arrays, "length": np.asarray(self.length), "n_channels": np.asarray(self.n_channels)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> RocketFeatures:
        """A fitted transformer from :meth:`state`'s arrays; names, types and sizes are checked first."""
        expected = (*STATE_KEYS, "length", "n_channels")
        if sorted(arrays) != sorted(expected):
            raise InputError(f"MiniRocket state needs the arrays {list(expected)}, got {sorted(arrays)}")
        rebuilt = cls()
        for key in _INT_KEYS:
            if not np.issubdtype(arrays[key].dtype, np.integer) or arrays[key].ndim != 1 or (arrays[key] < 0).any():
                raise InputError(f"MiniRocket state: {key!r} must be a 1-D array of non-negative integers")
        biases = arrays["biases"]
        if biases.ndim != 1 or not np.issubdtype(biases.dtype, np.floating) or not np.isfinite(biases).all():
            raise InputError("MiniRocket state: 'biases' must be a 1-D array of finite floats")
        rebuilt.length, rebuilt.n_channels = int(arrays["length"]), int(arrays["n_channels"])
        dil, per_dil = arrays["dilations"], arrays["features_per_dilation"]
        per_comb = arrays["channels_per_combination"]
        consistent = (
            len(dil) == len(per_dil) and len(biases) == 84 * int(per_dil.sum()) and len(per_comb) == 84 * len(dil)
            and len(arrays["channel_indices"]) == int(per_comb.sum()) and rebuilt.length >= MIN_PANEL_LENGTH
            and rebuilt.n_channels >= 1 and (arrays["channel_indices"] < rebuilt.n_channels).all()
        )
        if not consistent:
            raise InputError("MiniRocket state: array sizes do not agree with each other (a corrupt or edited file)")
        rebuilt.arrays = {k: arrays[k].astype(np.int32 if k in _INT_KEYS else np.float32) for k in STATE_KEYS}
        return rebuilt
