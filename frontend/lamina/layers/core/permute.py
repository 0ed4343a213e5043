"""``Permute``: reorders the non-batch axes."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class Permute(Layer):
    """Permutes the axes of the input (the batch axis stays first).

    Args:
        dims: a permutation of ``1..rank-1`` (1-indexed, the batch axis excluded), e.g.
            ``(2, 1)`` swaps the first and second non-batch axes.

    Input shape: ``(batch, d1, ..., dk)``. Output shape: ``(batch, d_dims[0], ..., d_dims[k-1])``.

    Example:
        >>> model.add(Permute((2, 1), input_shape=(10, 64)))   # (None, 10, 64) -> (None, 64, 10)
    """

    def __init__(self, dims: Any, **kwargs: Any):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(dims)} (the batch axis is not "
                             f"counted), got {dims}.")
        self.dims = dims

    def _check(self, input_shape: Any) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Layer {self.name!r} (Permute) with dims {self.dims} expects inputs of rank "
                             f"{len(self.dims) + 1} (batch plus {len(self.dims)} axes), got shape "
                             f"{tuple(input_shape)}.")

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs: Any) -> ops.Tensor:
        self._check(inputs.shape)
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self) -> dict:
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config
