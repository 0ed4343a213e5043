"""Weight initializers with Keras names and defaults.

Initial weights are drawn on the host from the Philox stream and then uploaded, so every
backend starts from identical weights for the same seed. (Host-side module: uses NumPy.)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _config
from ._lookup import resolve, snake_case
from .backends import philox
from .ops.random import global_generator


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])  # kernels are (*spatial, in, out)
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class Initializer:
    """Base class: ``init(shape, dtype) -> host array``; ``get_config`` round-trips."""

    def __call__(self, shape: Any, dtype: str | None = None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = seed

    def _draw(self) -> tuple[int, int]:
        # A seeded initializer gives the same values on every call, as in Keras 3.
        return (int(self.seed), 0) if self.seed is not None else global_generator().next()

    def get_config(self) -> dict:
        return {"seed": self.seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(tuple(shape), dtype=dtype or _config.floatx())


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(tuple(shape), dtype=dtype or _config.floatx())


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(tuple(shape), self.value, dtype=dtype or _config.floatx())

    def get_config(self):
        return {"value": self.value}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        s, c = self._draw()
        return philox.host_uniform(s, c, tuple(shape), dtype or _config.floatx(), self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        s, c = self._draw()
        return philox.host_normal(s, c, tuple(shape), dtype or _config.floatx(), self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated_normal(seed: int, counter: int, shape: tuple[int, ...], stddev: float) -> np.ndarray:
    """Standard normal values outside [-2, 2] redrawn (from later words of the same draw)."""
    n = math.prod(shape)
    out = np.empty(n)
    filled, block = 0, 0
    while filled < n:
        words = philox.philox_words(seed, counter, 2 * (n - filled) + 8, first_block=block)
        block += len(words) // 4
        z = philox.normal_from_words(words, "float64")
        z = z[np.abs(z) <= 2.0][: n - filled]
        out[filled:filled + len(z)] = z
        filled += len(z)
    return (out * stddev).reshape(shape)


class TruncatedNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        s, c = self._draw()
        z = _truncated_normal(s, c, tuple(shape), self.stddev) + self.mean
        return z.astype(dtype or _config.floatx())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(_Seeded):
    """Scale / fan, drawn from a truncated normal, an untruncated normal or a uniform."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling scale must be positive, got {scale}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}.")
        if distribution == "normal":  # Keras 2 spelling
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling distribution must be 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform', got {distribution!r}.")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        dtype = dtype or _config.floatx()
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        s, c = self._draw()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return philox.host_uniform(s, c, shape, dtype, -limit, limit)
        if self.distribution == "untruncated_normal":
            return philox.host_normal(s, c, shape, dtype, 0.0, math.sqrt(variance))
        # 0.8796... is the stddev of a unit normal truncated to [-2, 2].
        return _truncated_normal(s, c, shape, math.sqrt(variance) / 0.87962566103423978).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _preset(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed: int | None = None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"VarianceScaling({scale}, {mode!r}, {distribution!r})."})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {shape}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        s, c = self._draw()
        a = philox.host_normal(s, c, (max(rows, cols), min(rows, cols)), "float64")
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        # C order: a transposed q would stay column-major, and BLAS is several times slower on it.
        return np.ascontiguousarray((self.gain * q[:rows, :cols]).reshape(shape), dtype=dtype or _config.floatx())

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape, got {tuple(shape)}.")
        return (self.gain * np.eye(*shape)).astype(dtype or _config.floatx())

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = [Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity]
_TABLE: dict[str, Any] = {c.__name__: c for c in _CLASSES}
_TABLE.update({snake_case(c.__name__): c for c in _CLASSES})
_TABLE.update({"zero": Zeros, "one": Ones, "uniform": RandomUniform, "normal": RandomNormal,
               "identity": Identity, "orthogonal": Orthogonal})

# Keras-style lowercase aliases usable as functions/classes.
zeros, ones, constant = Zeros, Ones, Constant
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal


def get(identifier: Any) -> Initializer:
    if identifier is None:
        return Zeros()
    if isinstance(identifier, Initializer):
        return identifier
    found = resolve("initializer", identifier, _TABLE)
    if isinstance(found, type):
        return found()
    return found


def serialize(init: Any) -> Any:
    if isinstance(init, Initializer):
        return {"class_name": type(init).__name__, "config": init.get_config()}
    return init
