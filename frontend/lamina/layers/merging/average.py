"""``Average``: the element-wise mean of a list of tensors."""
from __future__ import annotations

from ... import ops
from .base_merge import _Merge


class Average(_Merge):
    """The element-wise mean of a list of tensors (Keras broadcasting).

    Example:
        >>> mean = Average()([x1, x2, x3])
    """

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.add(out, x)
        return ops.divide(out, float(len(inputs)))
