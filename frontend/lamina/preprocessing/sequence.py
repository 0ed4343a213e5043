"""Keras 2's ``keras.preprocessing.sequence`` (``pad_sequences``)."""
from ..utils.padding import pad_sequences

__all__ = ["pad_sequences"]
