"""``lamina.optimizers``: optimizers by Keras name."""
from typing import Any

from .._lookup import resolve
from . import schedules
from .adam import Adam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "RMSprop", "SGD", "get", "schedules"]

_TABLE = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "SGD": SGD, "RMSprop": RMSprop, "Adam": Adam}


def get(identifier: Any) -> Optimizer:
    """An optimizer instance for a name (``"sgd"``, ``"adam"``…) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _TABLE:
        return _TABLE[identifier.lower()]()
    if isinstance(identifier, str):
        valid = ", ".join(sorted({k.lower() for k in _TABLE}))
        raise ValueError(f"Unknown optimizer {identifier!r}; valid optimizer names are: {valid}.")
    found = resolve("optimizer", identifier, _TABLE, allow_callable=False)
    return found() if isinstance(found, type) else found
