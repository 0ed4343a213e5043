"""``Optimizer``: the shared machinery (learning rate and schedules, Keras 2 ``decay``,
gradient clipping, slot variables, constraints); subclasses write one update rule."""
from __future__ import annotations

import math
from typing import Any, Iterable

from .. import ops
from .._lookup import snake_case
from .schedules import LearningRateSchedule

_BASE_KWARGS = {"lr", "decay", "clipnorm", "clipvalue", "global_clipnorm", "name", "weight_decay"}


class Optimizer:
    """Base optimizer.

    Args:
        learning_rate: a float or a ``LearningRateSchedule`` (Keras 2 name: ``lr``).
        decay: Keras 2 time decay: the rate used at update ``t`` is ``lr / (1 + decay * t)``.
        clipnorm: clip each gradient to this L2 norm. clipvalue: clip each entry to ±value.
        global_clipnorm: clip all gradients together to this global norm.
        weight_decay: decoupled weight decay (``p -= lr * wd * p`` before the update).
    """

    def __init__(self, learning_rate: Any = 0.001, name: str | None = None, **kwargs: Any):
        unknown = set(kwargs) - _BASE_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}; check the spelling against the Keras documentation.")
        if "lr" in kwargs:  # Keras 2 spelling
            learning_rate = kwargs["lr"]
        self.name = name or snake_case(type(self).__name__)
        self.learning_rate = learning_rate
        self.decay = float(kwargs.get("decay") or 0.0)
        self.clipnorm = kwargs.get("clipnorm")
        self.clipvalue = kwargs.get("clipvalue")
        self.global_clipnorm = kwargs.get("global_clipnorm")
        self.weight_decay = kwargs.get("weight_decay")
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, (int, float)) or v <= 0):
                raise ValueError(f"{type(self).__name__} {key} must be a positive number, got {v!r}.")
        if self.decay < 0:
            raise ValueError(f"{type(self).__name__} decay must be >= 0, got {self.decay}.")
        self.iterations = 0
        self._slots: dict[int, dict[str, Any]] = {}

    # --- learning rate -----------------------------------------------------------------
    @property
    def learning_rate(self) -> Any:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, ops.Tensor):
            value = float(value)
        if not isinstance(value, LearningRateSchedule) and not callable(value):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{type(self).__name__} learning_rate must be a positive number or a "
                                 f"LearningRateSchedule, got {value!r}.")
            value = float(value)
        self._learning_rate = value

    lr = learning_rate  # Keras 2 attribute name

    def current_learning_rate(self) -> float:
        """The rate for the next update (schedule and Keras 2 decay applied)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = float(lr(self.iterations))
        elif callable(lr):  # Keras: a callable taking no arguments; one taking the step also works
            lr = float(lr() if _takes_no_arguments(lr) else lr(self.iterations))
        if self.decay:
            lr = lr / (1.0 + self.decay * self.iterations)
        return lr

    # --- slots -------------------------------------------------------------------------
    def slot(self, var: ops.Variable, name: str) -> Any:
        """A zero-initialised backend array shaped like ``var``, kept per variable."""
        slots = self._slots.setdefault(id(var), {})
        if name not in slots:
            slots[name] = ops.backend_object().zeros(var.shape, var.dtype)
        return slots[name]

    # --- applying ----------------------------------------------------------------------
    def _clip(self, grads: list[Any]) -> list[Any]:
        be = ops.backend_object()
        if self.clipvalue is not None:
            grads = [be.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            out = []
            for g in grads:
                norm = float(be.sqrt(be.sum(be.square(g))))
                out.append(be.multiply(g, self.clipnorm / norm) if norm > self.clipnorm else g)
            grads = out
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(be.sum(be.square(g))) for g in grads))
            if norm > self.global_clipnorm:
                grads = [be.multiply(g, self.global_clipnorm / norm) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, ops.Variable]]) -> None:
        """Update each variable in place from its gradient (``None`` gradients are skipped)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            return
        grads = [g.value if isinstance(g, ops.Tensor) else g for g, _ in pairs]
        grads = self._clip(grads)
        lr = self.current_learning_rate()
        be = ops.backend_object()
        for g, (_, var) in zip(grads, pairs):
            if self.weight_decay:
                be.assign(var.value, be.multiply(var.value, 1.0 - lr * self.weight_decay))
            self.update_step(g, var, lr)
            if var.constraint is not None:
                var.assign(var.constraint(var))
        self.iterations += 1

    def apply(self, grads: list[Any], variables: list[ops.Variable]) -> None:
        self.apply_gradients(zip(grads, variables))

    def update_step(self, grad: Any, var: ops.Variable, lr: float) -> None:
        raise NotImplementedError

    # --- config ------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):  # Keras' serialized form, so from_config can rebuild it
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        config = {"name": self.name, "learning_rate": lr}
        for key in ("decay", "clipnorm", "clipvalue", "global_clipnorm", "weight_decay"):
            if getattr(self, key):
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict) and "class_name" in lr:
            from . import schedules
            schedule_cls = getattr(schedules, lr["class_name"], None)
            if not (isinstance(schedule_cls, type) and issubclass(schedule_cls, LearningRateSchedule)):
                raise ValueError(f"Unknown learning-rate schedule {lr['class_name']!r} in the optimizer config.")
            config["learning_rate"] = schedule_cls(**lr.get("config", {}))
        return cls(**config)


def _takes_no_arguments(fn: Any) -> bool:
    import inspect
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in params)
