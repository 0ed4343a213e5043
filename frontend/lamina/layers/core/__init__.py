"""Core layers (Keras 2 module path ``keras.layers.core``)."""
from .activation import Activation
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .reshape import Reshape

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Reshape"]
