"""``Adadelta``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012), Keras' formulation.

    ``a = rho a + (1 - rho) g²``; ``d = g sqrt(D + eps) / sqrt(a + eps)``;
    ``D = rho D + (1 - rho) d²``; ``p -= lr * d``.

    Args:
        learning_rate: default **1.0**, Keras 2's value, so that classic Keras 2 scripts that write
            ``Adadelta()`` or ``optimizer='adadelta'`` (the mnist_cnn example: 99.25 % after 12 epochs)
            train as documented. Keras 3 (and tf.keras 2) default to 0.001, with which those scripts
            barely move; pass ``learning_rate=0.001`` for Keras 3 behaviour. See docs/keras-defaults.md.
        rho: default 0.95. epsilon: default 1e-7 (``None`` means ``K.epsilon()``).
        decay, clipnorm, clipvalue, global_clipnorm, weight_decay: see ``Optimizer``.
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate: Any = 1.0, rho: float = 0.95, epsilon: float | None = 1e-7,
                 name: str | None = None, **kwargs: Any):
        super().__init__(learning_rate, name=name or "adadelta", **kwargs)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta rho must be in [0, 1], got {rho}.")
        self.rho = float(rho)
        self.epsilon = resolve_epsilon(epsilon)

    def update_step(self, grad, var, lr):
        ops.backend_object().adadelta_update(var.value, grad, self.slot(var, "accumulated_grad"),
                                             self.slot(var, "accumulated_delta_var"), lr, self.rho, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
