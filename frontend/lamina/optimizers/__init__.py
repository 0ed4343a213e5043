"""``lamina.optimizers``: optimizers by Keras name.

``get`` accepts an ``Optimizer`` instance, a name (case-insensitive: ``"sgd"``, ``"rmsprop"``,
``"adagrad"``, ``"adadelta"``, ``"adam"``, ``"adamax"``, ``"nadam"``, ``"adamw"`` or the class
names), or a serialized dict ``{"class_name": ..., "config": {...}}`` as written by ``serialize``.
A name gives the optimizer with its default settings (see docs/keras-defaults.md for where the
defaults follow Keras 2 rather than Keras 3, e.g. Adadelta's learning rate of 1.0).
"""
from __future__ import annotations

from typing import Any, Mapping

from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .nadam import Nadam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Nadam", "Optimizer", "RMSprop", "SGD",
           "deserialize", "get", "schedules", "serialize"]

# Keras 2's lower-case aliases (``keras.optimizers.rmsprop(lr=1e-4, decay=1e-6)`` in its examples); they
# stand where the submodules' names would be, which nothing reads as modules.
sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam

_CLASSES: tuple[type[Optimizer], ...] = (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam, AdamW)
# Lower-cased class names are the Keras string identifiers ("sgd", "rmsprop", "adamw"…).
_TABLE: dict[str, type[Optimizer]] = {c.__name__.lower(): c for c in _CLASSES}


def _lookup(name: str, custom_objects: Mapping[str, Any] | None = None) -> type[Optimizer]:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    cls = _TABLE.get(name.lower())
    if cls is None:
        valid = ", ".join(sorted(_TABLE))
        raise ValueError(f"Unknown optimizer {name!r}; valid optimizer names are: {valid} (any case), or pass an "
                         "Optimizer instance.")
    return cls


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": "Adam", "config": {...}}``: JSON-ready and accepted by ``deserialize``/``get``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize() expects an Optimizer, got {type(optimizer).__name__}.")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Optimizer:
    """An optimizer from ``serialize``'s dict (or from a name); ``custom_objects`` maps class names of
    user-defined optimizers to their classes."""
    if isinstance(config, str):
        return _lookup(config, custom_objects)()
    if not isinstance(config, Mapping) or "class_name" not in config:
        raise TypeError(f"Could not interpret optimizer config {config!r}: expected a dict with 'class_name' and "
                        "'config', as written by lamina.optimizers.serialize().")
    cls = _lookup(config["class_name"], custom_objects)
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any, custom_objects: Mapping[str, Any] | None = None) -> Optimizer:
    """An optimizer instance for a name (``"sgd"``, ``"adam"``…), a serialized dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, (str, Mapping)):
        return deserialize(identifier, custom_objects)
    raise TypeError(f"Could not interpret optimizer {identifier!r}: expected a name such as 'adam', a config dict "
                    "or an Optimizer instance.")
