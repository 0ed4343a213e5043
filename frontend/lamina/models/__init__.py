"""``lamina.models``: ``Sequential``, ``Model`` (functional or subclassed), saving and loading."""
from .functional import Functional
from .model import Model, NotCompiledError
from .sequential import Sequential
from ..saving.saving_api import load_model, model_from_json, save_model  # noqa: E402

__all__ = ["Functional", "Model", "NotCompiledError", "Sequential", "load_model", "model_from_json", "save_model"]
