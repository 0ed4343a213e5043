"""Constraints applied to a weight after each optimizer update (Keras names)."""
from __future__ import annotations

from typing import Any

from . import ops
from ._lookup import resolve


class Constraint:
    def __call__(self, w: Any) -> ops.Tensor:
        return ops.convert_to_tensor(w)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Constraint":
        return cls(**config)


class MaxNorm(Constraint):
    """Rescale so the norm along ``axis`` is at most ``max_value``."""

    def __init__(self, max_value: float = 2.0, axis: int = 0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = ops.sqrt(ops.sum(ops.square(w), axis=self.axis, keepdims=True))
        desired = ops.clip(norms, 0.0, self.max_value)
        return ops.multiply(w, ops.divide(desired, ops.add(norms, 1e-7)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return ops.relu(w)


class UnitNorm(Constraint):
    def __init__(self, axis: int = 0):
        self.axis = axis

    def __call__(self, w):
        return ops.divide(w, ops.add(ops.sqrt(ops.sum(ops.square(w), axis=self.axis, keepdims=True)), 1e-7))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int = 0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = ops.sqrt(ops.sum(ops.square(w), axis=self.axis, keepdims=True))
        desired = ops.add(ops.multiply(ops.clip(norms, self.min_value, self.max_value), self.rate),
                          ops.multiply(norms, 1.0 - self.rate))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, 1e-7)))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_TABLE = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
          "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm,
          "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


def get(identifier: Any) -> Constraint | None:
    if identifier is None:
        return None
    if isinstance(identifier, Constraint):
        return identifier
    found = resolve("constraint", identifier, _TABLE)
    return found() if isinstance(found, type) else found


def serialize(c: Any) -> Any:
    if isinstance(c, Constraint):
        return {"class_name": type(c).__name__, "config": c.get_config()}
    return c
