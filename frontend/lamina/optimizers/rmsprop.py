"""``RMSprop``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class RMSprop(Optimizer):
    """Divides the gradient by a running root mean square.

    ``v = rho * v + (1 - rho) * g²``; ``p -= lr * g / sqrt(v + epsilon)`` (Keras 3's form).

    Args:
        learning_rate: default 0.001. rho: default 0.9. epsilon: default 1e-7 (``None`` means
        ``K.epsilon()``).
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, epsilon: float | None = 1e-7,
                 name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "rmsprop", **kwargs)
        self.rho, self.epsilon = float(rho), resolve_epsilon(epsilon)

    def update_step(self, grad, var, lr):
        ops.backend_object().rmsprop_update(var.value, grad, self.slot(var, "velocity"), lr, self.rho, self.epsilon)

    def update_steps(self, grads, variables, lr):
        update_many = self._fused(RMSprop.update_step, "rmsprop_update_many")
        if update_many is None:
            return super().update_steps(grads, variables, lr)
        update_many([v.value for v in variables], grads, [self.slot(v, "velocity") for v in variables], lr,
                    self.rho, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
