"""``Adamax``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class Adamax(Optimizer):
    """Adam with the infinity norm (Kingma & Ba, section 7), Keras' formulation.

    ``m += (g - m)(1 - b1)``; ``u = max(b2 u, |g|)``; ``p -= lr m / ((1 - b1^t)(u + eps))``.

    Args:
        learning_rate: default 0.001 (standalone Keras 2.2: 0.002). beta_1: 0.9. beta_2: 0.999.
        epsilon: 1e-7 (``None`` means ``K.epsilon()``).
    """

    slot_names = ("m", "u")

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = 1e-7, name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "adamax", **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = resolve_epsilon(epsilon)

    def update_step(self, grad, var, lr):
        be = ops.backend_object()
        p = var.value
        t = self.iterations + 1
        m, u = self.slot(var, "m"), self.slot(var, "u")
        be.add(m, be.multiply(be.subtract(grad, m), 1.0 - self.beta_1), out=m)
        be.assign(u, be.maximum(be.multiply(u, self.beta_2), be.abs(grad)))
        denom = be.multiply(be.add(u, self.epsilon), 1.0 - self.beta_1 ** t)
        be.subtract(p, be.divide(be.multiply(m, lr), denom), out=p)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
