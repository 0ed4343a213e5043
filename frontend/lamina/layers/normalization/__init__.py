"""Normalisation layers (also the Keras 2 module path ``keras.layers.normalization``)."""
from .batch_normalization import BatchNormalization
from .layer_normalization import LayerNormalization

__all__ = ["BatchNormalization", "LayerNormalization"]
