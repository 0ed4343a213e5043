"""``Nadam``."""
from __future__ import annotations

from typing import Any

from .. import ops
from .optimizer import Optimizer, resolve_epsilon


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016), Keras 3's formulation.

    With ``t`` the 1-based step, ``mu_t = b1 (1 - 0.5 * 0.96^t)`` (the momentum cache) and
    ``U_t = mu_1 ... mu_t`` (the ``u_product``, kept across steps)::

        m += (g - m)(1 - b1);  v += (g² - v)(1 - b2)
        m_hat = mu_{t+1} m / (1 - U_t mu_{t+1}) + (1 - mu_t) g / (1 - U_t)
        v_hat = v / (1 - b2^t)
        p -= lr m_hat / (sqrt(v_hat) + eps)

    Args:
        learning_rate: default 0.001 (standalone Keras 2.2: 0.002). beta_1: 0.9. beta_2: 0.999.
        epsilon: 1e-7 (``None`` means ``K.epsilon()``).
        schedule_decay: Keras 2 only. When given, the cache uses ``0.96^(t * schedule_decay)`` as
            Keras 2 did (its default was 0.004); left ``None`` it follows Keras 3 (``0.96^t``).
    """

    slot_names = ("m", "v")
    scalar_state = ("u_product",)

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = 1e-7, schedule_decay: float | None = None, name: str | None = None,
                 **kwargs: Any):
        super().__init__(learning_rate, name=name or "nadam", **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = resolve_epsilon(epsilon)
        self.schedule_decay = None if schedule_decay is None else float(schedule_decay)
        self.u_product = 1.0

    def _momentum_cache(self, step: int) -> float:
        exponent = step if self.schedule_decay is None else step * self.schedule_decay
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** exponent)

    def _prepare_step(self) -> None:
        self.u_product *= self._momentum_cache(self.iterations + 1)

    def update_step(self, grad, var, lr):
        be = ops.backend_object()
        p = var.value
        t = self.iterations + 1
        u_t, u_next = self._momentum_cache(t), self._momentum_cache(t + 1)
        u_product_t = self.u_product
        u_product_next = u_product_t * u_next
        m, v = self.slot(var, "m"), self.slot(var, "v")
        be.add(m, be.multiply(be.subtract(grad, m), 1.0 - self.beta_1), out=m)
        be.add(v, be.multiply(be.subtract(be.square(grad), v), 1.0 - self.beta_2), out=v)
        m_hat = be.add(be.multiply(m, u_next / (1.0 - u_product_next)),
                       be.multiply(grad, (1.0 - u_t) / (1.0 - u_product_t)))
        denom = be.add(be.sqrt(be.divide(v, 1.0 - self.beta_2 ** t)), self.epsilon)
        be.subtract(p, be.divide(be.multiply(m_hat, lr), denom), out=p)

    def get_config(self):
        config = {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
        if self.schedule_decay is not None:
            config["schedule_decay"] = self.schedule_decay
        return config
