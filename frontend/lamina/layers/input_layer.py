"""``InputLayer`` (the explicit first layer of a ``Sequential``) and ``Input``."""
from __future__ import annotations

from typing import Any

from ..layers.layer import Layer


class InputLayer(Layer):
    """Declares the input shape of a model.

    Args:
        input_shape: shape without the batch axis (an int means ``(n,)``).
        batch_size: optional fixed batch size.

    Example:
        >>> model.add(InputLayer(input_shape=(784,)))
    """

    def __init__(self, input_shape: Any = None, batch_size: int | None = None, **kwargs: Any):
        if "shape" in kwargs:
            input_shape = kwargs.pop("shape")
        super().__init__(input_shape=input_shape, batch_size=batch_size, **kwargs)
        if self.batch_input_shape is None:
            raise ValueError("InputLayer needs input_shape (the shape of one sample, without the batch axis).")
        self.built = True


def Input(shape: Any = None, batch_size: int | None = None, name: str | None = None, dtype: str | None = None,
          **kwargs: Any) -> InputLayer:
    """An ``InputLayer`` for ``Sequential`` models (functional graphs come with the Model API)."""
    shape = kwargs.pop("batch_shape", None)[1:] if "batch_shape" in kwargs else shape
    return InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype)
