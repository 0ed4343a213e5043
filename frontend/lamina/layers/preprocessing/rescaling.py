"""``Rescaling``: ``inputs * scale + offset`` (Keras 3's preprocessing layer, e.g. pixels to [0, 1])."""
from __future__ import annotations

import numbers
from typing import Any

from ... import ops
from ..layer import Layer


class Rescaling(Layer):
    """Multiplies the inputs by ``scale`` and adds ``offset``, in the layer's dtype (integer images
    become floats).

    Args:
        scale: the factor, a number (e.g. ``1 / 255``).
        offset: added after scaling, default 0.

    Input shape: any. Output shape: the input's.

    Example:
        >>> model.add(Rescaling(1.0 / 255, input_shape=(28, 28, 1)))   # uint8 pixels -> [0, 1]
    """

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"Rescaling {name} must be a number, got {value!r}.")
        self.scale, self.offset = float(scale), float(offset)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def call(self, inputs: Any) -> ops.Tensor:
        x = ops.cast(inputs, self.dtype)
        return ops.add(ops.multiply(x, self.scale), self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
