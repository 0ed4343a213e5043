"""``Flatten``: (batch, d1, d2, …) → (batch, d1·d2·…)."""
from __future__ import annotations

import math
from typing import Any

from ... import _config, ops
from ..layer import Layer


class Flatten(Layer):
    """Flattens every axis but the batch axis.

    Args:
        data_format: ``"channels_last"`` (default from the config) or ``"channels_first"``; with
            channels_first the input is moved to channels_last first, so that the flattened order
            (and the weights of a following Dense layer) match between the two formats, as in Keras.

    Input shape: ``(batch, ...)``. Output shape: ``(batch, product of the other axes)``.

    Example:
        >>> model.add(Flatten())
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format or _config.image_data_format()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"Flatten data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")

    def call(self, inputs: Any) -> ops.Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        return (input_shape[0], None if any(s is None for s in rest) else math.prod(rest))

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
