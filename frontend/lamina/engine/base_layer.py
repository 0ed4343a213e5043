"""Keras 2's ``keras.engine.base_layer``."""
from .topology import Input, InputLayer, Layer

__all__ = ["Input", "InputLayer", "Layer"]
