"""``ReLU``: the rectified linear unit with Keras' optional cap, slope and threshold."""
from __future__ import annotations

from typing import Any

from ... import activations, ops
from ..layer import Layer


class ReLU(Layer):
    """``min(x, max_value)`` for ``x >= threshold``, ``negative_slope * (x - threshold)`` otherwise.

    Args:
        max_value: upper cap (>= 0), default ``None`` (no cap).
        negative_slope: slope below the threshold (>= 0), default 0.
        threshold: where the linear part starts, default 0.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(ReLU(max_value=6.0))   # ReLU6
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if max_value is not None and (isinstance(max_value, bool) or max_value < 0):
            raise ValueError(f"ReLU max_value must be None or a number >= 0, got {max_value!r}.")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU negative_slope must be a number >= 0, got {negative_slope!r}.")
        if threshold is None:
            raise ValueError("ReLU threshold must be a number, got None.")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        self.supports_masking = True

    def call(self, inputs: Any) -> ops.Tensor:
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config
