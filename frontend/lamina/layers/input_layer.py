"""``InputLayer`` and ``Input``: where a model's data enters."""
from __future__ import annotations

from typing import Any

from .layer import Layer
from .symbolic import KerasTensor, Node


class InputLayer(Layer):
    """Declares a model input of a given shape.

    Args:
        input_shape: shape of one sample, without the batch axis (an int means ``(n,)``).
        batch_size: optional fixed batch size.
        dtype: dtype of the input (default ``floatx``).

    Example:
        >>> model.add(InputLayer(input_shape=(784,)))
    """

    def __init__(self, input_shape: Any = None, batch_size: int | None = None, **kwargs: Any):
        if "shape" in kwargs:
            input_shape = kwargs.pop("shape")
        if "batch_shape" in kwargs:
            batch_shape = kwargs.pop("batch_shape")
            input_shape, batch_size = batch_shape[1:], batch_shape[0]
        super().__init__(input_shape=input_shape, batch_size=batch_size, **kwargs)
        if self.batch_input_shape is None:
            raise ValueError("InputLayer needs input_shape (the shape of one sample, without the batch axis).")
        self.built = True
        Node(self, [], [KerasTensor(self.batch_input_shape, self.dtype, name=self.name)], {})  # self.output

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(self.batch_input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("trainable", None)
        return config


def Input(shape: Any = None, batch_size: int | None = None, name: str | None = None, dtype: str | None = None,
          **kwargs: Any) -> KerasTensor:
    """A symbolic input tensor for a functional model: ``Input(shape=(784,))``.

    Args:
        shape: shape of one sample, without the batch axis.
        batch_size: optional fixed batch size. name: the input's name. dtype: default ``floatx``.

    Returns:
        A ``KerasTensor`` to call layers on; ``Model(inputs, outputs)`` ties the graph together.
    """
    if "batch_shape" in kwargs:
        batch_shape = kwargs.pop("batch_shape")
        shape, batch_size = batch_shape[1:], batch_shape[0]
    if kwargs:
        raise TypeError(f"Input got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    if shape is None:
        raise ValueError("Input needs shape=(...), the shape of one sample without the batch axis.")
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    return layer.output
