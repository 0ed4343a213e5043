"""Keras 2's ``keras.engine.topology``."""
from ..layers.input_layer import Input, InputLayer
from ..layers.layer import Layer

__all__ = ["Input", "InputLayer", "Layer"]
