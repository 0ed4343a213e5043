"""``lamina.models``: ``Sequential``, ``Model`` (functional or subclassed), saving and loading."""
from .functional import Functional
from .model import Model, NotCompiledError
from .sequential import Sequential
from ..saving.saving_api import load_model, model_from_json, save_model  # noqa: E402
from .cloning import clone_model  # noqa: E402
from .saving_methods import model_from_yaml  # noqa: E402

__all__ = ["Functional", "Model", "NotCompiledError", "Sequential", "clone_model", "load_model", "model_from_json",
           "model_from_yaml", "save_model"]
