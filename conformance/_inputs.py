"""Input generators: value domains (where an op is defined and smooth) and memory layouts.

Values are drawn in float64, rounded to the tested dtype, and the reference is computed from
the rounded values widened back to float64 (exact), so only the op's own error is measured.
Every generator is deterministic: a test seeds its ``numpy.random.Generator`` from its name.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def rng_for(*parts: Any) -> np.random.Generator:
    """A generator seeded from the test's identity, so failures reproduce exactly."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


# --- value domains --------------------------------------------------------------------------
# A domain is ``sample(rng, shape) -> float64 array``; the caller casts to the dtype.

Domain = Callable[[np.random.Generator, tuple], np.ndarray]


def real(lo: float = -3.0, hi: float = 3.0) -> Domain:
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def log_uniform(lo: float, hi: float) -> Domain:
    """Positive values spread over decades (log, sqrt: test small and large alike)."""
    return lambda rng, shape: np.exp(rng.uniform(np.log(lo), np.log(hi), shape))


def signed_log_uniform(lo: float, hi: float) -> Domain:
    """|x| spread over decades with random sign (expm1/log1p near 0 must stay relative-accurate)."""
    def sample(rng, shape):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), shape)) * rng.choice([-1.0, 1.0], shape)
    return sample


def away_from(base: Domain, points: tuple[float, ...], margin: float) -> Domain:
    """``base`` with values closer than ``margin`` to a kink pushed to ``point ± margin``
    (finite differences and the reference's branch choice both need distance from kinks)."""
    def sample(rng, shape):
        x = np.asarray(base(rng, shape), dtype=np.float64)
        for p in points:
            near = np.abs(x - p) < margin
            x = np.where(near, p + np.where(x >= p, margin, -margin), x)
        return x
    return sample


def halves(rng, shape):
    """Multiples of 0.5 and 0.25 mixed with random values: exercises round-half-to-even, floor."""
    pick = rng.integers(0, 3, shape)
    return np.where(pick == 0, rng.integers(-8, 9, shape) * 0.5,
                    np.where(pick == 1, rng.integers(-16, 17, shape) * 0.25, rng.uniform(-5, 5, shape)))


def with_zeros(base: Domain) -> Domain:
    def sample(rng, shape):
        x = base(rng, shape)
        return np.where(rng.random(shape) < 0.2, 0.0, x)
    return sample


def with_specials(base: Domain) -> Domain:
    """``base`` with some +inf, -inf and NaN mixed in (isfinite, comparisons)."""
    def sample(rng, shape):
        x = np.asarray(base(rng, shape), dtype=np.float64)
        r = rng.random(shape)
        x = np.where(r < 0.1, np.inf, x)
        x = np.where((r >= 0.1) & (r < 0.2), -np.inf, x)
        return np.where((r >= 0.2) & (r < 0.3), np.nan, x)
    return sample


def ties(rng, shape):
    """Small integers as floats: comparisons see many equal pairs."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def distinct(rng, shape):
    """Values that are pairwise at least 0.1 apart (no ties for max/argmax gradients)."""
    n = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.02, n) - n * 0.05).reshape(shape)


def nonzero_factor(rng, shape):
    """Magnitudes in [0.5, 1.5] with random signs: products of many stay representable."""
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def sample(domain: Domain, rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(domain(rng, tuple(shape)), dtype=np.float64).astype(dtype)


# --- memory layouts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How an input array is laid out in memory.

    The base array of ``base_shape`` is created contiguously on the backend, then transposed
    (``transpose=True``, through ``backend.transpose``) and/or sliced with ``key`` (native
    basic slicing, which every array-API array supports) to make a non-contiguous view. The
    host reference applies the same steps to the host copy.
    """

    name: str
    base_shape: tuple
    transpose: bool = False
    key: Any = None

    def host(self, a: np.ndarray) -> np.ndarray:
        v = a.T if self.transpose else a
        return v[self.key] if self.key is not None else v

    def device(self, be: Any, a: Any) -> Any:
        v = be.transpose(a) if self.transpose else a
        return v[self.key] if self.key is not None else v

    @property
    def shape(self) -> tuple:
        return self.host(np.empty(self.base_shape)).shape

    def make(self, be: Any, domain: Domain, rng: np.random.Generator, dtype: str) -> tuple[Any, np.ndarray]:
        """(backend array, host array with the same values)."""
        base = sample(domain, rng, self.base_shape, dtype)
        return self.device(be, be.asarray(base)), self.host(base)


STRIDED = (slice(None), slice(None, None, 2))

UNARY_LAYOUTS = (
    Layout("0-d", ()),
    Layout("empty", (0,)),
    Layout("empty-3d", (2, 0, 3)),
    Layout("vector", (7,)),
    Layout("matrix", (3, 5)),
    Layout("3-d", (2, 3, 4)),
    Layout("transposed", (5, 3), transpose=True),
    Layout("strided", (4, 10), key=STRIDED),
    Layout("reversed", (9,), key=slice(None, None, -1)),
)

SCALAR = "python-scalar"


@dataclass(frozen=True)
class PairLayout:
    name: str
    a: Any  # Layout or SCALAR
    b: Any


BINARY_LAYOUTS = (
    PairLayout("same-shape", Layout("a", (3, 4)), Layout("b", (3, 4))),
    PairLayout("broadcast", Layout("a", (3, 1)), Layout("b", (1, 4))),
    PairLayout("broadcast-rank", Layout("a", (2, 3, 4)), Layout("b", (4,))),
    PairLayout("0-d", Layout("a", ()), Layout("b", ())),
    PairLayout("0-d-with-vector", Layout("a", ()), Layout("b", (5,))),
    PairLayout("empty", Layout("a", (0, 3)), Layout("b", (1, 3))),
    PairLayout("non-contiguous", Layout("a", (4, 3), transpose=True), Layout("b", (3, 8), key=STRIDED)),
    PairLayout("scalar-second", Layout("a", (2, 3)), SCALAR),
    PairLayout("scalar-first", SCALAR, Layout("b", (2, 3))),
)


def make_operand(layout: Any, be: Any, domain: Domain, rng: np.random.Generator, dtype: str):
    """(backend operand, host operand with the same values in ``dtype``).

    A Python scalar is drawn from the domain, rounded to ``dtype`` (weak typing: the backend
    computes with the dtype's nearest value), and passed as a Python float.
    """
    if layout == SCALAR:
        v = float(sample(domain, rng, (), dtype))
        return v, np.asarray(v, dtype=dtype)
    dev, host = layout.make(be, domain, rng, dtype)
    return dev, host
