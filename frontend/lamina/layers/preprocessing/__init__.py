"""Preprocessing layers that run inside the model (``Rescaling``)."""
from .rescaling import Rescaling

__all__ = ["Rescaling"]
