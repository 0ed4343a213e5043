"""One optimizer step by rule name on any backend, for the tests of the fused updates (here and in
tests/): the same dispatch serves one parameter (``*_update``) and lists of them (``*_update_many``)."""
from __future__ import annotations

from typing import Any

RULES = ("sgd", "momentum", "nesterov", "adam", "amsgrad", "rmsprop")


def apply_update(backend: Any, rule: str, p: Any, g: Any, a: Any, b: Any, c: Any, many: bool = False,
                 lr: float = 0.01, epsilon: float = 1e-7) -> None:
    """Step ``rule`` on ``p`` with gradient ``g`` and states ``a`` (velocity / m), ``b`` (v; RMSprop's
    velocity) and ``c`` (AMSGrad's vhat): arrays, or with ``many`` lists of them for ``*_update_many``.
    Adam and RMSprop take ``lr / 10``."""
    if rule in ("sgd", "momentum", "nesterov"):
        velocity, momentum = (None, 0.0) if rule == "sgd" else (a, 0.9)
        update = backend.sgd_update_many if many else backend.sgd_update
        update(p, g, velocity, lr, momentum, rule == "nesterov")
    elif rule in ("adam", "amsgrad"):
        update = backend.adam_update_many if many else backend.adam_update
        update(p, g, a, b, c if rule == "amsgrad" else None, lr / 10, 0.9, 0.999, epsilon)
    elif rule == "rmsprop":
        update = backend.rmsprop_update_many if many else backend.rmsprop_update
        update(p, g, b, lr / 10, 0.9, epsilon)
    else:
        raise ValueError(f"unknown rule {rule!r}; one of {RULES}")
