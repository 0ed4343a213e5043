"""``Subtract``: the difference of exactly two tensors."""
from __future__ import annotations

from ... import ops
from .base_merge import _Merge


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs, Keras broadcasting).

    Example:
        >>> diff = Subtract()([x1, x2])
    """

    min_inputs = 2
    max_inputs = 2

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        return ops.subtract(inputs[0], inputs[1])
