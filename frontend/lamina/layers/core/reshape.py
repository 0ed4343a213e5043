"""``Reshape``: gives the non-batch axes a new shape."""
from __future__ import annotations

import math
from typing import Any

from ... import ops
from ..layer import Layer


class Reshape(Layer):
    """Reshapes the input (batch axis kept) to ``target_shape``; one entry may be -1.

    Input shape: ``(batch, ...)``. Output shape: ``(batch,) + target_shape``.

    Example:
        >>> model.add(Reshape((28, 28), input_shape=(784,)))
    """

    def __init__(self, target_shape: Any, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(target_shape, int):
            target_shape = (target_shape,)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(1 for s in self.target_shape if s == -1) > 1:
            raise ValueError(f"Reshape target_shape may contain -1 at most once, got {self.target_shape}.")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            if None not in rest and math.prod(rest) != math.prod(self.target_shape):
                raise ValueError(f"Layer {self.name!r} (Reshape) cannot reshape inputs of shape {tuple(input_shape)} "
                                 f"to {self.target_shape}: the sizes differ ({math.prod(rest)} vs "
                                 f"{math.prod(self.target_shape)}).")
            return (input_shape[0],) + self.target_shape
        if None in rest:
            return (input_shape[0],) + tuple(None if s == -1 else s for s in self.target_shape)
        known = math.prod(s for s in self.target_shape if s != -1)
        total = math.prod(rest)
        if known == 0 or total % known:
            raise ValueError(f"Layer {self.name!r} (Reshape) cannot reshape inputs of shape {tuple(input_shape)} "
                             f"to {self.target_shape}.")
        return (input_shape[0],) + tuple(total // known if s == -1 else s for s in self.target_shape)

    def call(self, inputs: Any) -> ops.Tensor:
        out = self.compute_output_shape(inputs.shape)
        return ops.reshape(inputs, (inputs.shape[0],) + out[1:])

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
