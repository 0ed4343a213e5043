"""``lamina.models``: ``Sequential`` and ``Model``."""
from .model import Model, NotCompiledError
from .sequential import Sequential

__all__ = ["Model", "NotCompiledError", "Sequential"]
