"""``Activation``: applies an activation function element-wise."""
from __future__ import annotations

from typing import Any

from ... import activations, ops
from ..layer import Layer


class Activation(Layer):
    """Applies ``activation`` to its input.

    Args:
        activation: a name (``"relu"``, ``"softmax"``, …) or a callable.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(Activation("tanh"))
    """

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs: Any) -> ops.Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config
