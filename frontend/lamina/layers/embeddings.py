"""Keras 2 module path ``keras.layers.embeddings``."""
from .embedding import Embedding  # noqa: F401

__all__ = ["Embedding"]
