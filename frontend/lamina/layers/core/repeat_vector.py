"""``RepeatVector``: repeats a vector ``n`` times along a new time axis."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class RepeatVector(Layer):
    """Repeats each sample's feature vector ``n`` times.

    Args:
        n: number of repetitions.

    Input shape: ``(batch, features)``. Output shape: ``(batch, n, features)``.

    Example:
        >>> model.add(RepeatVector(3))   # (None, 32) -> (None, 3, 32)
    """

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector needs a positive integer n, got {n!r}.")
        self.n = n

    def _check(self, input_shape: Any) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"Layer {self.name!r} (RepeatVector) expects inputs of shape (batch, features), "
                             f"got {tuple(input_shape)}; add a Flatten layer before it.")

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        self._check(input_shape)
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs: Any) -> ops.Tensor:
        self._check(inputs.shape)
        batch, features = inputs.shape
        return ops.broadcast_to(ops.expand_dims(inputs, 1), (batch, self.n, features))

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config
