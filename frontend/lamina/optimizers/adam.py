"""``Adam`` (optionally AMSGrad)."""
from __future__ import annotations

import math
from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class Adam(Optimizer):
    """Adam with Keras' bias correction folded into the step size.

    ``alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)``; ``m += (g - m)(1 - b1)``; ``v += (g² - v)(1 - b2)``;
    ``p -= alpha * m / (sqrt(v) + epsilon)``.

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7 (``None`` means
        ``K.epsilon()``). amsgrad: False.
    """

    slot_names = ("m", "v", "vhat")

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = 1e-7, amsgrad: bool = False, name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "adam", **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon, self.amsgrad = resolve_epsilon(epsilon), bool(amsgrad)

    def _alpha(self, lr: float) -> float:
        t = self.iterations + 1
        return lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def update_step(self, grad, var, lr):
        vhat = self.slot(var, "vhat") if self.amsgrad else None
        ops.backend_object().adam_update(var.value, grad, self.slot(var, "m"), self.slot(var, "v"), vhat,
                                         self._alpha(lr), self.beta_1, self.beta_2, self.epsilon)

    def update_steps(self, grads, variables, lr):
        update_many = self._fused(Adam.update_step, "adam_update_many")
        if update_many is None:
            return super().update_steps(grads, variables, lr)
        vhats = [self.slot(v, "vhat") for v in variables] if self.amsgrad else None
        update_many(
            [v.value for v in variables], grads, [self.slot(v, "m") for v in variables],
            [self.slot(v, "v") for v in variables], vhats, self._alpha(lr), self.beta_1, self.beta_2,
            self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}
