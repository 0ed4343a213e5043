"""Keras 2 module path ``keras.layers.convolutional_recurrent``."""
from .recurrent import ConvLSTM2D  # noqa: F401

__all__ = ["ConvLSTM2D"]
