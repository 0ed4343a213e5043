"""Keras 2 module path ``keras.layers.noise``."""
from .regularization import AlphaDropout, GaussianDropout, GaussianNoise  # noqa: F401

__all__ = ["AlphaDropout", "GaussianDropout", "GaussianNoise"]
