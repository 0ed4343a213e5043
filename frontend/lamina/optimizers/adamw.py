"""``AdamW``: Adam with decoupled weight decay."""
from __future__ import annotations

from typing import Any

from .adam import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as Keras 3 applies it.

    Before each Adam step ``p -= lr * weight_decay * p`` (``lr`` after schedules and ``decay``);
    the decay never enters the moment estimates. ``exclude_from_weight_decay(var_list, var_names)``
    exempts variables (biases, normalisation scales…).

    Args:
        learning_rate: 0.001. weight_decay: 0.004. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
        amsgrad: False.
    """

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float | None = 1e-7, amsgrad: bool = False,
                 name: str | None = None, **kwargs: Any):
        if weight_decay is None or isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) \
                or weight_decay < 0:
            raise ValueError(f"AdamW weight_decay must be a number >= 0, got {weight_decay!r}.")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         name=name or "adamw", weight_decay=float(weight_decay), **kwargs)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}
