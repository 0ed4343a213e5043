"""``Maximum``: the element-wise maximum of a list of tensors."""
from __future__ import annotations

from ... import ops
from .base_merge import _Merge


class Maximum(_Merge):
    """The element-wise maximum of a list of tensors (Keras broadcasting; on ties the gradient
    goes to the earlier input).

    Example:
        >>> top = Maximum()([x1, x2])
    """

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.maximum(out, x)
        return out
