"""``Adagrad``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class Adagrad(Optimizer):
    """Per-parameter rates scaled by the accumulated squared gradients (Keras 3's form).

    ``a += g²``; ``p -= lr * g / sqrt(a + epsilon)``, with ``a`` starting at
    ``initial_accumulator_value``.

    Args:
        learning_rate: default 0.001 (Keras 3 and tf.keras 2; standalone Keras 2.2 used 0.01 and
            started the accumulator at 0 — pass ``lr=0.01, initial_accumulator_value=0.0`` for that).
        initial_accumulator_value: default 0.1. epsilon: default 1e-7 (``None`` means ``K.epsilon()``).
        decay, clipnorm, clipvalue, global_clipnorm, weight_decay: see ``Optimizer``.
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float | None = 1e-7, name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "adagrad", **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad initial_accumulator_value must be >= 0, got {initial_accumulator_value}.")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = resolve_epsilon(epsilon)

    def update_step(self, grad, var, lr):
        be = ops.backend_object()
        p = var.value
        acc = self.slot(var, "accumulator", self.initial_accumulator_value)
        be.add(acc, be.square(grad), out=acc)
        be.subtract(p, be.divide(be.multiply(grad, lr), be.sqrt(be.add(acc, self.epsilon))), out=p)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
