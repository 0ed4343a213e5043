"""``SGD`` with momentum, Nesterov momentum and Keras 2's ``decay``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent.

    ``v = momentum * v - lr * g``; then ``p += momentum * v - lr * g`` (Nesterov) or ``p += v``.

    Args:
        learning_rate: default 0.01 (``lr`` accepted).
        momentum: default 0.0. nesterov: default False.
        decay, clipnorm, clipvalue: see ``Optimizer``.

    Example:
        >>> SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "sgd", **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD momentum must be in [0, 1], got {momentum}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def update_step(self, grad, var, lr):
        velocity = self.slot(var, "momentum") if self.momentum else None
        ops.backend_object().sgd_update(var.value, grad, velocity, lr, self.momentum, self.nesterov)

    def update_steps(self, grads, variables, lr):
        update_many = self._fused(SGD.update_step, "sgd_update_many")
        if update_many is None:
            return super().update_steps(grads, variables, lr)
        velocities = [self.slot(v, "momentum") for v in variables] if self.momentum else None
        update_many([v.value for v in variables], grads, velocities, lr, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
