"""``Multiply``: the element-wise product of a list of tensors."""
from __future__ import annotations

from ... import ops
from .base_merge import _Merge


class Multiply(_Merge):
    """Multiplies a list of tensors element-wise (Keras broadcasting).

    Example:
        >>> gated = Multiply()([x, gate])
    """

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.multiply(out, x)
        return out
