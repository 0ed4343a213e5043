"""``lamina.models``: ``Sequential``, ``Model`` (functional or subclassed)."""
from .functional import Functional
from .model import Model, NotCompiledError
from .sequential import Sequential

__all__ = ["Functional", "Model", "NotCompiledError", "Sequential"]
