"""Keras 2 module path ``keras.layers.merge``: the merge layers and their function forms."""
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, _Merge,  # noqa: F401
                      add, average, concatenate, dot, maximum, minimum, multiply, subtract)

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
           "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract"]
