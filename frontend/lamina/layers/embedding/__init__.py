"""Embedding layers (Keras 2 module path ``keras.layers.embeddings``)."""
from .embedding import Embedding

__all__ = ["Embedding"]
