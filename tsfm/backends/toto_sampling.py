"""Toto's sampled forecast for a batch of series, each series drawn from its own random stream.

Toto forecasts by sampling: at every decoded patch its head gives a distribution over the next
values of each path and upstream's ``TotoForecaster`` draws from it once, for every path of every
series, from the global random generator. The draws a series gets then depend on which series
share its batch, so a forecast would change with the batch size. Calling upstream once per series
avoids that but costs a forward pass per series (+30% against one batched call at the released size).

Here the forward pass stays batched and only the draw is split: :class:`SeriesStreams` keeps one
generator state per series, every series starting from the same seeded state, and the forecaster of
:func:`seeded_forecaster` draws each series' rows of the distribution in turn from its own state.
A series alone therefore gets exactly the draws upstream's forecast makes for it under the same
seed, in any batch. The distribution is cut to one series' rows by :func:`rows`, which knows the
classes Toto's two output heads build (a Student-t, and a mixture of Student-t's) and their affine
rescaling; any other class is refused with one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.distributions import Categorical, Distribution, MixtureSameFamily, StudentT


class SeriesStreams:
    """One random-generator state per series of a batch, each starting from ``torch.manual_seed(seed)``.

    Parameters
    ----------
    count
        Series in the batch.
    seed
        The seed every series' stream starts from (the seed a one-series call uses).
    device
        Where the draws are made (``"cpu"`` or ``"cuda:N"``): the generator of that device is used.
    """

    def __init__(self, count: int, seed: int, device: str) -> None:
        self.cuda = torch.device(device) if device.startswith("cuda") else None
        with self._forked():
            torch.manual_seed(seed)
            start = self._get()
        self.states = [start.clone() for _ in range(count)]

    @property
    def count(self) -> int:
        """Series in the batch."""
        return len(self.states)

    def _get(self) -> torch.Tensor:
        return torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else torch.get_rng_state()

    def _set(self, state: torch.Tensor) -> None:
        if self.cuda is not None:
            torch.cuda.set_rng_state(state, self.cuda)
        else:
            torch.set_rng_state(state)

    def _forked(self) -> contextlib.AbstractContextManager:
        return torch.random.fork_rng(devices=[self.cuda] if self.cuda is not None else [])

    @contextlib.contextmanager
    def series(self, index: int) -> Iterator[None]:
        """Draws made inside come from series ``index``'s stream, which then moves on; the caller's does not."""
        with self._forked():
            self._set(self.states[index])
            yield
            self.states[index] = self._get()


def rows(distribution: Distribution, index: slice) -> Distribution:
    """The same distribution over the rows ``index`` of its first batch dimension.

    Raises
    ------
    TypeError
        A distribution class Toto's heads do not build (a newer ``toto-ts``), named.
    """
    from gluonts.torch.distributions import AffineTransformed

    def cut(value: Any) -> Any:
        # loc and scale may be plain numbers, or broadcast over the rows (a first dimension of 1)
        return value[index] if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] > 1 else value

    if isinstance(distribution, AffineTransformed):
        return AffineTransformed(rows(distribution.base_dist, index), loc=cut(distribution.loc),
                                 scale=cut(distribution.scale))
    if isinstance(distribution, MixtureSameFamily):
        mixture = Categorical(probs=distribution.mixture_distribution.probs[index], validate_args=False)
        return MixtureSameFamily(mixture, rows(distribution.component_distribution, index), validate_args=False)
    if isinstance(distribution, StudentT):  # torch's, or gluonts' subclass of it
        return type(distribution)(distribution.df[index], distribution.loc[index], distribution.scale[index],
                                  validate_args=False)
    raise TypeError(f"cannot draw Toto's forecast per series from a {type(distribution).__name__}; "
                    f"known: AffineTransformed, MixtureSameFamily, StudentT")


class _PerSeriesDraws:
    """A distribution over ``[samples x series, ...]`` rows whose ``sample()`` draws each series from its stream.

    Rows are laid out as upstream repeats them, ``(sample, series)``: series ``i`` owns rows ``i, i + b, ...``.
    """

    def __init__(self, distribution: Distribution, streams: SeriesStreams) -> None:
        self.distribution = distribution
        self.streams = streams

    def __getattr__(self, name: str) -> Any:  # mean, batch_shape, ... as the wrapped distribution's
        return getattr(self.distribution, name)

    def sample(self) -> torch.Tensor:
        whole, count = self.distribution, self.streams.count
        shape = whole.batch_shape + whole.event_shape
        out = None
        for i in range(count):
            with self.streams.series(i):
                drawn = rows(whole, slice(i, None, count)).sample()
            if out is None:
                out = torch.empty(shape, dtype=drawn.dtype, device=drawn.device)
            out[i::count] = drawn
        return out


def seeded_forecaster(forecaster_cls: type, backbone: Any, streams: SeriesStreams) -> Any:
    """Upstream's ``TotoForecaster`` over ``backbone`` whose draws come from ``streams``, one per series."""

    class PerSeriesForecaster(forecaster_cls):
        def create_affine_transformed(self, base_distr: Distribution, loc: torch.Tensor,
                                      scale: torch.Tensor) -> _PerSeriesDraws:
            return _PerSeriesDraws(forecaster_cls.create_affine_transformed(base_distr, loc, scale), streams)

    return PerSeriesForecaster(backbone)
