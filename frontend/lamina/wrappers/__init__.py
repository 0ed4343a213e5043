"""``lamina.wrappers``: adapters to other libraries (Keras 2's ``keras.wrappers``)."""
from . import scikit_learn  # noqa: F401

__all__ = ["scikit_learn"]
