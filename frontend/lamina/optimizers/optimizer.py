"""``Optimizer``: the shared machinery (learning rate and schedules, Keras 2 ``decay``,
gradient clipping, slot variables, constraints); subclasses write one update rule."""
from __future__ import annotations

import math
from typing import Any, Iterable

from .. import ops
from .._lookup import snake_case
from .schedules import LearningRateSchedule

# Keys tf.keras 2 / Keras 3 write into optimizer configs that carry no meaning here.
_FOREIGN_KEYS = ("use_ema", "ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer",
                 "loss_scale_factor", "gradient_accumulation_steps", "module", "registered_name")
_BASE_KWARGS = {"lr", "decay", "clipnorm", "clipvalue", "global_clipnorm", "name", "weight_decay"}


class Optimizer:
    """Base optimizer.

    Args:
        learning_rate: a float or a ``LearningRateSchedule`` (Keras 2 name: ``lr``).
        decay: Keras 2 time decay: the rate used at update ``t`` is ``lr / (1 + decay * t)``.
        clipnorm: clip each gradient to this L2 norm. clipvalue: clip each entry to ±value.
        global_clipnorm: clip all gradients together to this global norm.
        weight_decay: decoupled weight decay (``p -= lr * wd * p`` before the update, as Keras 3
            applies it).

    Saving and restoring the optimizer's state (for ``model.save``/``load_model``):

    * ``get_slot_state(variables)`` returns a dict, in a deterministic order, of host values:
      ``"iterations"`` (int), any optimizer-wide scalars (e.g. Nadam's ``"u_product"``, a float),
      and one entry per slot named ``"slot/<i>/<slot name>"`` (a host ``numpy.ndarray`` shaped
      like the variable), where ``<i>`` is the position of the variable in ``variables``. Keys are
      ordered by variable index, then slot name, so the same model gives the same key order.
    * ``set_slot_state(variables, state)`` puts such a dict back (arrays are copied onto the
      device in each variable's dtype); the next update continues exactly where the saved
      optimizer stopped. Pass the variables in the same order both times (``model.trainable_weights``).
    """

    slot_names: tuple[str, ...] = ()
    """The slots this optimizer keeps per variable (informative; slots are made on first use)."""
    scalar_state: tuple[str, ...] = ()
    """Attributes holding optimizer-wide numbers that are part of the saved state."""

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
        if self.weight_decay is not None and (isinstance(self.weight_decay, bool)
                                              or not isinstance(self.weight_decay, (int, float))
                                              or self.weight_decay < 0):
            raise ValueError(f"{type(self).__name__} weight_decay must be a number >= 0, got {self.weight_decay!r}.")
        if self.decay < 0:
            raise ValueError(f"{type(self).__name__} decay must be >= 0, got {self.decay}.")
        self.iterations = 0
        self._slots: dict[int, dict[str, Any]] = {}
        self._slot_owners: dict[int, ops.Variable] = {}  # keeps ids stable while slots exist
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()

    # --- learning rate -----------------------------------------------------------------
    @property
    def learning_rate(self) -> Any:
        lr = self._learning_rate
        return _LearningRate(lr, self) if type(lr) is float else lr

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
    def slot(self, var: ops.Variable, name: str, initial_value: float = 0.0) -> Any:
        """A backend array shaped like ``var`` (filled with ``initial_value`` when first made), kept
        per variable."""
        slots = self._slots.setdefault(id(var), {})
        if name not in slots:
            be = ops.backend_object()
            slots[name] = (be.zeros(var.shape, var.dtype) if initial_value == 0.0
                           else be.full(var.shape, initial_value, var.dtype))
            self._slot_owners[id(var)] = var
        return slots[name]

    def get_slot_state(self, variables: list[ops.Variable]) -> dict[str, Any]:
        """The optimizer's state for ``variables`` as host values (see the class docstring).

        Returns ``{"iterations": int, <scalar_state names>: float, "slot/<i>/<name>": ndarray, ...}``.
        Variables the optimizer has not updated yet have no slot entries.
        """
        be = ops.backend_object()
        state: dict[str, Any] = {"iterations": int(self.iterations)}
        for key in self.scalar_state:
            state[key] = float(getattr(self, key))
        for i, var in enumerate(variables):
            slots = self._slots.get(id(var), {})
            for name in sorted(slots):
                state[f"slot/{i}/{name}"] = be.to_numpy(be.copy(slots[name]))
        return state

    def set_slot_state(self, variables: list[ops.Variable], state: dict[str, Any]) -> None:
        """Restore a state made by ``get_slot_state`` for the same variables, in the same order.

        Raises ``ValueError`` naming the entry when a slot refers to a variable index that does not
        exist or has a different shape from its variable.
        """
        be = ops.backend_object()
        if "iterations" not in state:
            raise ValueError(f"{type(self).__name__}.set_slot_state: the state has no 'iterations' entry; "
                             "pass a dict made by get_slot_state().")
        new_slots: dict[int, dict[str, Any]] = {}
        for key, value in state.items():
            if not key.startswith("slot/"):
                continue
            _, index, name = key.split("/", 2)
            i = int(index)
            if not 0 <= i < len(variables):
                raise ValueError(f"{type(self).__name__}.set_slot_state: entry {key!r} refers to variable {i}, "
                                 f"but {len(variables)} variables were given; pass the same variables, in the "
                                 "same order, as when the state was saved.")
            var = variables[i]
            shape = tuple(getattr(value, "shape", ()))
            if shape != tuple(var.shape):
                raise ValueError(f"{type(self).__name__}.set_slot_state: entry {key!r} has shape {shape} but "
                                 f"variable {i} ({var.name!r}) has shape {tuple(var.shape)}; the saved optimizer "
                                 "state belongs to a different model.")
            new_slots.setdefault(id(var), {})[name] = be.copy(be.asarray(value, dtype=var.dtype))
        self.iterations = int(state["iterations"])
        for key in self.scalar_state:
            if key in state:
                setattr(self, key, float(state[key]))
        for i, var in enumerate(variables):
            self._slots.pop(id(var), None)
            if id(var) in new_slots:
                self._slots[id(var)] = new_slots[id(var)]
                self._slot_owners[id(var)] = var

    # --- weight decay ------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list: list[ops.Variable] | None = None,
                                  var_names: list[str] | None = None) -> None:
        """Keras 3: skip weight decay for these variables, or for variables whose name contains
        one of ``var_names``."""
        self._exclude_ids |= {id(v) for v in (var_list or [])}
        self._exclude_names = tuple(self._exclude_names) + tuple(var_names or ())

    def _decays(self, var: ops.Variable) -> bool:
        if not self.weight_decay or id(var) in self._exclude_ids:
            return False
        return not any(n in getattr(var, "name", "") for n in self._exclude_names)

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
        be = ops.backend_object()
        # a host array (NumPy, a list) given on a GPU backend goes to the device first
        grads = [g.value if isinstance(g, ops.Tensor) else g if be.is_array(g) else be.asarray(g) for g, _ in pairs]
        grads = self._clip(grads)
        lr = self.current_learning_rate()
        self._prepare_step()
        variables = [var for _, var in pairs]
        if len({id(v) for v in variables}) == len(variables):
            # Each variable's decay, update and constraint touch only that variable, so doing each
            # stage for all of them at once (one fused update) gives the per-variable results.
            for var in variables:
                self._decay(var, lr, be)
            self.update_steps(grads, variables, lr)
            for var in variables:
                self._constrain(var)
        else:  # a variable listed twice: each entry's decay, update and constraint in turn
            for g, var in zip(grads, variables):
                self._decay(var, lr, be)
                self.update_step(g, var, lr)
                self._constrain(var)
        self.iterations += 1

    def _decay(self, var: ops.Variable, lr: float, be: Any) -> None:
        if self._decays(var):  # Keras 3: p -= p * wd * lr, before the update rule
            be.subtract(var.value, be.multiply(var.value, lr * self.weight_decay), out=var.value)

    @staticmethod
    def _constrain(var: ops.Variable) -> None:
        if var.constraint is not None:
            var.assign(var.constraint(var))

    def apply(self, grads: list[Any], variables: list[ops.Variable]) -> None:
        self.apply_gradients(zip(grads, variables))

    def _prepare_step(self) -> None:
        """Called once per ``apply_gradients`` before the per-variable updates (Nadam's schedule)."""

    def update_step(self, grad: Any, var: ops.Variable, lr: float) -> None:
        """Update ``var.value`` in place from the backend array ``grad`` at rate ``lr``."""
        raise NotImplementedError

    def update_steps(self, grads: list[Any], variables: list[ops.Variable], lr: float) -> None:
        """Update every variable from its gradient; by default one ``update_step`` each. The
        optimizers with a fused backend update (SGD, Adam, RMSprop) do all of them in one call.
        ``apply_gradients`` calls it with distinct variables only (a fused launch would update a
        variable listed twice in parallel, not twice in turn)."""
        for g, var in zip(grads, variables):
            self.update_step(g, var, lr)

    def _fused(self, own_step: Any, op: str) -> Any:
        """The backend's ``op`` (e.g. ``"sgd_update_many"``) when ``update_steps`` may hand all
        variables to it in one call, else None: ``update_step`` is still ``own_step`` (not
        replaced by a subclass or on the instance), and the backend has the op (a protocol
        implementation that does not derive from ``ArrayBackend`` may lack it)."""
        if getattr(self.update_step, "__func__", None) is not own_step:
            return None
        return getattr(ops.backend_object(), op, None)

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
        """Rebuild from ``get_config()``; also reads tf.keras 2 and Keras 3 configs, whose extra
        bookkeeping keys (``use_ema``, ``jit_compile``, ``is_legacy_optimizer``…) are dropped."""
        config = dict(config)
        for key in _FOREIGN_KEYS:
            value = config.pop(key, None)
            if key in ("use_ema", "gradient_accumulation_steps", "loss_scale_factor") and value:
                import warnings
                warnings.warn(f"{cls.__name__}.from_config: {key}={value!r} is not supported by Lamina and is "
                              "ignored.", stacklevel=2)
        lr = config.get("learning_rate")
        if isinstance(lr, dict) and "class_name" in lr:
            from . import schedules
            schedule_cls = getattr(schedules, lr["class_name"], None)
            if not (isinstance(schedule_cls, type) and issubclass(schedule_cls, LearningRateSchedule)):
                raise ValueError(f"Unknown learning-rate schedule {lr['class_name']!r} in the optimizer config.")
            schedule_config = {k: v for k, v in (lr.get("config") or {}).items() if k != "name"}  # Keras 3 adds name
            config["learning_rate"] = schedule_cls(**schedule_config)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


def resolve_epsilon(epsilon: float | None) -> float:
    """Keras 2 wrote ``epsilon=None`` for "use ``K.epsilon()``"."""
    if epsilon is None:
        from .. import _config
        return float(_config.epsilon())
    return float(epsilon)


def _takes_no_arguments(fn: Any) -> bool:
    import inspect
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in params)


class _LearningRate(float):
    """What ``optimizer.learning_rate`` (``lr``) returns for a fixed rate: the number, which also
    takes Keras 2's ``K.set_value(model.optimizer.lr, 0.001)`` (there the rate is a variable) by
    setting the optimizer's rate."""

    def __new__(cls, value: float, optimizer: "Optimizer") -> "_LearningRate":
        out = super().__new__(cls, value)
        out._optimizer = optimizer
        return out

    def assign(self, value: Any) -> None:
        self._optimizer.learning_rate = value

    def numpy(self) -> float:
        return float(self)

    def __reduce__(self) -> tuple:  # pickles (and copies) as the plain number
        return (float, (float(self),))
