"""``ELU``: the exponential linear unit as a layer."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class ELU(Layer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: scale of the negative part (default 1.0).

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(ELU(alpha=0.5))
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"ELU alpha must be a number, got {alpha!r}.")
        self.alpha = float(alpha)
        self.supports_masking = True

    def call(self, inputs: Any) -> ops.Tensor:
        return ops.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["alpha"] = self.alpha
        return config
