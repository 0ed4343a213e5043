"""``clone_model``: the same architecture with new weights (Keras' ``keras.models.clone_model``)."""
from __future__ import annotations

from typing import Any, Callable

from ..layers.layer import Layer
from .model import Model
from .sequential import Sequential


def _layer_classes(model: Model) -> dict[str, type]:
    """Every layer class in the model by name, so custom layers come back without registration."""
    found: dict[str, type] = {}
    stack: list[Any] = list(model.layers)
    while stack:
        layer = stack.pop()
        found.setdefault(type(layer).__name__, type(layer))
        stack.extend(getattr(layer, "layers", []) or [])
    return found


def clone_model(model: Model, input_tensors: Any = None, clone_function: Callable[[Layer], Layer] | None = None) -> Model:
    """A new model with ``model``'s architecture and freshly initialised weights (not its weights:
    copy them with ``clone.set_weights(model.get_weights())``), uncompiled.

    Args:
        model: a ``Sequential`` or functional model (a subclassed one needs ``get_config`` and
            ``from_config``).
        input_tensors: not supported (Keras' option to rebuild the model on other inputs).
        clone_function: for a ``Sequential`` model, called on each layer to make its copy
            (default: ``layer.__class__.from_config(layer.get_config())``).

    Example:
        >>> target = clone_model(model)
        >>> target.set_weights(model.get_weights())
    """
    if not isinstance(model, Model):
        raise TypeError(f"clone_model expects a lamina Model, got {type(model).__name__}.")
    if input_tensors is not None:
        raise ValueError("clone_model(input_tensors=...) is not supported; clone the model, then call it on the "
                         "new inputs: outputs = clone_model(model)(new_inputs).")
    if clone_function is not None:
        if not isinstance(model, Sequential):
            raise ValueError("clone_model(clone_function=...) is supported for Sequential models; for a "
                             f"{type(model).__name__} model, clone it without one.")
        clone = Sequential([clone_function(layer) for layer in model.layers], name=model.name)
        if not clone.built and getattr(model, "_input_shape", None) is not None:
            clone.build(model._input_shape)  # the original's input (an Input first is not among its layers)
        return clone
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, dict):
        raise ValueError(f"clone_model cannot copy the subclassed model {type(model).__name__}: it has no "
                         "get_config(); define get_config/from_config, or build a new instance yourself.")
    return type(model).from_config(config, custom_objects=_layer_classes(model))
