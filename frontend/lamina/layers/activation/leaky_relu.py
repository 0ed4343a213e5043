"""``LeakyReLU``: a ReLU with a small slope for negative inputs."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: slope for negative inputs, >= 0 (default 0.3). Keras 2 called it ``alpha``;
            both spellings are accepted and both defaults are 0.3 (unlike the ``leaky_relu``
            activation function, whose default is 0.2).

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(LeakyReLU(alpha=0.1))
    """

    def __init__(self, negative_slope: float | None = None, **kwargs: Any):
        alpha = kwargs.pop("alpha", None)
        super().__init__(**kwargs)
        if negative_slope is not None and alpha is not None and float(negative_slope) != float(alpha):
            raise ValueError(f"LeakyReLU got negative_slope={negative_slope!r} and alpha={alpha!r}; they are two "
                             "names (Keras 3 and Keras 2) for the same argument, so give one.")
        slope = negative_slope if negative_slope is not None else alpha if alpha is not None else 0.3
        if isinstance(slope, bool) or not isinstance(slope, (int, float)) or slope < 0:
            raise ValueError(f"LeakyReLU negative_slope (alpha) must be a number >= 0, got {slope!r}.")
        self.negative_slope = float(slope)
        self.supports_masking = True

    @property
    def alpha(self) -> float:
        """Keras 2 name of ``negative_slope``."""
        return self.negative_slope

    def call(self, inputs: Any) -> ops.Tensor:
        return ops.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        config["alpha"] = self.negative_slope  # read by Keras 2 code; equal values are accepted back
        return config
