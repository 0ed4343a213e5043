"""Seeds and counters for the Philox stream (see ``lamina.backends.philox`` for the bits).

A ``SeedGenerator`` owns a seed and a counter; each draw uses the next counter, so a run is
reproducible from its seed and two backends draw the same numbers in the same order.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from .. import _config
from .tape import B, Tensor


class SeedGenerator:
    """Hands out ``(seed, counter)`` pairs. ``seed=None`` takes one from the global generator."""

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = _global().next_seed()
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"A seed must be a non-negative int, got {seed!r}.")
        self.seed = int(seed)
        self.counter = 0

    def next(self) -> tuple[int, int]:
        c = self.counter
        self.counter += 1
        if _draw_hook is not None:  # a step being recorded marks the draw (``ops.replay``)
            return _draw_hook(self, self.seed, c)
        return self.seed, c

    def next_seed(self) -> int:
        """A derived seed for a child generator (the first 64-bit word of the next draw)."""
        seed, counter = self.next()
        from ..backends import philox  # host helper; the backends package may use numpy
        return int(philox.philox_words(seed, counter, 1)[0])


_GLOBAL: SeedGenerator | None = None
# Set by ``ops.replay`` while it records a step: called with (generator, seed, counter) at each
# draw, it returns the (seed, counter) to hand out.
_draw_hook: Any = None


def _global() -> SeedGenerator:
    global _GLOBAL
    if _GLOBAL is None:
        env = os.environ.get("LAMINA_SEED")
        seed = int(env) if env else int.from_bytes(os.urandom(8), "little")
        _GLOBAL = SeedGenerator.__new__(SeedGenerator)
        _GLOBAL.seed, _GLOBAL.counter = seed, 0
    return _GLOBAL


def set_random_seed(seed: int) -> None:
    """Make every later random draw (initial weights, dropout, shuffling) reproducible."""
    global _GLOBAL
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative int, got {seed!r}.")
    _GLOBAL = SeedGenerator.__new__(SeedGenerator)
    _GLOBAL.seed, _GLOBAL.counter = int(seed), 0


def global_generator() -> SeedGenerator:
    return _global()


def _draw(seed: Any) -> tuple[int, int]:
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        return _global().next()
    return int(seed), 0


def random_uniform(shape: Sequence[int], minval: float = 0.0, maxval: float = 1.0,
                   dtype: str | None = None, seed: Any = None) -> Tensor:
    s, c = _draw(seed)
    return Tensor(B().random_uniform(tuple(shape), s, c, dtype or _config.floatx(), minval, maxval))


def random_normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0,
                  dtype: str | None = None, seed: Any = None) -> Tensor:
    s, c = _draw(seed)
    return Tensor(B().random_normal(tuple(shape), s, c, dtype or _config.floatx(), mean, stddev))
