"""``lamina.layers``: Keras layers by name."""
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .input_layer import Input, InputLayer
from .layer import Layer

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "Reshape", "get", "serialize"]


def _table() -> dict:
    return {name: globals()[name] for name in __all__ if isinstance(globals().get(name), type)}


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def get(class_name: str) -> type:
    table = _table()
    if class_name not in table:
        raise ValueError(f"Unknown layer class {class_name!r}; known layers are {', '.join(sorted(table))}. "
                         "Pass custom layers through custom_objects.")
    return table[class_name]
