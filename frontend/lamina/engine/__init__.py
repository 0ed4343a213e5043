"""Keras 2's ``keras.engine`` paths (``from keras.engine.topology import Layer`` in its custom-layer
guide): the same classes as ``lamina.layers``."""
from ..layers.input_layer import Input, InputLayer
from ..layers.layer import Layer
from . import base_layer, topology

__all__ = ["Input", "InputLayer", "Layer", "base_layer", "topology"]
