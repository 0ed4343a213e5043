"""Weight penalties added to the loss: L1, L2, L1L2 (Keras names and defaults)."""
from __future__ import annotations

from typing import Any

from . import ops
from ._lookup import resolve


class Regularizer:
    def __call__(self, x: Any) -> ops.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x²)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = ops.multiply(ops.sum(ops.abs(x)), self.l1)
        if self.l2:
            term = ops.multiply(ops.sum(ops.square(x)), self.l2)
            total = term if total is None else ops.add(total, term)
        return total if total is not None else ops.zeros(())

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:  # noqa: D103 - Keras 2 function form
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1, l2)


_TABLE = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)}


def get(identifier: Any) -> Regularizer | None:
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    found = resolve("regularizer", identifier, _TABLE)
    return found() if isinstance(found, type) or getattr(found, "__name__", "") == "<lambda>" else found


def serialize(reg: Any) -> Any:
    if isinstance(reg, Regularizer):
        return {"class_name": type(reg).__name__, "config": reg.get_config()}
    return reg
