"""``ActivityRegularization``: the identity, plus an L1/L2 penalty on its output."""
from __future__ import annotations

from typing import Any

from ... import regularizers
from ..layer import Layer


class ActivityRegularization(Layer):
    """Passes its input through and adds ``l1 * sum(|x|) + l2 * sum(x²)`` (divided by the batch
    size, as Keras does) to the model's losses.

    Args:
        l1: L1 factor (default 0).
        l2: L2 factor (default 0).

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(ActivityRegularization(l1=1e-5))
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"ActivityRegularization factors must be >= 0, got l1={l1!r}, l2={l2!r}.")
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"l1": self.l1, "l2": self.l2})
        return config
