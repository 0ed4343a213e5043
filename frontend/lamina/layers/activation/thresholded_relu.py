"""``ThresholdedReLU``: passes values above a threshold, zeroes the rest."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class ThresholdedReLU(Layer):
    """``x`` for ``x > theta``, 0 otherwise (Keras 2's layer).

    Args:
        theta: the threshold, >= 0 (default 1.0).

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(ThresholdedReLU(theta=0.5))
    """

    def __init__(self, theta: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or theta < 0:
            raise ValueError(f"ThresholdedReLU theta must be a number >= 0, got {theta!r}.")
        self.theta = float(theta)
        self.supports_masking = True

    def call(self, inputs: Any) -> ops.Tensor:
        return ops.where(ops.greater(inputs, self.theta), inputs, 0.0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["theta"] = self.theta
        return config
